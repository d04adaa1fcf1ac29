"""Versioned entropy-model weights on disk (F-ML-2).

A version is one JSON file ``v<N>.json`` in the model directory::

    {"version": "v3", "weight": 0.41, "bias": -2.7, "auc": 0.83, "trained_on": "...", "format": 1}

JSON rather than a pickle: two numbers and their provenance, readable, and
loading it can never execute code. Writes are atomic (temporary file, fsync,
rename), so a reader sees a whole version or none. The newest version is the
highest N; a file that does not parse is skipped with a warning, never served.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from dataclasses import asdict
from pathlib import Path

from venom_common.canonical import canonical_dumps, strict_loads

from venom_organs.domain.entropy_model import ModelParams

log = logging.getLogger("venom.organs.models")
_NAME = re.compile(r"^v(\d+)\.json$")


class ModelStore:
    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def versions(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := _NAME.match(p.name)))

    def load(self, number: int) -> ModelParams:
        path = self.directory / f"v{number}.json"
        obj = strict_loads(path.read_bytes())
        if not isinstance(obj, dict) or obj.get("format") != 1:
            raise ValueError(f"{path}: not a VENOM entropy model file (format 1)")
        return ModelParams(
            version=str(obj["version"]),
            weight=float(obj["weight"]),
            bias=float(obj["bias"]),
            auc=None if obj.get("auc") is None else float(obj["auc"]),
            trained_on=obj.get("trained_on"),
        )

    def latest(self) -> ModelParams | None:
        """The newest loadable version, or None when there is none."""
        for number in reversed(self.versions()):
            try:
                return self.load(number)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("skipping unreadable model v%d: %s", number, exc)
        return None

    def save(self, weight: float, bias: float, *, auc: float | None = None, trained_on: str | None = None) -> ModelParams:
        """Write the next version atomically and return it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        number = (self.versions() or [0])[-1] + 1
        params = ModelParams(version=f"v{number}", weight=weight, bias=bias, auc=auc, trained_on=trained_on)
        body = canonical_dumps({**asdict(params), "format": 1})
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.directory / f"v{number}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return params
