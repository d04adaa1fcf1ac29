"""Pure domain of the orchestrator: no I/O, no asyncio (STYLE.md)."""
