"""The ledger's pure rules: entry hashing (chain), the Merkle tree (merkle) and signed tree heads
(checkpoint). No database, no network, no asyncio."""
