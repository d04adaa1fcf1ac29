"""The seed's venom_api endpoints (F-ORCH-3 → F-MATH-1..4). Inputs outside a formula's domain → 422."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from venom_common import maths

T = TypeVar("T")

K = Annotated[float, Query(description="parallel flows k")]
P = Annotated[float, Query(description="nodes P")]
U = Annotated[float, Query(description="U (ln U = 4 for U = e⁴)")]
T1 = Annotated[float, Query(description="base time T1, seconds")]
S = Annotated[float, Query(description="state: 1 Regen, 0 Neutral, -1 Entropy, inf → from θ")]
THETA = Annotated[float, Query(ge=0.0, le=1.0, description="θ in [0, 1]")]


class TimeWrapOut(BaseModel):
    t_lambda_s: float


class FractalOut(BaseModel):
    state: str
    flow: list[str]


class MobiusOut(BaseModel):
    time: float


class GravOut(BaseModel):
    mode: str
    value: float


def _compute(fn: Callable[[], T]) -> T:
    try:
        return fn()
    except (maths.MathDomainError, OverflowError, ZeroDivisionError, ValueError) as exc:
        raise HTTPException(422, f"outside the formula's domain: {exc}") from None


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise HTTPException(422, f"the result is not a finite number ({value}); use smaller inputs")
    return value


def router() -> APIRouter:
    r = APIRouter(tags=["maths"])
    bad = {422: {"description": "input outside the formula's domain"}}

    @r.get("/time_wrap", response_model=TimeWrapOut, responses=bad)
    async def time_wrap(k: K, p: P, u: U = math.e ** 4, t1: T1 = 0.001) -> TimeWrapOut:
        """F-MATH-1: T_Λ = T1·ln(U) / (1 − 1/(kP))."""
        return TimeWrapOut(t_lambda_s=_finite(_compute(lambda: maths.time_wrap(k, p, u, t1))))

    @r.get("/fractal_total", response_model=FractalOut, responses=bad)
    async def fractal_total(s: S, theta: THETA = 0.5) -> FractalOut:
        """F-MATH-2: the state and its six-step flow."""
        name, flow = _compute(lambda: maths.fractal_total(s, theta))
        return FractalOut(state=name, flow=flow)

    @r.get("/mobius_time", response_model=MobiusOut, responses=bad)
    async def mobius_time(s: S, k: K, p: P, u: U = math.e ** 4, theta: THETA = 0.5, t1: T1 = 0.001) -> MobiusOut:
        """F-MATH-3: time scaling per state."""
        return MobiusOut(time=_finite(_compute(lambda: maths.mobius_time(s, k, p, u, theta, t1))))

    @r.get("/grav_mode", response_model=GravOut, responses=bad)
    async def grav_mode(s: S, theta: THETA, k: K, p: P, u: U = math.e ** 4, t1: T1 = 0.001) -> GravOut:
        """F-MATH-4: Accelerare / Stagnare / Frânare."""
        mode, value = _compute(lambda: maths.grav_mode(s, theta, k, p, u, t1))
        return GravOut(mode=mode, value=_finite(value))

    return r
