"""Fakes for the loadgen tests: a controllable OpenAI-style streaming server (aiohttp) and
in-process gRPC peers (trajectory store, toolsim, judge) on loopback.

Test files get them through fixtures (``llm``, ``peers``, ``make_trajectory``) because
conftest modules cannot be imported by name under ``--import-mode=importlib``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
import pytest
from aiohttp import web

from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn, to_proto
from agentperf.v1 import (
    common_pb2,
    judge_pb2,
    judge_pb2_grpc,
    toolsim_pb2,
    toolsim_pb2_grpc,
    trajectory_store_pb2,
    trajectory_store_pb2_grpc,
)


@dataclass(frozen=True)
class Behaviour:
    """How the fake server answers one request."""

    status: int = 200
    first_token_delay_s: float = 0.0
    token_interval_s: float = 0.0
    tokens_per_chunk: int = 1
    reasoning_tokens: int = 0  # the first n tokens come as reasoning_content
    usage: bool = True
    usage_completion_tokens: int | None = None  # report this instead of the true count
    cached_tokens: int = 0
    finish: bool = True
    done: bool = True
    cut_after: int | None = None  # tokens sent, then the connection is dropped mid-stream
    stall_after: int | None = None  # tokens sent, then silence (the client must time out)
    malformed_after: int | None = None  # tokens sent, then an undecodable event
    error_after: int | None = None  # tokens sent, then an {"error": ...} event
    pause_after: int | None = None  # tokens sent, then a pause of pause_s, then the rest
    pause_s: float = 0.0


@dataclass
class Received:
    raw: bytes
    body: dict[str, Any]
    request_id: str
    headers: dict[str, str]
    generated: str = ""

    @property
    def messages(self) -> list[dict[str, str]]:
        return list(self.body["messages"])


def words(text: str) -> int:
    return len(text.split())


@dataclass
class FakeLLM:
    """Streams ``max_tokens`` words ``w<i>`` per request, as told by ``behave``."""

    behave: Callable[[int, Received], Behaviour] = lambda i, r: Behaviour()
    requests: list[Received] = field(default_factory=list)
    url: str = ""

    def set(self, **kwargs: Any) -> None:
        """Give every later request the same behaviour."""
        fixed = Behaviour(**kwargs)
        self.behave = lambda i, r: fixed

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        got = Received(raw, json.loads(raw), request.headers.get("X-Request-Id", ""), dict(request.headers))
        index = len(self.requests)
        self.requests.append(got)
        b = self.behave(index, got)
        if b.status != 200:
            return web.Response(status=b.status, text="nope")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        # The client hanging up (a censored or timed-out request) is normal here.
        with contextlib.suppress(ConnectionResetError):
            await self._stream(request, resp, got, b)
        return resp

    async def _stream(
        self, request: web.Request, resp: web.StreamResponse, got: Received, b: Behaviour
    ) -> None:
        n = int(got.body.get("max_tokens") or got.body.get("max_completion_tokens") or 16)
        await asyncio.sleep(b.first_token_delay_s)
        sent = 0
        while sent < n:
            if await self._interrupt(request, resp, b, sent):
                return
            k = min(b.tokens_per_chunk, n - sent)
            text = "".join(f"w{sent + j} " for j in range(k))
            key = "reasoning_content" if sent < b.reasoning_tokens else "content"
            if key == "content":
                got.generated += text
            await _send(resp, {"choices": [{"index": 0, "delta": {key: text}, "finish_reason": None}]})
            sent += k
            if b.token_interval_s:
                await asyncio.sleep(b.token_interval_s)
            if b.pause_after == sent:
                await asyncio.sleep(b.pause_s)
        if await self._interrupt(request, resp, b, sent):
            return
        await self._finish(resp, got, b, n)

    async def _interrupt(
        self, request: web.Request, resp: web.StreamResponse, b: Behaviour, sent: int
    ) -> bool:
        if b.cut_after == sent:
            assert request.transport is not None
            request.transport.close()
            return True
        if b.stall_after == sent:
            await asyncio.sleep(30)
            return True
        if b.malformed_after == sent:
            await resp.write(b'data: {"choices": [{"delta": {"content": "x"\n\n')
            return False
        if b.error_after == sent:
            await _send(resp, {"error": {"message": "engine overloaded", "code": 503}})
        return False

    async def _finish(self, resp: web.StreamResponse, got: Received, b: Behaviour, n: int) -> None:
        if b.finish:
            await _send(resp, {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]})
        if b.usage:
            prompt = sum(words(m["content"]) for m in got.body["messages"])
            completion = n if b.usage_completion_tokens is None else b.usage_completion_tokens
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "prompt_tokens_details": {"cached_tokens": b.cached_tokens},
            }
            await _send(resp, {"choices": [], "usage": usage})
        if b.done:
            await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()


async def _send(resp: web.StreamResponse, event: dict[str, Any]) -> None:
    await resp.write(b"data: " + json.dumps(event).encode() + b"\n\n")


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLM]:
    fake = FakeLLM()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", fake.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


# --- gRPC peers -----------------------------------------------------------------------------


class FakeStore(trajectory_store_pb2_grpc.TrajectoryStoreServicer):
    def __init__(self) -> None:
        self.datasets: dict[str, list[Trajectory]] = {}
        self.calls = 0

    async def StreamTrajectories(  # noqa: N802
        self, request: trajectory_store_pb2.StreamTrajectoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.Trajectory]:
        self.calls += 1
        if request.dataset not in self.datasets:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"no dataset {request.dataset}")
        count = max(1, request.shard_count)
        for i, traj in enumerate(self.datasets[request.dataset]):
            if i % count == request.shard_index:
                yield to_proto(replace(traj, index=i))

    async def Import(self, request_iterator: Any, context: Any) -> trajectory_store_pb2.DatasetInfo:  # noqa: N802
        raise NotImplementedError

    async def GenerateSynthetic(self, request: Any, context: Any) -> trajectory_store_pb2.DatasetInfo:  # noqa: N802
        raise NotImplementedError

    async def ListDatasets(self, request: Any, context: Any) -> trajectory_store_pb2.ListDatasetsResponse:  # noqa: N802
        raise NotImplementedError

    async def GetDatasetStats(self, request: Any, context: Any) -> trajectory_store_pb2.DatasetStats:  # noqa: N802
        raise NotImplementedError


class FakeToolSim(toolsim_pb2_grpc.ToolSimServicer):
    def __init__(self) -> None:
        self.keys: list[str] = []
        self.delay_s = 0.0

    async def RunTool(  # noqa: N802
        self, request: toolsim_pb2.RunToolRequest, context: grpc.aio.ServicerContext
    ) -> toolsim_pb2.RunToolResponse:
        self.keys.append(request.key)
        await asyncio.sleep(self.delay_s)
        return toolsim_pb2.RunToolResponse(delay_s=self.delay_s, model="fake")

    async def FitFromDataset(self, request: Any, context: Any) -> toolsim_pb2.ToolModelReport:  # noqa: N802
        raise NotImplementedError

    async def DescribeModel(self, request: Any, context: Any) -> toolsim_pb2.ToolModelReport:  # noqa: N802
        raise NotImplementedError


class FakeJudge(judge_pb2_grpc.JudgeServicer):
    """Idempotent on record_id, like the real judge; can break the first streams on purpose."""

    def __init__(self) -> None:
        self.records: dict[str, common_pb2.RequestRecord] = {}
        self.received = 0
        self.streams = 0
        self.break_streams = 0  # this many streams abort with UNAVAILABLE ...
        self.break_after = 0  # ... after receiving this many records
        self.reject = False  # answer INVALID_ARGUMENT to the first record, as for a malformed one

    async def IngestRecords(  # noqa: N802
        self, request_iterator: AsyncIterator[common_pb2.RequestRecord], context: grpc.aio.ServicerContext
    ) -> judge_pb2.IngestSummary:
        self.streams += 1
        accepted = duplicates = seen = 0
        async for record in request_iterator:
            seen += 1
            self.received += 1
            if self.reject:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "IngestRecords stream record:1 bad")
            if record.record_id in self.records:
                duplicates += 1
            else:
                accepted += 1
                self.records[record.record_id] = record
            if self.break_streams and seen >= self.break_after:
                self.break_streams -= 1
                await context.abort(grpc.StatusCode.UNAVAILABLE, "judge restarting")
        return judge_pb2.IngestSummary(accepted=accepted, duplicates=duplicates)

    async def Evaluate(self, request: Any, context: Any) -> common_pb2.LevelVerdict:  # noqa: N802
        raise NotImplementedError

    async def GetRunStats(self, request: Any, context: Any) -> judge_pb2.RunStats:  # noqa: N802
        raise NotImplementedError

    async def PutRun(self, request: Any, context: Any) -> judge_pb2.PutRunResponse:  # noqa: N802
        raise NotImplementedError

    async def GetRun(self, request: Any, context: Any) -> judge_pb2.RunState:  # noqa: N802
        raise NotImplementedError


@dataclass
class Peers:
    store: FakeStore
    toolsim: FakeToolSim
    judge: FakeJudge
    target: str  # store and toolsim
    judge_target: str
    servers: list[grpc.aio.Server]

    async def start_judge(self, port: int = 0) -> str:
        server = grpc.aio.server()
        judge_pb2_grpc.add_JudgeServicer_to_server(self.judge, server)
        bound = server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        self.servers.append(server)
        self.judge_target = f"127.0.0.1:{bound}"
        return self.judge_target


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    store, toolsim = FakeStore(), FakeToolSim()
    server = grpc.aio.server()
    trajectory_store_pb2_grpc.add_TrajectoryStoreServicer_to_server(store, server)
    toolsim_pb2_grpc.add_ToolSimServicer_to_server(toolsim, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    out = Peers(store, toolsim, FakeJudge(), f"127.0.0.1:{port}", "", [server])
    yield out
    for s in out.servers:
        with contextlib.suppress(Exception):
            await s.stop(0)


def build_trajectory(
    traj_id: str, phases: Sequence[Sequence[tuple[int, int, bool]]], preamble_tokens: int = 5
) -> Trajectory:
    """Phases of (input_tokens, output_tokens, has_tool) turns."""
    return Trajectory(
        id=traj_id,
        phases=tuple(
            Phase(
                turns=tuple(
                    Turn(i, o, tool=ToolCall("bash", "shell", 0.01) if tool else None) for i, o, tool in turns
                ),
                preamble_tokens=preamble_tokens,
            )
            for turns in phases
        ),
    )


@pytest.fixture
def make_trajectory() -> Callable[..., Trajectory]:
    return build_trajectory


@pytest.fixture
def behaviour() -> type[Behaviour]:
    return Behaviour


@pytest.fixture
def free_tcp_port() -> Callable[[], int]:
    return free_port
