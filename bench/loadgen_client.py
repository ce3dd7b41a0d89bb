"""What one loadgen worker process can drive: token events per second, its CPU per token event,
the TTFT and output speed it adds or loses, and its memory, at 50 to 2,000 concurrent streams.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/loadgen_client.py [--streams 50 200 800 2000] [--window 10]
        [--server-procs 1] [--out docs/bench/loadgen_client.json]

Three kinds of process, all on this machine:

* a **paced server** (``--server-procs`` processes sharing one port with SO_REUSEPORT): a raw
  asyncio HTTP/1.1 server that answers every chat request with an SSE stream, first token
  ``--first-token-ms`` (50) after it read the request, then one token every
  ``--token-interval-ms`` (10), ``--tokens`` (100) tokens, then usage and ``[DONE]``. One
  timer wheel (1 ms slots) drives every stream; it measures its own **pacing lag** (how
  late each token was written against its schedule) so a server that falls behind is
  visible, not blamed on the client;
* **one loadgen worker process**: the real engine (``PoolRunner`` with one worker: agents,
  ChatClient, LevelRunner, self-check, JudgeSink batches over gRPC), agents with no tool
  gap, so every agent keeps one stream open: agents = concurrent streams;
* this process: the parent of the worker, and a minimal judge that keeps the records.

Per level: agents start spread over one request's duration (so their streams run out of
phase, as real agents' do), warm up (every agent completed a request), then a ``--window``
second window.
Figures (window only):

* token events/s: token chunks the client received in the window (each record's tokens
  spread evenly over its first-to-last interval, counted for the part inside the window);
* worker CPU-s per million token events: the worker's process CPU time in the window
  (self-check) / token events x 1e6;
* client-added TTFT: measured TTFT - the configured first-token delay, p50 / p99 over the
  requests sent in the window (the server's own first-token lag is printed next to it);
* output speed: (tokens - first chunk) / (last - first token time) per request, p50 / p25,
  against the true 1000 / token-interval-ms tokens/s;
* worker peak RSS, loop-lag p99, CPU share, and whether the self-check called the level valid.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib
import importlib.metadata
import importlib.util
import json
import math
import multiprocessing
import multiprocessing.connection
import os
import platform
import re
import socket
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import grpc

from agentperf.loadgen import ClientSettings, EventKind, LevelEvent, LevelSpec
from agentperf.loadgen.selfcheck import SelfCheckLimits
from agentperf.loadgen.workers import PeerSettings, PoolRunner, uvloop_available
from agentperf.trajectory import Phase, Trajectory, Turn
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

Connection = multiprocessing.connection.Connection

# --- the paced server ------------------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"(?i)content-length:\s*(\d+)")
_MAX_TOKENS = re.compile(rb'"max_tokens":(\d+)')
_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n"
)


def _chunk(payload: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(payload), payload)


_TOKEN = _chunk(
    b'data: {"id":"b","object":"chat.completion.chunk","model":"bench","choices":[{"index":0,'
    b'"delta":{"content":"w "},"finish_reason":null}]}\n\n'
)


def _tail(tokens: int) -> bytes:
    finish = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
    usage = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":%d}}\n\n' % tokens
    return _chunk(finish + usage + b"data: [DONE]\n\n") + b"0\r\n\r\n"


class _LagStats:
    """Lateness of writes against their schedule, in 0.1 ms bins."""

    def __init__(self) -> None:
        self.bins: dict[int, int] = {}
        self.count = 0
        self.max = 0.0

    def add(self, lag: float) -> None:
        key = int(lag * 1e4)
        self.bins[key] = self.bins.get(key, 0) + 1
        self.count += 1
        self.max = max(self.max, lag)

    def quantile(self, q: float) -> float:
        rank, seen = max(1, math.ceil(q * self.count)), 0
        for key in sorted(self.bins):
            seen += self.bins[key]
            if seen >= rank:
                return (key + 1) / 1e4
        return 0.0

    def summary_ms(self) -> dict[str, float]:
        if not self.count:
            return {"p50": 0.0, "p99": 0.0, "max": 0.0}
        return {
            "p50": round(self.quantile(0.5) * 1e3, 2),
            "p99": round(self.quantile(0.99) * 1e3, 2),
            "max": round(self.max * 1e3, 2),
        }


class _Stream:
    __slots__ = ("closed", "due", "sent", "tokens", "transport")

    def __init__(self, transport: asyncio.Transport, tokens: int, due: float) -> None:
        self.transport = transport
        self.tokens = tokens
        self.sent = 0
        self.due = due  # when its next token is due (monotonic)
        self.closed = False


_TICK_S = 0.001


@dataclass
class _Pacer:
    """A timer wheel of 1 ms slots drives every open stream of this process.

    A token is written at the first tick at or after it is due (never early), so the
    pacing lag is at most about a tick plus whatever the process is behind.
    """

    first_s: float
    interval_s: float
    wheel: dict[int, list[_Stream]] = field(default_factory=dict)
    next_tick: int = 0
    tokens_lag: _LagStats = field(default_factory=_LagStats)
    first_lag: _LagStats = field(default_factory=_LagStats)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    cpu0: float = 0.0
    t0: float = 0.0

    def start(self, transport: asyncio.Transport, body: bytes) -> _Stream:
        match = _MAX_TOKENS.search(body)
        stream = _Stream(transport, int(match.group(1)) if match else 16, time.monotonic() + self.first_s)
        transport.write(_HEAD)
        self._schedule(stream)
        self.wake.set()
        return stream

    def _schedule(self, stream: _Stream) -> None:
        self.wheel.setdefault(math.ceil(stream.due / _TICK_S), []).append(stream)

    async def drive(self) -> None:
        while True:
            if not self.wheel:
                self.wake.clear()
                await self.wake.wait()
                self.next_tick = int(time.monotonic() / _TICK_S)
            now = time.monotonic()
            current = int(now / _TICK_S)
            while self.next_tick <= current:
                due_now = self.wheel.pop(self.next_tick, None)
                self.next_tick += 1
                if due_now:
                    self._write(due_now, now)
            await asyncio.sleep(max(0.0, (current + 1) * _TICK_S - time.monotonic()))

    def _write(self, streams: list[_Stream], now: float) -> None:
        for stream in streams:
            if stream.closed:
                continue
            (self.tokens_lag if stream.sent else self.first_lag).add(now - stream.due)
            stream.sent += 1
            if stream.sent < stream.tokens:
                stream.transport.write(_TOKEN)
                stream.due += self.interval_s
                self._schedule(stream)
            else:
                stream.transport.write(_TOKEN + _tail(stream.tokens))

    def reset(self) -> None:
        self.tokens_lag, self.first_lag = _LagStats(), _LagStats()
        self.cpu0, self.t0 = time.process_time(), time.monotonic()

    def stats(self) -> dict[str, Any]:
        wall = time.monotonic() - self.t0
        return {
            "token_events": self.tokens_lag.count + self.first_lag.count,
            "pacing_lag_ms": self.tokens_lag.summary_ms(),
            "first_token_lag_ms": self.first_lag.summary_ms(),
            "cpu_fraction": round((time.process_time() - self.cpu0) / wall, 3) if wall > 0 else 0.0,
        }


class _HttpConnection(asyncio.Protocol):
    """HTTP/1.1 keep-alive: one request at a time per connection, as aiohttp's pool sends them."""

    def __init__(self, pacer: _Pacer) -> None:
        self._pacer = pacer
        self._buf = b""
        self._transport: asyncio.Transport | None = None
        self._stream: _Stream | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have the same face.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        while True:
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                return
            match = _CONTENT_LENGTH.search(self._buf, 0, end)
            total = end + 4 + (int(match.group(1)) if match else 0)
            if len(self._buf) < total:
                return
            body, self._buf = self._buf[end + 4 : total], self._buf[total:]
            assert self._transport is not None
            self._stream = self._pacer.start(self._transport, body)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stream is not None:
            self._stream.closed = True


def _server_main(conn: Connection, port: int, first_s: float, interval_s: float) -> None:
    """A paced server process; answers "reset" and "stats" on its pipe."""
    _run(_serve(conn, port, first_s, interval_s))


async def _serve(conn: Connection, port: int, first_s: float, interval_s: float) -> None:
    loop = asyncio.get_running_loop()
    pacer = _Pacer(first_s, interval_s)
    server = await loop.create_server(
        lambda: _HttpConnection(pacer), "127.0.0.1", port, reuse_port=True, backlog=4096
    )
    driver = loop.create_task(pacer.drive())
    done = asyncio.Event()

    def command() -> None:
        try:
            message = conn.recv()
        except EOFError:
            done.set()
            return
        if message == "reset":
            pacer.reset()
            conn.send("ok")
        elif message == "stats":
            conn.send(pacer.stats())

    loop.add_reader(conn.fileno(), command)
    conn.send("ready")
    await done.wait()
    driver.cancel()
    server.close()


def _run(main: Any) -> None:
    if uvloop_available():
        uvloop = importlib.import_module("uvloop")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


class _Servers:
    """The paced server processes of the benchmark."""

    def __init__(self, procs: int, first_s: float, interval_s: float) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        ctx = multiprocessing.get_context("spawn")
        self._conns: list[Connection] = []
        self._procs = []
        for _ in range(procs):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_server_main, args=(child, self.port, first_s, interval_s), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)
        for c in self._conns:
            assert c.recv() == "ready"

    def reset(self) -> None:
        for c in self._conns:
            c.send("reset")
        for c in self._conns:
            c.recv()

    def stats(self) -> dict[str, Any]:
        for c in self._conns:
            c.send("stats")
        parts = [c.recv() for c in self._conns]
        worst = max(parts, key=lambda p: p["pacing_lag_ms"]["p99"])
        return {
            "processes": len(parts),
            "token_events": sum(p["token_events"] for p in parts),
            "pacing_lag_ms": worst["pacing_lag_ms"],
            "first_token_lag_ms": max(parts, key=lambda p: p["first_token_lag_ms"]["p99"])[
                "first_token_lag_ms"
            ],
            "cpu_fraction": [p["cpu_fraction"] for p in parts],
        }

    def close(self) -> None:
        for c in self._conns:
            c.close()
        for p in self._procs:
            p.join(5)
            if p.is_alive():
                p.kill()


# --- the judge (keeps what the figures need) -------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rec:
    ok: bool
    in_window: bool
    has_first: bool
    ttft_s: float
    first_to_last_s: float
    tokens: int
    first_chunk: int
    send_unix_s: float


class _Judge(judge_pb2_grpc.JudgeServicer):
    def __init__(self) -> None:
        self.records: list[_Rec] = []

    async def IngestRecords(  # noqa: N802 -- gRPC method name
        self, request_iterator: AsyncIterator[common_pb2.RequestRecord], context: grpc.aio.ServicerContext
    ) -> judge_pb2.IngestSummary:
        n = 0
        async for r in request_iterator:
            n += 1
            self.records.append(
                _Rec(
                    r.status == common_pb2.REQUEST_STATUS_OK,
                    r.in_window,
                    r.has_first_token,
                    r.ttft_s,
                    r.first_to_last_s,
                    r.output_tokens,
                    r.first_chunk_tokens,
                    r.send_unix_s,
                )
            )
        return judge_pb2.IngestSummary(accepted=n)

    async def Evaluate(self, request: Any, context: Any) -> common_pb2.LevelVerdict:  # noqa: N802
        raise NotImplementedError

    async def GetRunStats(self, request: Any, context: Any) -> judge_pb2.RunStats:  # noqa: N802
        raise NotImplementedError

    async def PutRun(self, request: Any, context: Any) -> judge_pb2.PutRunResponse:  # noqa: N802
        raise NotImplementedError

    async def GetRun(self, request: Any, context: Any) -> judge_pb2.RunState:  # noqa: N802
        raise NotImplementedError


# --- one level -------------------------------------------------------------------------------


def _trajectories(tokens: int) -> list[Trajectory]:
    # 8 turns per phase keeps request bodies small (a few KB): the bench measures streaming.
    phase = Phase(turns=tuple(Turn(30, tokens) for _ in range(8)), preamble_tokens=20)
    return [Trajectory(id=f"bench{i}", phases=(phase,) * 4) for i in range(16)]


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    values = sorted(values)
    return values[max(0, math.ceil(q * len(values)) - 1)]


def _tokens_in_window(records: list[_Rec], t_open: float, t_close: float) -> float:
    total = 0.0
    for r in records:
        if not r.has_first:
            continue
        first = r.send_unix_s + r.ttft_s
        last = first + r.first_to_last_s
        if r.first_to_last_s <= 0:
            total += r.tokens if t_open <= first <= t_close else 0
            continue
        overlap = min(last, t_close) - max(first, t_open)
        if overlap > 0:
            total += r.tokens * overlap / r.first_to_last_s
    return total


@dataclass
class _Marks:
    loop: str = ""
    t_open_unix: float = 0.0
    stats: dict[str, Any] = field(default_factory=dict)


async def _level(
    args: argparse.Namespace, streams: int, servers: _Servers, judge: _Judge, judge_target: str
) -> dict[str, Any]:
    judge.records = []
    settings = ClientSettings(
        f"http://127.0.0.1:{servers.port}", "bench", first_token_timeout_s=60, idle_timeout_s=60
    )
    runner = PoolRunner(
        LevelSpec(
            "bench",
            streams,
            window_s=args.window,
            progress_interval_s=1.0,
            warmup_timeout_s=120,
            # Agents start spread over one request's duration: their streams run out of phase,
            # as real agents' do, instead of every token of every stream arriving at once.
            stagger_s=(args.first_token_ms + args.tokens * args.token_interval_ms) / 1e3,
        ),
        _trajectories(args.tokens),
        settings,
        PeerSettings(toolsim="", judge=judge_target, judge_batch_max_s=1.0),
        workers=1,
        limits=SelfCheckLimits(),
        use_uvloop=not args.no_uvloop,
    )
    marks = _Marks()

    def emit(event: LevelEvent) -> None:
        if event.kind is EventKind.STARTED:
            marks.loop = event.message.rsplit("(", 1)[-1].partition(")")[0]
        elif event.kind is EventKind.WINDOW_OPEN:
            servers.reset()
            marks.t_open_unix = time.time()
        elif event.kind is EventKind.WINDOW_CLOSED:
            marks.stats = servers.stats()

    result = await runner.run(emit)
    return _figures(args, streams, result, judge.records, marks)


def _figures(
    args: argparse.Namespace, streams: int, result: Any, records: list[_Rec], marks: _Marks
) -> dict[str, Any]:
    check = result.counters.check
    window = result.window_s
    tokens = _tokens_in_window(records, marks.t_open_unix, marks.t_open_unix + window)
    measured = [r for r in records if r.in_window and r.ok]
    first_s = args.first_token_ms / 1e3
    added = [(r.ttft_s - first_s) * 1e3 for r in measured]
    speeds = [
        (r.tokens - r.first_chunk) / r.first_to_last_s
        for r in measured
        if r.first_to_last_s > 0 and r.tokens > 1
    ]
    return {
        "streams": streams,
        "load_avg_1m": round(os.getloadavg()[0], 2),  # the machine is shared: how busy it was
        "worker_loop": marks.loop,
        "window_s": round(window, 2),
        "requests_in_window": len(measured),
        "token_events_per_s": round(tokens / window) if window else 0,
        "worker_cpu_s_per_million_token_events": round(check.cpu_s / tokens * 1e6, 1) if tokens else 0.0,
        "worker_cpu_fraction": round(check.cpu_fraction, 3),
        "client_added_ttft_ms": {
            "p50": round(_quantile(added, 0.5), 2),
            "p99": round(_quantile(added, 0.99), 2),
        },
        "output_speed_tok_s": {
            "true": round(1e3 / args.token_interval_ms, 1),
            "p50": round(_quantile(speeds, 0.5), 1),
            "p25": round(_quantile(speeds, 0.25), 1),
        },
        "worker_rss_peak_mb": round(check.rss_peak_bytes / 2**20, 1),
        "worker_loop_lag_p99_ms": round(check.lag_p99_s * 1e3, 2),
        "agents_in_flight_mean": round(check.active_mean, 1),
        "valid": check.valid,
        "invalid_reason": check.invalid_reason,
        "server": marks.stats,
    }


async def _bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    servers = _Servers(args.server_procs, args.first_token_ms / 1e3, args.token_interval_ms / 1e3)
    judge = _Judge()
    server = grpc.aio.server()
    judge_pb2_grpc.add_JudgeServicer_to_server(judge, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    out = []
    try:
        for streams in args.streams:
            figures = await _level(args, streams, servers, judge, f"127.0.0.1:{port}")
            print(json.dumps(figures), flush=True)
            out.append(figures)
    finally:
        await server.stop(0)
        servers.close()
    return out


def _table(levels: list[dict[str, Any]], emit: Callable[[str], None]) -> None:
    emit(
        "| streams | token events/s | worker CPU-s / M events | worker CPU | added TTFT p50 / p99 ms "
        "| speed p50 / p25 (true 100) | worker RSS MB | loop lag p99 ms | server pacing lag p50 / p99 ms "
        "| server CPU | valid |"
    )
    emit("|" + "---|" * 11)
    for f in levels:
        s = f["server"]
        emit(
            f"| {f['streams']} | {f['token_events_per_s']} | {f['worker_cpu_s_per_million_token_events']} "
            f"| {f['worker_cpu_fraction']:.0%} | {f['client_added_ttft_ms']['p50']} / "
            f"{f['client_added_ttft_ms']['p99']} | {f['output_speed_tok_s']['p50']} / "
            f"{f['output_speed_tok_s']['p25']} | {f['worker_rss_peak_mb']} | {f['worker_loop_lag_p99_ms']} "
            f"| {s['pacing_lag_ms']['p50']} / {s['pacing_lag_ms']['p99']} "
            f"| {', '.join(f'{c:.0%}' for c in s['cpu_fraction'])} | "
            f"{'yes' if f['valid'] else 'no: ' + f['invalid_reason']} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--streams", type=int, nargs="+", default=[50, 200, 800, 2000])
    parser.add_argument("--window", type=float, default=10.0, help="measurement window per level, s")
    parser.add_argument("--tokens", type=int, default=100, help="output tokens per request")
    parser.add_argument("--first-token-ms", type=float, default=50.0)
    parser.add_argument("--token-interval-ms", type=float, default=10.0)
    parser.add_argument("--server-procs", type=int, default=1, help="paced server processes (SO_REUSEPORT)")
    parser.add_argument("--no-uvloop", action="store_true", help="worker on the default asyncio loop")
    parser.add_argument("--out", default="", help="also write the figures to this JSON file")
    args = parser.parse_args()
    levels = asyncio.run(_bench(args))
    _table(levels, print)
    if args.out:
        _write(args, levels)


def _write(args: argparse.Namespace, levels: list[dict[str, Any]]) -> None:
    """Add this run to ``--out``, replacing an earlier run on the same worker loop."""
    run = {
        "command": "python bench/loadgen_client.py " + " ".join(sys.argv[1:]),
        "worker_loop": levels[0]["worker_loop"] if levels else "",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "uvloop_version": importlib.metadata.version("uvloop") if uvloop_available() else "",
        "first_token_ms": args.first_token_ms,
        "token_interval_ms": args.token_interval_ms,
        "tokens_per_request": args.tokens,
        "levels": levels,
    }
    runs: list[dict[str, Any]] = []
    with contextlib.suppress(FileNotFoundError, ValueError, KeyError), open(args.out, encoding="utf-8") as fh:
        runs = [r for r in json.load(fh)["runs"] if r.get("worker_loop") != run["worker_loop"]]
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump({"runs": [*runs, run]}, fh, indent=2)
        fh.write("\n")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
