"""The HTTP gate API on a real loopback port: verdict documents, rules, Flagger, run pages, errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from agentperf.runtime.server import in_process
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.servicer import JudgeService
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

SLO1 = common_pb2.SloTier(name="slo1", min_output_speed=30.0, max_ttft_s=10.0)
SLO2 = common_pb2.SloTier(name="slo2", min_output_speed=100.0, max_ttft_s=5.0)


def run_state(run_id: str, phase: int, slo1_agents: int, **kw: Any) -> judge_pb2.RunState:
    return judge_pb2.RunState(
        run_id=run_id,
        phase=phase,  # type: ignore[arg-type]
        tiers=[
            judge_pb2.TierAnswer(
                tier=SLO1,
                max_agents=slo1_agents,
                lowest_failing=slo1_agents * 2,
                converged=True,
                agents_per_gpu=slo1_agents / 8,
                p95_ttft_s=4.5,
                p25_output_speed=41.0,
            ),
            judge_pb2.TierAnswer(tier=SLO2, max_agents=0, lowest_failing=1, converged=True),
        ],
        gate=[judge_pb2.GateRule(tier="slo1", min_agents=16)],
        gpus=8,
        gpu_seconds=960.0,
        levels_measured=5,
        **kw,
    )


RUNS = [
    run_state("passing", judge_pb2.RUN_PHASE_FINISHED, 32),
    run_state("failing", judge_pb2.RUN_PHASE_FINISHED, 8),
    run_state("measuring", judge_pb2.RUN_PHASE_RUNNING, 8, current_level=16),
    run_state("stopped", judge_pb2.RUN_PHASE_INTERRUPTED, 8, message="interrupted by SIGTERM"),
]


@dataclass
class Api:
    base: str
    http: aiohttp.ClientSession
    stub: judge_pb2_grpc.JudgeStub

    async def get(self, path: str, params: Iterable[tuple[str, str]] = ()) -> tuple[int, Any]:
        async with self.http.get(self.base + path, params=list(params)) as resp:
            return resp.status, _strict_json(await resp.text())

    async def post(self, path: str, body: Any = None, data: str | None = None) -> tuple[int, Any]:
        payload = data if data is not None else json.dumps(body)
        headers = {"Content-Type": "application/json"}
        async with self.http.post(self.base + path, data=payload, headers=headers) as resp:
            return resp.status, _strict_json(await resp.text())


def _strict_json(text: str) -> Any:
    """Parse as JSON that Go (Argo, Flagger) accepts: no NaN or Infinity."""

    def refuse(constant: str) -> None:
        raise AssertionError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    service = JudgeService(JudgeConfig(db_path=":memory:", http_port=0, min_samples=10))
    async with in_process(service) as ch, aiohttp.ClientSession() as http:
        stub = judge_pb2_grpc.JudgeStub(ch)
        for state in RUNS:
            await stub.PutRun(state)
        yield Api(f"http://127.0.0.1:{service.http_port}", http, stub)


async def test_verdict_documents_for_pass_fail_pending_and_error(api: Api) -> None:
    expected = {
        "passing": ("finished", "pass", True),
        "failing": ("finished", "fail", False),
        "measuring": ("running", "pending", False),
        "stopped": ("interrupted", "error", False),
    }
    for run_id, (phase, status, passed) in expected.items():
        code, body = await api.get(f"/api/v1/runs/{run_id}/verdict")
        assert code == 200, body
        assert (body["phase"], body["status"], body["pass"]) == (phase, status, passed)
        assert body["schema"] == "agentperf.verdict/v1" and body["run_id"] == run_id
        assert body["rules"] == ["slo1: agents>=16"]
    code, body = await api.get("/api/v1/runs/passing/verdict")
    assert body["reasons"] == ["ok: slo1 max agents 32 >= 16"]
    assert body["tiers"]["slo1"] == {
        "max_agents": 32,
        "lowest_failing": 64,
        "converged": True,
        "inconclusive": False,
        "agents_per_gpu": 4.0,
        "agents_per_mw": None,
        "p95_ttft_s": 4.5,
        "p25_output_speed": 41.0,
        "min_output_speed": 30.0,
        "max_ttft_s": 10.0,
    }
    assert body["tiers"]["slo2"]["max_agents"] == 0 and body["tiers"]["slo2"]["p95_ttft_s"] is None
    assert (body["gpus"], body["gpu_seconds"], body["levels_measured"]) == (8, 960.0, 5)
    assert body["updated_unix_s"] > 0
    _, failing = await api.get("/api/v1/runs/failing/verdict")
    assert failing["reasons"] == ["FAIL: slo1 max agents 8 >= 16"]
    _, stopped = await api.get("/api/v1/runs/stopped/verdict")
    assert stopped["message"] == "interrupted by SIGTERM"


async def test_query_rules_replace_the_stored_ones(api: Api) -> None:
    cases = [
        ([("rule", "slo1:64")], "fail"),
        ([("rule", "slo1:agents=16,per_gpu=4")], "pass"),
        ([("rule", "slo1:16"), ("rule", "slo2:agents=8,per_gpu=1")], "fail"),
        ([("rule", "slo1:per_mw=100")], "fail"),  # agents/MW unknown: cannot pass
        ([("rule", "slo9:1")], "error"),
        ([("rule", "slo1")], "pass"),
    ]
    for params, status in cases:
        code, body = await api.get("/api/v1/runs/passing/verdict", params)
        assert (code, body["status"]) == (200, status), (params, body)
    _, body = await api.get("/api/v1/runs/passing/verdict", [("rule", "slo2:agents=8,per_gpu=1")])
    assert body["rules"] == ["slo2: agents>=8, agents/GPU>=1"]
    assert "FAIL: slo2 agents/GPU unknown >= 1" in body["reasons"]


async def test_bad_rules_unknown_runs_and_paths_are_json_errors(api: Api) -> None:
    code, body = await api.get("/api/v1/runs/passing/verdict", [("rule", "slo1:agents=many")])
    assert code == 400 and "'slo1:agents=many'" in body["error"] and "not a number" in body["error"]
    code, body = await api.get("/api/v1/runs/passing/verdict", [("rule", "slo1:speed=3")])
    assert code == 400 and "unknown bound 'speed'" in body["error"]
    code, body = await api.get("/api/v1/runs/nobody/verdict")
    assert code == 404 and "'nobody'" in body["error"]
    code, body = await api.get("/api/v1/nothing/here")
    assert code == 404 and body["error"]
    code, body = await api.post("/api/v1/runs/passing/verdict", {})
    assert code == 405 and body["error"]
    code, body = await api.get("/healthz")
    assert (code, body) == (200, {"status": "ok"})


async def test_flagger_webhook(api: Api) -> None:
    def payload(**metadata: Any) -> dict[str, Any]:
        return {"name": "podinfo", "namespace": "test", "phase": "Progressing", "metadata": metadata}

    code, body = await api.post("/api/v1/flagger/gate", payload(run_id="passing"))
    assert (code, body["status"]) == (200, "pass")
    assert body["canary"] == {"name": "podinfo", "namespace": "test", "phase": "Progressing"}
    for run_id, status in [("failing", "fail"), ("measuring", "pending"), ("stopped", "error")]:
        code, body = await api.post("/api/v1/flagger/gate", payload(run_id=run_id))
        assert (code, body["status"]) == (412, status)
        assert body["error"].startswith(f"gate {status}: ")
    code, body = await api.post("/api/v1/flagger/gate", payload(run_id="passing", rules="slo1:16; slo2:8"))
    assert (code, body["status"]) == (412, "fail") and "FAIL: slo2 max agents 0 >= 8" in body["error"]
    code, body = await api.post("/api/v1/flagger/gate", payload(run_id="failing", rules="slo1:4;"))
    assert (code, body["rules"]) == (200, ["slo1: agents>=4"])

    bad: list[tuple[Any, str]] = [
        ({"name": "podinfo"}, "field 'metadata'"),
        (payload(), "field 'metadata.run_id'"),
        (payload(run_id=7), "field 'metadata.run_id'"),
        (payload(run_id="passing", rules="slo1:x"), "'slo1:x'"),
        ([1, 2], "must be a JSON object"),
    ]
    for body_in, needle in bad:
        code, body = await api.post("/api/v1/flagger/gate", body_in)
        assert code == 400 and needle in body["error"], (body_in, body)
    code, body = await api.post("/api/v1/flagger/gate", data="{not json")
    assert code == 400 and "not JSON" in body["error"]
    code, body = await api.post("/api/v1/flagger/gate", payload(run_id="nobody"))
    assert code == 404


async def test_run_list_and_run_page_with_stored_verdicts(api: Api) -> None:
    code, body = await api.get("/api/v1/runs")
    assert code == 200
    listed = {r["run_id"]: r for r in body["runs"]}
    assert set(listed) == {"passing", "failing", "measuring", "stopped"}
    assert listed["measuring"]["phase"] == "running" and listed["measuring"]["current_level"] == 16
    assert [r["updated_unix_s"] for r in body["runs"]] == sorted(
        (r["updated_unix_s"] for r in body["runs"]), reverse=True
    )

    records = [
        common_pb2.RequestRecord(
            record_id=f"p/{i}",
            run_id="passing",
            level=level,
            status=common_pb2.REQUEST_STATUS_OK,
            in_window=True,
            has_first_token=True,
            ttft_s=0.5,
            first_to_last_s=1.0,
            output_tokens=51,
            first_chunk_tokens=1,
        )
        for level in (4, 8)
        for i in range(level * 100, level * 100 + 30)
    ]

    async def stream() -> AsyncIterator[common_pb2.RequestRecord]:
        for r in records:
            yield r

    await api.stub.IngestRecords(stream())
    for level in (8, 4):
        await api.stub.Evaluate(judge_pb2.EvaluateRequest(run_id="passing", level=level))
    preview = judge_pb2.EvaluateRequest(run_id="passing", level=16, preview=True)
    await api.stub.Evaluate(preview)

    code, body = await api.get("/api/v1/runs/passing")
    assert code == 200
    assert (body["run_id"], body["phase"]) == ("passing", "finished")
    assert body["state"]["phase"] == "RUN_PHASE_FINISHED" and body["state"]["tiers"][0]["max_agents"] == 32
    assert [(v["level"], v["records_total"]) for v in body["levels"]] == [(4, 30), (8, 30)]
    assert body["levels"][0]["tiers"][0]["tier"]["name"] == "slo1"
    code, body = await api.get("/api/v1/runs/nobody")
    assert code == 404 and "'nobody'" in body["error"]
