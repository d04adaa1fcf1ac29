"""Bearer token for mutating calls (F-ORCH-3). The token comes from VENOM_API_TOKEN only.

No token configured → every mutating call is refused (401, saying so): an orchestrator started
without a secret is read-only rather than open.
"""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request
from pydantic import SecretStr


def token_check(token: SecretStr | None):  # noqa: ANN201 - a FastAPI dependency
    async def require_token(request: Request) -> None:
        if token is None or not token.get_secret_value():
            raise HTTPException(401, "mutating calls are disabled: no API token is configured (set VENOM_API_TOKEN)",
                                headers={"WWW-Authenticate": "Bearer"})
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                                  token.get_secret_value().encode()):
            raise HTTPException(401, "missing or wrong bearer token (Authorization: Bearer <VENOM_API_TOKEN>)",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_token
