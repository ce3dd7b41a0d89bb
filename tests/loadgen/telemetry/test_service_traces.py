"""The loadgen service as a real process: with an OTLP endpoint it exports the agent-session
traces and sends their traceparent to the inference server; without one it sends none."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agentperf.loadgen import tracing
from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.v1 import loadgen_pb2, loadgen_pb2_grpc

pytestmark = pytest.mark.e2e


async def _run_level(llm: Any, peers: Any, tmp_path: Path, run_id: str, env: dict[str, str]) -> None:
    judge = peers.judge_target or await peers.start_judge()
    settings = {"target_url": llm.url, "trajectory_store": peers.target, "toolsim": peers.target}
    settings |= {"judge": judge, "model": "m", "metrics_port": -1}
    args = [arg for k, v in settings.items() for arg in ("--set", f"{k}={v}")]
    child = await start_child(
        f"loadgen-{run_id}", "agentperf.services.loadgen", args, log_dir=tmp_path, env=env
    )
    try:
        async with channel(child.grpc_target) as ch:
            request = loadgen_pb2.RunLevelRequest(run_id=run_id, level=2, dataset="ds", window_s=0.2)
            events = [e async for e in loadgen_pb2_grpc.LoadGeneratorStub(ch).RunLevel(request)]
        assert events[-1].kind == loadgen_pb2.LEVEL_EVENT_KIND_DONE
    finally:
        assert await child.stop() == 0  # flushes the batch span processor


async def test_service_exports_sessions_and_propagates_only_when_exporting(
    tmp_path: Path, otlp: Any, llm: Any, peers: Any, make_trajectory: Any
) -> None:
    llm.set(token_interval_s=0.002)
    peers.store.datasets["ds"] = [make_trajectory(f"t{i}", [[(3, 4, True), (2, 3, False)]]) for i in range(2)]

    await _run_level(llm, peers, tmp_path, "quiet", {})
    assert llm.requests and all("traceparent" not in r.headers for r in llm.requests)
    quiet = len(llm.requests)

    await _run_level(llm, peers, tmp_path, "traced", otlp.env())
    spans = [s for s in otlp.spans() if s.service == "agentperf-loadgen"]
    by_id = {s.span_id: s for s in spans}
    (run_level,) = [s for s in spans if s.name == "/agentperf.v1.LoadGenerator/RunLevel"]
    sessions = [s for s in spans if s.name == tracing.SESSION_SPAN]
    assert len(sessions) == 2
    for session in sessions:
        assert session.parent_id == 0 and session.trace_id != run_level.trace_id
        assert session.links == (run_level.span_id,), "a session links to the RunLevel call"
    chats = {(s.trace_id, s.span_id): s for s in spans if s.name == "chat m"}
    traced = llm.requests[quiet:]
    assert traced and len(chats) == len(traced)
    for received in traced:
        _, trace_id, span_id, _ = received.headers["traceparent"].split("-")
        chat = chats[(int(trace_id, 16), int(span_id, 16))]
        turn = by_id[chat.parent_id]
        assert turn.name == tracing.TURN_SPAN
        assert turn.attributes["agentperf.record_id"] == received.request_id
        assert by_id[turn.parent_id].name == tracing.SESSION_SPAN
    tools = [s for s in spans if s.name == tracing.TOOL_SPAN]
    assert tools
    clients = [s for s in spans if s.name == "/agentperf.v1.ToolSim/RunTool"]
    assert {by_id[c.parent_id].name for c in clients} == {tracing.TOOL_SPAN}
