"""Pure mesh logic: no I/O, no asyncio."""
