"""Pure rules of the hardware agent: no I/O, no asyncio (STYLE.md "The shape of a service")."""
