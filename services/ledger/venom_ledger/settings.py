"""Ledger settings (``VENOM_`` prefix; see docs/LEDGER.md)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from venom_common.settings import VenomSettings


class LedgerSettings(VenomSettings):
    port: int = Field(9103, ge=0, le=65535, description="HTTP port: health, metrics and the read API")
    ledger_chain: str = Field("main", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$",
                              description="name of the chain this ledger writes")
    ledger_batch: int = Field(500, ge=1, le=10_000, description="most events appended in one transaction")
    ledger_ack_wait_s: float = Field(30.0, gt=0, le=3600,
                                     description="JetStream ack wait: an unacknowledged event is redelivered after it")
    ledger_encode_workers: int = Field(
        1, ge=0, le=16, description="worker processes that validate and encode events before they are chained "
        "(0: in the service's process)")
    ledger_encode_inline_below: int = Field(
        64, ge=0, le=10_000, description="fetches of fewer events are encoded in the service's process even with "
        "workers (a worker round trip costs ~0.4 ms of CPU, more than encoding a few events)")
    ledger_proof_cache_entries: int = Field(
        2_000_000, ge=0, le=100_000_000, description="entries whose proof data (stored Merkle nodes and entry "
        "hashes) the read API keeps in memory, preloaded at start, so that their inclusion proofs read nothing "
        "from PostgreSQL (~60 MB per 1,000,000 entries; 0: only the top levels of the tree)")
    ledger_checkpoint_every: int = Field(1000, ge=1, description="sign a checkpoint every N new entries")
    ledger_checkpoint_interval_s: float = Field(60.0, gt=0,
                                                description="... or every T seconds when there are new entries")
    ledger_standby_poll_s: float = Field(1.0, gt=0, le=60,
                                         description="how often a standby instance tries to become the writer")
    ledger_signing_key: SecretStr | None = Field(
        None, description="Ed25519 private key, raw 32 bytes as hex or base64 (secret: environment only)")
    ledger_signing_key_file: Path | None = Field(None, description="file holding the signing key (hex or base64)")
    ledger_state_dir: Path = Field(Path.home() / ".venom",
                                   description="where a generated signing key is kept (ledger-signing.key, 0600)")
