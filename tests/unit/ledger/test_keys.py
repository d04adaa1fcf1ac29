"""Where the signing key comes from: environment, file, or generated once with mode 0600."""

from __future__ import annotations

import base64
import logging
import os
import stat

import pytest

from venom_ledger.domain.checkpoint import BadSigningKey, private_key_hex
from venom_ledger.keys import GENERATED_KEY_NAME, load_signing_key
from venom_ledger.settings import LedgerSettings


def test_key_from_environment_hex_and_base64(tmp_path):
    raw = os.urandom(32)
    for text in (raw.hex(), base64.b64encode(raw).decode()):
        key = load_signing_key(LedgerSettings(ledger_signing_key=text, ledger_state_dir=tmp_path))
        assert private_key_hex(key) == raw.hex()
    assert not (tmp_path / GENERATED_KEY_NAME).exists()


def test_key_from_file(tmp_path):
    raw = os.urandom(32)
    path = tmp_path / "k"
    path.write_text(raw.hex() + "\n")
    key = load_signing_key(LedgerSettings(ledger_signing_key_file=path, ledger_state_dir=tmp_path))
    assert private_key_hex(key) == raw.hex()
    with pytest.raises(FileNotFoundError):
        load_signing_key(LedgerSettings(ledger_signing_key_file=tmp_path / "nope", ledger_state_dir=tmp_path))


def test_bad_key_is_refused(tmp_path):
    with pytest.raises(BadSigningKey):
        load_signing_key(LedgerSettings(ledger_signing_key="short", ledger_state_dir=tmp_path))


def test_generated_once_with_0600_and_a_clear_message(tmp_path, caplog):
    settings = LedgerSettings(ledger_state_dir=tmp_path / "state")
    with caplog.at_level(logging.WARNING, logger="venom.ledger.keys"):
        first = load_signing_key(settings)
    path = tmp_path / "state" / GENERATED_KEY_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "generated a new Ed25519 key" in caplog.text and str(path) in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="venom.ledger.keys"):
        again = load_signing_key(settings)
    assert private_key_hex(again) == private_key_hex(first)
    assert "generated" not in caplog.text


def test_settings_defaults():
    s = LedgerSettings()
    assert s.port == 9103 and s.ledger_chain == "main" and s.bind_host == "127.0.0.1"
