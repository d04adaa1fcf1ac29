"""The orchestrator's maths endpoints over REST and gRPC, and schemathesis against its OpenAPI."""

from __future__ import annotations

import asyncio
import math
import os
import re
import sys
from pathlib import Path

import grpc
import httpx
import pytest

from venom_common import maths
from venom_common.embedded import free_port
from venom_orchestrator.grpc_api import venom_pb2 as pb
from venom_orchestrator.grpc_api import venom_pb2_grpc as pb_grpc
from venom_orchestrator.harness import start_orchestrator
from venom_orchestrator.settings import OrchestratorSettings

pytestmark = pytest.mark.integration

TOKEN = "schema-token"


async def test_maths_over_rest_and_grpc(nats_url: str, unique: str) -> None:
    o = await start_orchestrator(OrchestratorSettings(nats_url=nats_url, node_id=f"orch{unique}", port=free_port(),
                                                      grpc_port=0, self_peer=False))
    try:
        async with httpx.AsyncClient(base_url=o.base_url, timeout=10) as http:
            r = await http.get("/time_wrap", params={"k": 4, "p": 8})
            assert r.status_code == 200
            assert r.json()["t_lambda_s"] == pytest.approx(maths.time_wrap(4, 8, math.e ** 4))
            r = await http.get("/fractal_total", params={"s": "inf", "theta": 0.9})
            assert r.json()["state"] == "Regen" and len(r.json()["flow"]) == 6
            r = await http.get("/mobius_time", params={"s": 0, "k": 2, "p": 2, "u": math.e})
            assert r.json()["time"] == pytest.approx(1.0)
            r = await http.get("/grav_mode", params={"s": -1, "theta": 0.1, "k": 4, "p": 8})
            assert r.json()["mode"] == "Frânare" and r.json()["value"] < 0
            for path, params, why in (("/time_wrap", {"k": 1, "p": 1}, "must not equal 1"),
                                      ("/time_wrap", {"k": "nan", "p": 2}, "finite"),
                                      ("/fractal_total", {"s": 7}, "state s must be"),
                                      ("/fractal_total", {"s": 1, "theta": 2}, "less than or equal to 1"),
                                      ("/mobius_time", {"s": -1, "k": 1e200, "p": 1e100}, "domain"),
                                      ("/time_wrap", {"k": "abc", "p": 2}, "")):
                r = await http.get(path, params=params)
                assert r.status_code == 422, (path, params, r.text)
                assert why in r.text
        async with grpc.aio.insecure_channel(f"127.0.0.1:{o.service.grpc_port}") as channel:
            stub = pb_grpc.VenomServiceStub(channel)
            tw = await stub.TimeWrap(pb.TimeWrapRequest(k=4, p=8))
            assert tw.t_lambda_s == pytest.approx(maths.time_wrap(4, 8, math.e ** 4))
            ft = await stub.FractalTotal(pb.FractalTotalRequest(s=math.inf, theta=0.1))
            assert ft.state == "Entropy" and list(ft.flow)[0] == "Reinvest_neg"
            mt = await stub.MobiusTime(pb.MobiusTimeRequest(s=1, k=4, p=8, theta=0.5))
            assert mt.time == pytest.approx(tw.t_lambda_s)
            gm = await stub.GravMode(pb.GravModeRequest(s=0, theta=0.5, k=4, p=8))
            assert gm.mode == "Stagnare" and gm.value == pytest.approx(4.0)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.TimeWrap(pb.TimeWrapRequest(k=1, p=1))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "must not equal 1" in err.value.details()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.FractalTotal(pb.FractalTotalRequest(s=5, theta=0.5))
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        await o.stop()


async def test_schemathesis_finds_no_server_error(nats_url: str, unique: str, tmp_path: Path) -> None:
    """Every operation of /openapi.json, with the token, bounded in examples: no 5xx, responses match the schema."""
    st = Path(sys.executable).with_name("schemathesis")
    if not st.exists():
        pytest.fail("schemathesis is not installed: pip install -e '.[dev]'")
    o = await start_orchestrator(OrchestratorSettings(nats_url=nats_url, node_id=f"orch{unique}", port=free_port(),
                                                      grpc_port=0, self_peer=False, api_token=TOKEN))
    try:
        proc = await asyncio.create_subprocess_exec(
            str(st), "run", f"{o.base_url}/openapi.json", "--max-examples", "25", "--checks",
            "not_a_server_error,status_code_conformance,response_schema_conformance",
            "-H", f"Authorization: Bearer {TOKEN}", "--exclude-path-regex", "^/(metrics|healthz|readyz)$",
            "--seed", "5", "--no-color", cwd=tmp_path, env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        out, _ = await asyncio.wait_for(proc.communicate(), 240)
        text = out.decode(errors="replace")
        assert proc.returncode == 0, text[-6000:]
        tested = re.search(r"Tested: (\d+)", text)
        assert tested is not None and int(tested.group(1)) >= 8, text[-3000:]  # tasks, peers, release, 4 maths
    finally:
        await o.stop()
