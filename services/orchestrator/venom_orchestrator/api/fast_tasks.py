"""``POST /tasks`` without FastAPI's per-request work, for well-formed requests (F-ORCH-2, F-ORCH-3).

Why: measured under ``venom bench dispatch`` (docs/BENCHMARKS.md "Dispatch"), FastAPI's layers —
its middleware stack, OpenTelemetry operation spans, dependency resolution, response-model
serialisation — took most of the orchestrator's CPU per task, well over a millisecond on this
machine, while the dispatch itself (choose a peer, NATS request, record the result) took a fraction.

What: an ASGI handler in front of the FastAPI app (:meth:`ServiceContext.put_in_front`). It answers
a request itself only when every part is in the plain, valid form — ``POST /tasks`` with no query or
``wait=true|false``, ``Content-Type: application/json``, a body of at most :data:`MAX_BODY` bytes, the
right bearer token, and a body that :class:`TaskRequest` accepts (parsed with ``json.loads`` and
validated in Python mode, as FastAPI does). Then it does what the FastAPI route does — ``submit``,
wait if asked, answer 202 (200 when waited) with the :class:`TaskRecord` as JSON — and the answer is
the same. Anything else (a wrong or missing token, an invalid body, other query parameters, any
other route) goes to the FastAPI app unchanged, body included, so errors, their 401/422 bodies and
the OpenAPI schema (the FastAPI route stays declared) are FastAPI's.

One write per answer: through ASGI an answer is two messages, and uvicorn writes each to the socket
at once — two TCP segments, and often two wake-ups of the client, for a few hundred bytes. When the
``send`` callable is uvicorn's httptools ``RequestResponseCycle.send`` (the runner's server) and
nothing about the answer is special (no access log, no back-pressure, connection open), the fast
path writes status line, uvicorn's default headers (``date``, ``server``), its own headers and the
body in one ``transport.write`` and completes the cycle as uvicorn's ``send`` does
(:func:`_answer_in_one_write`). Any other server, or a uvicorn whose cycle lacks what this relies
on, gets the two ASGI messages (counted apart in ``venom_orchestrator_fast_path_total{writes}``).
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter
from pydantic import ValidationError

from venom_common.runner import ASGIApp
from venom_orchestrator.api.tasks import TaskRequest

if TYPE_CHECKING:
    from venom_orchestrator.service import OrchestratorService

#: Larger bodies go through FastAPI (and its body limit).
MAX_BODY = 64 * 1024
_WAIT = {b"": False, b"wait=false": False, b"wait=true": True}
_JSON = b"application/json"
ANSWERED = Counter("venom_orchestrator_fast_path_total", "POST /tasks answered without FastAPI's per-request layers",
                   ["writes"])
_IN_ONE, _IN_TWO = ANSWERED.labels("1"), ANSWERED.labels("2")

try:  # the cycle whose send writes each ASGI message at once (uvicorn's httptools protocol)
    from uvicorn.protocols.http.httptools_impl import STATUS_LINE as _STATUS_LINE
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle as _Cycle
except ImportError:  # no httptools: uvicorn's h11 protocol, answered with two ASGI messages
    _Cycle = None  # type: ignore[assignment,misc]
    _STATUS_LINE = {}
#: What _answer_in_one_write reads and sets on the cycle; checked once, on the first answer.
_CYCLE_ATTRIBUTES = ("transport", "flow", "default_headers", "keep_alive", "access_log", "disconnected",
                     "response_started", "response_complete", "message_event", "on_response",
                     "waiting_for_100_continue")

Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


class FastTaskPath:
    def __init__(self, app: ASGIApp, service: OrchestratorService) -> None:
        self.app = app
        self.service = service
        token = service.settings.api_token
        secret = token.get_secret_value() if token is not None else ""
        self._token: bytes | None = secret.encode() if secret else None
        self._one_write: bool | None = None  # None: not yet known whether the server's cycle allows it

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/tasks" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        wait = _WAIT.get(scope.get("query_string", b""))
        if wait is None or not self._plain_headers(scope):
            await self.app(scope, receive, send)
            return
        body, complete, receive = await _read_body(receive)
        request = _parse(body) if complete else None
        if request is None:  # FastAPI answers with its 422 and the reason (or sees the disconnect)
            await self.app(scope, receive, send)
            return
        record, runner = self.service.submit(request.task_type, dict(request.payload), request.deadline_s,
                                             request.node)
        if wait:
            await asyncio.shield(runner)
        answer = record.model_dump_json().encode()
        status = 200 if wait else 202
        if self._one_write is not False and self._answer_in_one_write(send, status, answer):
            _IN_ONE.inc()
            return
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-length", str(len(answer)).encode()), (b"content-type", _JSON)]})
        await send({"type": "http.response.body", "body": answer})
        _IN_TWO.inc()

    def _answer_in_one_write(self, send: Send, status: int, body: bytes) -> bool:
        """The whole answer in one write on uvicorn's transport, completing the cycle as its ``send``
        would; False (nothing written) when ``send`` is not such a cycle's or the answer is not plain."""
        cycle: Any = getattr(send, "__self__", None)
        if _Cycle is None or type(cycle) is not _Cycle or status not in _STATUS_LINE:
            return False
        if self._one_write is None:  # this uvicorn's cycle has what we rely on
            self._one_write = all(hasattr(cycle, name) for name in _CYCLE_ATTRIBUTES)
            if not self._one_write:
                return False
        if (cycle.response_started or cycle.disconnected or cycle.access_log or cycle.flow.write_paused
                or cycle.transport.is_closing()):
            return False
        head = [_STATUS_LINE[status]]
        for name, value in cycle.default_headers:
            head += (name, b": ", value, b"\r\n")
        head += (b"content-length: ", str(len(body)).encode(), b"\r\ncontent-type: application/json\r\n")
        if not cycle.keep_alive:
            head.append(b"connection: close\r\n")
        head += (b"\r\n", body)
        cycle.response_started = True
        cycle.waiting_for_100_continue = False
        cycle.transport.write(b"".join(head))
        cycle.response_complete = True
        cycle.message_event.set()
        if not cycle.keep_alive:
            cycle.transport.close()
        cycle.on_response()
        return True

    def _plain_headers(self, scope: MutableMapping[str, Any]) -> bool:
        """JSON, not too large, and the right bearer token (compared in constant time)."""
        if self._token is None:
            return False
        authorised = json_body = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, given = value.partition(b" ")
                authorised = scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)
            elif name == b"content-type":
                json_body = value.split(b";", 1)[0].strip().lower() == _JSON
            elif name == b"content-length":
                if not value.isdigit() or int(value) > MAX_BODY:
                    return False
            elif name == b"transfer-encoding":
                return False  # chunked: let FastAPI read it under its own limit
        return authorised and json_body


async def _read_body(receive: Receive) -> tuple[bytes, bool, Receive]:
    """The body, whether it is whole (no disconnect), and a ``receive`` that replays what was read
    (then passes on) for the FastAPI app."""
    chunks: list[bytes] = []
    first: dict[str, Any] | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":  # disconnected: let the app see it
            first = message
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Any:
        nonlocal replayed
        if not replayed:
            replayed = True
            return first if first is not None else {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, first is None, replay


def _parse(body: bytes) -> TaskRequest | None:
    try:
        return TaskRequest.model_validate(json.loads(body))
    except (ValueError, ValidationError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None


def install(service: OrchestratorService) -> Callable[[ASGIApp], ASGIApp]:
    return lambda app: FastTaskPath(app, service)
