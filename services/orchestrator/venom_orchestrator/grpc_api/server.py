"""gRPC VenomService (F-ORCH-4): TimeWrap, FractalTotal, MobiusTime, GravMode over venom_common.maths.

proto3 doubles have no "unset": ``u = 0`` and ``t1 = 0`` mean the defaults (e⁴, 0.001 s), since
both are outside the formulas' domain anyway. Bad input → ``INVALID_ARGUMENT`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import grpc

from venom_common import maths
from venom_orchestrator.grpc_api import venom_pb2 as pb
from venom_orchestrator.grpc_api import venom_pb2_grpc as pb_grpc

T = TypeVar("T")
DEFAULT_U = math.e ** 4
DEFAULT_T1 = 0.001


def _u(value: float) -> float:
    return DEFAULT_U if value == 0 else value


def _t1(value: float) -> float:
    return DEFAULT_T1 if value == 0 else value


async def _compute(context: grpc.aio.ServicerContext, fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (maths.MathDomainError, OverflowError, ZeroDivisionError, ValueError) as exc:
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"outside the formula's domain: {exc}")
        raise  # abort raises; this keeps type checkers honest


async def _finite(context: grpc.aio.ServicerContext, value: float) -> float:
    if not math.isfinite(value):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"the result is not a finite number ({value})")
    return value


class VenomServicer(pb_grpc.VenomServiceServicer):
    async def TimeWrap(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        r = request
        value = await _compute(context, lambda: maths.time_wrap(r.k, r.p, _u(r.u), _t1(r.t1)))
        return pb.TimeWrapReply(t_lambda_s=await _finite(context, value))

    async def FractalTotal(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        r = request
        name, flow = await _compute(context, lambda: maths.fractal_total(r.s, r.theta))
        return pb.FractalTotalReply(state=name, flow=flow)

    async def MobiusTime(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        r = request
        value = await _compute(context, lambda: maths.mobius_time(r.s, r.k, r.p, _u(r.u), r.theta, _t1(r.t1)))
        return pb.MobiusTimeReply(time=await _finite(context, value))

    async def GravMode(self, request: Any, context: grpc.aio.ServicerContext) -> Any:  # noqa: N802
        r = request
        mode, value = await _compute(context, lambda: maths.grav_mode(r.s, r.theta, r.k, r.p, _u(r.u), _t1(r.t1)))
        return pb.GravModeReply(mode=mode, value=await _finite(context, value))


async def start_grpc(host: str, port: int) -> tuple[grpc.aio.Server, int]:
    """Start the server on host:port (0: a free port); return it and the bound port."""
    server = grpc.aio.server()
    pb_grpc.add_VenomServiceServicer_to_server(VenomServicer(), server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"gRPC could not bind {host}:{port}")
    await server.start()
    return server, bound
