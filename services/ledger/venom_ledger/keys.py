"""Where the checkpoint signing key comes from (F-LEDGER-6).

In order: ``VENOM_LEDGER_SIGNING_KEY`` (hex or base64 raw 32-byte Ed25519 private key), then the
file ``VENOM_LEDGER_SIGNING_KEY_FILE``, then ``<state dir>/ledger-signing.key``; when none
exists, a new key is generated into that last file (mode 0600) and a clear message is logged.
"""

from __future__ import annotations

import logging
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from venom_ledger.domain.checkpoint import key_id_of, parse_private_key, private_key_hex, public_key_raw
from venom_ledger.settings import LedgerSettings

log = logging.getLogger("venom.ledger.keys")

GENERATED_KEY_NAME = "ledger-signing.key"


def load_signing_key(settings: LedgerSettings) -> Ed25519PrivateKey:
    if settings.ledger_signing_key is not None:
        return parse_private_key(settings.ledger_signing_key.get_secret_value())
    if settings.ledger_signing_key_file is not None:
        path = settings.ledger_signing_key_file.expanduser()
        if not path.exists():
            raise FileNotFoundError(f"VENOM_LEDGER_SIGNING_KEY_FILE={path} does not exist")
        return parse_private_key(path.read_text())
    path = settings.ledger_state_dir.expanduser() / GENERATED_KEY_NAME
    if path.exists():
        return parse_private_key(path.read_text())
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(private_key_hex(key) + "\n")
    public = public_key_raw(key)
    log.warning(
        "no ledger signing key configured: generated a new Ed25519 key in %s (mode 0600). Back it up; "
        "checkpoints are verified with its public key %s (key id %s). Set VENOM_LEDGER_SIGNING_KEY or "
        "VENOM_LEDGER_SIGNING_KEY_FILE to use your own.", path, public.hex(), key_id_of(public),
    )
    return key

