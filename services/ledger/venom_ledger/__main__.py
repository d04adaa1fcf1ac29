"""``python -m venom_ledger`` runs the service; ``python -m venom_ledger migrate`` only migrates."""

from __future__ import annotations

import asyncio
import sys

from venom_common.runner import run_service
from venom_ledger.settings import LedgerSettings


def main(argv: list[str]) -> None:
    settings = LedgerSettings()
    if argv[1:2] == ["migrate"]:
        from venom_ledger.db import make_engine, migrate

        async def _migrate() -> None:
            engine = make_engine(settings.database_url)
            try:
                await migrate(engine)
            finally:
                await engine.dispose()

        asyncio.run(_migrate())
        print("ledger schema is at the latest revision")
        return
    from venom_ledger.service import LedgerService

    run_service(LedgerService, settings, "ledger")


if __name__ == "__main__":
    main(sys.argv)
