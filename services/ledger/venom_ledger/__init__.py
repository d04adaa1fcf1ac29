"""VENOM ledger: an append-only SHA3-256 hash chain in PostgreSQL with RFC 9162 Merkle proofs
and Ed25519-signed checkpoints (F-LEDGER-1..6). See docs/LEDGER.md for the exact formats."""
