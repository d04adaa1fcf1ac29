"""Pure rules of the arbiter (no I/O, no asyncio), one concept per module, side by side with SPEC.md."""
