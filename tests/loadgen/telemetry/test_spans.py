"""Agent-session traces: session > turn > chat / tool, attributes matching the records, and the
trace context reaching the simulator (HTTP traceparent) and toolsim (gRPC metadata) as real
processes that export their server spans over OTLP."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors
from opentelemetry.sdk.trace import TracerProvider

import agentperf.loadgen.agent as agent_module
from agentperf.loadgen import (
    ClientSettings,
    LevelRunner,
    LevelSpec,
    LocalTools,
    MemorySink,
    ToolSimTools,
    tracing,
)
from agentperf.loadgen.records import parse_record_id
from agentperf.runtime.procs import start_child
from agentperf.runtime.server import CHANNEL_OPTIONS
from agentperf.v1 import common_pb2

pytestmark = pytest.mark.e2e

SIM_MODEL = "agentperf-sim"


def _use_provider(monkeypatch: pytest.MonkeyPatch, provider: TracerProvider) -> None:
    """Agents take their tracer from ``provider`` instead of the (process-wide) global one."""
    monkeypatch.setattr(
        agent_module, "agent_tracing", functools.partial(tracing.agent_tracing, provider=provider)
    )


def _level(run_id: str, level: int = 2, window_s: float = 0.3) -> LevelSpec:
    return LevelSpec(run_id, level=level, window_s=window_s, warmup_timeout_s=20.0, progress_interval_s=0.1)


def _children(spans: list[Any], parent: Any, name: str) -> list[Any]:
    return [s for s in spans if s.parent_id == parent.span_id and s.name == name]


async def test_span_tree_reaches_simulator_and_toolsim(
    tmp_path: Path, otlp: Any, memory_spans: Any, make_trajectory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_provider(monkeypatch, memory_spans.provider)
    sim = await start_child("sim", "agentperf.sim", log_dir=tmp_path, env=otlp.env())
    toolsim_args = ["--set", "model=recorded", "--set", "metrics_port=-1"]
    toolsim = await start_child(
        "toolsim", "agentperf.services.toolsim", toolsim_args, log_dir=tmp_path, env=otlp.env()
    )
    # The toolsim channel as runtime.server.channel builds it, its client spans in memory.
    interceptors = aio_client_interceptors(tracer_provider=memory_spans.provider)  # type: ignore[no-untyped-call]
    ch = grpc.aio.insecure_channel(toolsim.grpc_target, options=CHANNEL_OPTIONS, interceptors=interceptors)
    sink = MemorySink()
    trajectories = [
        make_trajectory(f"t{i}", [[(6, 3, True), (4, 2, False)], [(5, 2, True)]]) for i in range(2)
    ]
    url = f"http://127.0.0.1:{sim.port('http_port')}"
    try:
        runner = LevelRunner(
            _level("tr1"), trajectories, ClientSettings(url, SIM_MODEL, "openai"), ToolSimTools(ch), sink
        )
        result = await runner.run(lambda event: None)
    finally:
        await ch.close()
        # Stopping flushes the children's batch span processors to the receiver.
        assert await sim.stop() == 0
        assert await toolsim.stop() == 0
    assert result.counters.ok >= 4 and result.counters.tool_errors == 0

    mine = memory_spans.spans()
    remote = otlp.spans()
    sessions = [s for s in mine if s.name == tracing.SESSION_SPAN]
    assert sorted(s.attributes["agentperf.agent"] for s in sessions) == [0, 1]
    for session in sessions:
        assert session.parent_id == 0, "a session is the root of its own trace"
        assert session.attributes["agentperf.run_id"] == "tr1"
        assert session.attributes["agentperf.level"] == 2
    assert len({s.trace_id for s in sessions}) == 2

    turns = {s.attributes["agentperf.record_id"]: s for s in mine if s.name == tracing.TURN_SPAN}
    records = {r.record_id: r for r in sink.records}
    assert set(records) <= set(turns), "every request has its turn span"
    session_of = {s.span_id: s for s in sessions}
    for record_id, record in records.items():
        turn = turns[record_id]
        key = parse_record_id(record_id)
        assert session_of[turn.parent_id].attributes["agentperf.agent"] == key.agent
        assert (turn.attributes["agentperf.trajectory.id"], turn.attributes["agentperf.phase"]) == (
            key.trajectory_id,
            key.phase,
        )
        assert turn.attributes["agentperf.turn"] == key.turn
        (chat,) = _children(mine, turn, f"chat {SIM_MODEL}")
        _check_chat(chat, record, sim.port("http_port"))
        # The simulator's server span is the chat span's child, in the same trace.
        (server,) = [s for s in remote if s.service == "agentperf-sim" and s.parent_id == chat.span_id]
        assert (server.trace_id, server.kind, server.name) == (chat.trace_id, "SERVER", f"chat {SIM_MODEL}")
        if record.status == common_pb2.REQUEST_STATUS_OK:
            assert server.attributes["gen_ai.usage.input_tokens"] == record.prompt_tokens

    tools = [s for s in mine if s.name == tracing.TOOL_SPAN]
    finished = 0
    for tool in tools:
        turn = next(t for t in turns.values() if t.span_id == tool.parent_id)
        assert tool.trace_id == turn.trace_id
        assert tool.attributes["gen_ai.tool.name"] == "bash"
        assert tool.attributes["agentperf.tool.class"] == "shell"
        assert tool.attributes["agentperf.tool.recorded_duration_s"] == 0.01
        assert tool.attributes["agentperf.tool.delay_s"] >= 0 and not tool.error
        if tool.attributes.get("agentperf.tool.cancelled"):
            continue  # cut off by the window close, maybe before the RPC started
        finished += 1
        # The RunTool client span is the tool span's child, toolsim's server span that client
        # span's child, all in the session's trace.
        (client,) = _children(mine, tool, "/agentperf.v1.ToolSim/RunTool")
        (server,) = [s for s in remote if s.service == "agentperf-toolsim" and s.parent_id == client.span_id]
        assert (client.kind, server.kind) == ("CLIENT", "SERVER")
        assert client.trace_id == server.trace_id == tool.trace_id
    assert finished >= 2


def _check_chat(chat: Any, record: common_pb2.RequestRecord, port: int) -> None:
    a = chat.attributes
    assert chat.kind == "CLIENT"
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.request.model"] == SIM_MODEL
    assert (a["server.address"], a["server.port"]) == ("127.0.0.1", port)
    assert a["gen_ai.request.max_tokens"] >= 1
    if record.status == common_pb2.REQUEST_STATUS_CENSORED:
        assert a["agentperf.request.status"] == "censored" and not chat.error
        return
    assert record.status == common_pb2.REQUEST_STATUS_OK, record
    assert a["agentperf.request.status"] == "ok" and not chat.error
    assert a["http.response.status_code"] == 200
    assert a["gen_ai.usage.input_tokens"] == record.prompt_tokens > 0
    assert a["gen_ai.usage.output_tokens"] == record.output_tokens > 0
    assert a["gen_ai.usage.cache_read.input_tokens"] == record.cached_tokens
    assert a["gen_ai.response.time_to_first_chunk"] == pytest.approx(record.ttft_s)
    assert "error.type" not in a


async def test_failed_request_carries_error_type(
    llm: Any, memory_spans: Any, make_trajectory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_provider(monkeypatch, memory_spans.provider)
    llm.set(status=503)
    sink = MemorySink()
    runner = LevelRunner(
        _level("tr2", level=1, window_s=0.05),
        [make_trajectory("t0", [[(3, 2, False)]])],
        ClientSettings(llm.url, "m"),
        LocalTools(),
        sink,
    )
    await runner.run(lambda event: None)
    chats = [s for s in memory_spans.spans() if s.name == "chat m"]
    failed = [r for r in sink.records if r.status == common_pb2.REQUEST_STATUS_FAILED]
    assert failed and len(chats) == len(sink.records)
    for chat in chats:
        if chat.attributes["agentperf.request.status"] == "failed":
            assert chat.error
            assert chat.attributes["error.type"] == "http_503"
            assert chat.attributes["http.response.status_code"] == 503
            assert "gen_ai.usage.output_tokens" not in chat.attributes
    # The traceparent sent names the chat span of that request.
    chat_ids = {(c.trace_id, c.span_id) for c in chats}
    for received in llm.requests:
        version, trace_id, span_id, _flags = received.headers["traceparent"].split("-")
        assert version == "00"
        assert (int(trace_id, 16), int(span_id, 16)) in chat_ids


async def test_nothing_exported_means_no_spans_and_no_traceparent(
    llm: Any, make_trajectory: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = TracerProvider()  # what runtime.telemetry installs when no OTLP endpoint is set
    assert not tracing.exporting(bare)
    assert not tracing.exporting(trace.NoOpTracerProvider())
    hooks = tracing.agent_tracing("r", 1, 0, model="m", url=llm.url, provider=bare)
    assert type(hooks) is tracing.AgentTracing
    assert hooks.chat().headers is None
    _use_provider(monkeypatch, bare)
    runner = LevelRunner(
        _level("tr3", level=1, window_s=0.05),
        [make_trajectory("t0", [[(3, 2, True)]])],
        ClientSettings(llm.url, "m"),
        LocalTools(scale=0.1),
        MemorySink(),
    )
    await runner.run(lambda event: None)
    assert llm.requests
    assert all("traceparent" not in r.headers for r in llm.requests)


def test_server_address_and_port_from_url() -> None:
    assert tracing.server_of("http://10.0.0.5:8000/v1/chat/completions") == ("10.0.0.5", 8000)
    assert tracing.server_of("https://api.example.com/v1/chat/completions") == ("api.example.com", 443)
    assert tracing.server_of("http://[::1]/v1") == ("::1", 80)
