"""One level across several worker processes: :class:`PoolRunner`.

The parent (the loadgen service's process) starts ``workers`` processes with the
``spawn`` start method, one :class:`~agentperf.loadgen.level.LevelRunner` each, on its own
event loop (uvloop when it is importable and ``use_uvloop`` is set). The agent in slot ``s``
(its index among this loadgen's agents) runs in worker ``s % W``; its trajectories and
stagger are those it would have with one worker. Each worker opens its own gRPC channels:
tool gaps go to toolsim and records go to the judge directly (batched, idempotent ids,
retried: :class:`~agentperf.loadgen.peers.JudgeSink`), so the parent never touches a record.

Parent and worker talk over one ``multiprocessing`` pipe each, read with ``add_reader`` on
both sides (nothing blocks a loop):

    parent -> worker   the pickled trajectories (once), then ("start",), ("open", message),
                       ("stop", reason)
    worker -> parent   ("ready", loop name), ("event", LevelEvent) for each of its events
                       (PROGRESS every ``report_s``), ("result", LevelResult), or
                       ("error", class name, message)

The window is the parent's: it opens it when every worker reports all its agents warm (or
the warm-up timed out) and closes it after ``window_s`` / ``min_window_requests`` (summed
over workers) / ``max_window_s``. A worker opens and closes its own window when the message
arrives, so its requests sent after that instant are ``in_window``; the skew between
workers is the pipe's latency plus any event-loop lag of the worker (which its self-check
reports). Events are the parent's, carrying the sum of the workers' latest counters and the
combination of their self-checks (:func:`~agentperf.loadgen.selfcheck.combine`).

A worker that dies before it reported its result stops the level: the others close and
flush, and the result carries a delivery error naming the worker (its records may be lost).
A worker whose parent disappears (its pipe closes) stops its level and flushes too.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import importlib.util
import logging
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from agentperf import errors
from agentperf.errors import AgentperfError
from agentperf.loadgen.client import ClientSettings
from agentperf.loadgen.level import (
    Counters,
    EventKind,
    LevelEvent,
    LevelResult,
    LevelRunner,
    LevelSpec,
    hold_window,
    usable_trajectories,
    wait_any,
)
from agentperf.loadgen.peers import JudgeSink, ToolSimTools
from agentperf.loadgen.prompt import PromptSettings, merge_stats
from agentperf.loadgen.selfcheck import SelfCheck, SelfCheckLimits, combine
from agentperf.loadgen.sink import Delivery
from agentperf.loadgen.tools import LocalTools, ToolRunner
from agentperf.runtime.server import channel
from agentperf.runtime.telemetry import setup_tracing, shutdown_tracing
from agentperf.trajectory import Trajectory

log = logging.getLogger(__name__)

Connection = multiprocessing.connection.Connection


def resolve_workers(workers: int) -> int:
    """``workers`` as configured; 0 means one per CPU core."""
    return workers if workers > 0 else os.cpu_count() or 1


def uvloop_available() -> bool:
    """uvloop is optional: worker loops use it when it is installed."""
    return importlib.util.find_spec("uvloop") is not None


@dataclass(frozen=True)
class PeerSettings:
    """Where a worker sends tool calls and records; it opens its own channels to them."""

    toolsim: str  # host:port; "": tool gaps are slept locally (recorded duration x local_tool_scale)
    judge: str  # host:port
    tool_fallback_s: float = 1.0
    judge_retries: int = 5
    judge_backoff_s: float = 0.25
    judge_batch_size: int = 1000
    judge_batch_max_s: float = 5.0
    judge_max_backlog: int = 50_000
    local_tool_scale: float = 1.0


@dataclass(frozen=True)
class _WorkerSetup:
    spec: LevelSpec
    settings: ClientSettings
    peers: PeerSettings
    limits: SelfCheckLimits
    use_uvloop: bool
    log_level: int
    prompts: PromptSettings


# --- the worker process ----------------------------------------------------------------------


def worker_main(conn: Connection, setup: _WorkerSetup) -> None:
    """Entry point of a worker process (spawned): run one level's share of agents."""
    # Ctrl-C reaches the whole process group; the parent alone decides when the level stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(
        level=setup.log_level,
        stream=sys.stderr,
        format=f"%(asctime)s loadgen-worker{setup.spec.worker_index} %(levelname)s %(name)s: %(message)s",
    )
    # Spawned workers inherit the OTEL_* variables but not the parent's tracer provider.
    setup_tracing("agentperf-loadgen")
    try:
        trajectories: list[Trajectory] = pickle.loads(conn.recv_bytes())
        _run_loop(_work(conn, setup, trajectories), setup.use_uvloop)
    except Exception as exc:
        log.exception("worker %d failed", setup.spec.worker_index)
        with contextlib.suppress(OSError):
            conn.send(("error", type(exc).__name__, str(exc)))
        raise SystemExit(1) from exc
    finally:
        conn.close()
        shutdown_tracing()


def _run_loop(main: Coroutine[Any, Any, None], use_uvloop: bool) -> None:
    if use_uvloop and uvloop_available():
        uvloop = importlib.import_module("uvloop")
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main)
    else:
        asyncio.run(main)


def _loop_name() -> str:
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


async def _work(conn: Connection, setup: _WorkerSetup, trajectories: list[Trajectory]) -> None:
    peers = setup.peers
    async with contextlib.AsyncExitStack() as stack:
        judge_ch = await stack.enter_async_context(channel(peers.judge))
        tools: ToolRunner = LocalTools(scale=peers.local_tool_scale, fallback_s=peers.tool_fallback_s)
        if peers.toolsim:
            tool_ch = await stack.enter_async_context(channel(peers.toolsim))
            tools = ToolSimTools(tool_ch, fallback_s=peers.tool_fallback_s)
        sink = JudgeSink(
            judge_ch,
            retries=peers.judge_retries,
            backoff_s=peers.judge_backoff_s,
            batch_size=peers.judge_batch_size,
            batch_max_s=peers.judge_batch_max_s,
            max_backlog=peers.judge_max_backlog,
        )
        runner = LevelRunner(
            setup.spec,
            trajectories,
            setup.settings,
            tools,
            sink,
            limits=setup.limits,
            external_window=True,
            prompts=setup.prompts,
        )
        started = asyncio.Event()
        _listen(conn, runner, started)
        _send(conn, ("ready", _loop_name()))
        await started.wait()
        result = await runner.run(lambda event: _send(conn, ("event", event)))
        _send(conn, ("result", result))


def _send(conn: Connection, message: tuple[Any, ...]) -> None:
    # The parent may be gone; the level must still close and flush its records to the judge.
    with contextlib.suppress(OSError):
        conn.send(message)


def _listen(conn: Connection, runner: LevelRunner, started: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    fd = conn.fileno()

    def readable() -> None:
        try:
            while conn.poll():
                message = conn.recv()
                if message[0] == "open":
                    runner.open_window(message[1])
                elif message[0] == "stop":
                    runner.request_stop(message[1])
                started.set()
        except (EOFError, OSError):
            loop.remove_reader(fd)
            runner.request_stop("loadgen parent went away")
            started.set()

    loop.add_reader(fd, readable)


# --- the parent ------------------------------------------------------------------------------


class _Worker:
    """The parent's view of one worker process."""

    def __init__(self, index: int, agents: int) -> None:
        self.index = index
        self.process: multiprocessing.process.BaseProcess | None = None
        self.conn: Connection | None = None
        self.loop_name = ""
        self.counters = Counters(agents=agents, check=SelfCheck(agents=agents, active_mean=agents))
        self.ready = asyncio.Event()
        self.closed = asyncio.Event()  # its window closed (or it is gone)
        self.finished = asyncio.Event()  # it sent its result (or it is gone)
        self.result: LevelResult | None = None
        self.error = ""

    def send(self, message: tuple[Any, ...]) -> None:
        if self.conn is not None and not self.finished.is_set():
            with contextlib.suppress(OSError):
                self.conn.send(message)

    def gone(self, error: str) -> None:
        self.error = self.error or error
        for event in (self.ready, self.closed, self.finished):
            event.set()


class PoolRunner:
    """Runs one level's agents across worker processes; the same face as LevelRunner."""

    def __init__(
        self,
        spec: LevelSpec,
        trajectories: Sequence[Trajectory],
        settings: ClientSettings,
        peers: PeerSettings,
        *,
        workers: int,
        limits: SelfCheckLimits | None = None,
        use_uvloop: bool = True,
        start_timeout_s: float = 60.0,
        prompts: PromptSettings | None = None,
    ) -> None:
        self._trajectories = usable_trajectories(spec, settings, trajectories)
        self.spec = spec
        count = max(1, min(resolve_workers(workers), len(spec.agent_numbers())))
        self._setups = [
            _WorkerSetup(
                replace(spec, worker_index=i, worker_count=count, progress_interval_s=_report_s(spec)),
                settings,
                peers,
                limits or SelfCheckLimits(),
                use_uvloop,
                logging.getLogger().getEffectiveLevel(),
                prompts or PromptSettings(),
            )
            for i in range(count)
        ]
        self._workers = [_Worker(i, len(s.spec.agent_slots())) for i, s in enumerate(self._setups)]
        self._start_timeout_s = start_timeout_s
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._changed = asyncio.Event()
        self._t0 = time.monotonic()
        self._t_open = 0.0

    @property
    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None and w.process.pid]

    def request_stop(self, reason: str) -> None:
        """Close the window now (or skip it, during warm-up) and finish the level cleanly."""
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    def counters(self) -> Counters:
        """The sum of the workers' latest counters; self-checks combined."""
        return _sum_counters([w.counters for w in self._workers])

    async def run(self, emit: Callable[[LevelEvent], None]) -> LevelResult:
        """Run the level, calling ``emit`` for each event (it must not block)."""
        self._t0 = time.monotonic()
        try:
            await self._start()
            ticker = asyncio.get_running_loop().create_task(self._progress(emit))
            loops = ", ".join(sorted({w.loop_name for w in self._workers}))
            agents, count = sum(w.counters.agents for w in self._workers), len(self._workers)
            emit(
                self._event(
                    EventKind.STARTED,
                    f"{agents} agents in {count} worker process{'es' if count > 1 else ''} ({loops}) "
                    f"over {len(self._trajectories)} trajectories",
                )
            )
            warmup_timed_out = False
            try:
                warmup_timed_out = await self._measure(emit)
            finally:
                result = await self._close(emit, ticker, warmup_timed_out)
            return result
        finally:
            await self._reap()

    async def _start(self) -> None:
        payload = pickle.dumps(self._trajectories, protocol=pickle.HIGHEST_PROTOCOL)
        await asyncio.gather(
            *(self._spawn(w, s, payload) for w, s in zip(self._workers, self._setups, strict=True))
        )
        try:
            async with asyncio.timeout(self._start_timeout_s):
                await asyncio.gather(*(w.ready.wait() for w in self._workers))
        except TimeoutError:
            raise errors.UnavailableError(
                f"loadgen workers not ready after {self._start_timeout_s:g} s"
            ) from None
        for w in self._workers:
            if w.error:
                raise _worker_error(w)
        for w in self._workers:
            w.send(("start",))

    async def _spawn(self, worker: _Worker, setup: _WorkerSetup, payload: bytes) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=worker_main, args=(child, setup), name=f"loadgen-worker{worker.index}", daemon=True
        )
        worker.process, worker.conn = process, parent
        await asyncio.to_thread(process.start)
        child.close()
        self._listen(worker)
        # A large dataset fills the pipe: send from a thread, the worker reads it first thing.
        await asyncio.to_thread(parent.send_bytes, payload)

    def _listen(self, worker: _Worker) -> None:
        assert worker.conn is not None
        conn, loop = worker.conn, asyncio.get_running_loop()
        fd = conn.fileno()

        def readable() -> None:
            try:
                while conn.poll():
                    self._on_message(worker, conn.recv())
            except (EOFError, OSError):
                loop.remove_reader(fd)
                if not worker.finished.is_set():
                    code = worker.process.exitcode if worker.process is not None else None
                    worker.gone(f"worker {worker.index} exited (code {code}) before the level ended")
                    self.request_stop(f"worker {worker.index} died")
            self._changed.set()

        loop.add_reader(fd, readable)

    def _on_message(self, worker: _Worker, message: tuple[Any, ...]) -> None:
        tag = message[0]
        if tag == "ready":
            worker.loop_name = message[1]
            worker.ready.set()
        elif tag == "event":
            event: LevelEvent = message[1]
            worker.counters = event.counters
            if event.kind is EventKind.WINDOW_CLOSED:
                worker.closed.set()
        elif tag == "result":
            worker.result = message[1]
            worker.counters = worker.result.counters
            worker.closed.set()
            worker.finished.set()
        elif tag == "error":
            worker.error = f"{message[1]}: {message[2]}"
            worker.gone(worker.error)

    async def _measure(self, emit: Callable[[LevelEvent], None]) -> bool:
        spec = self.spec
        deadline = time.monotonic() + spec.warmup_timeout_s if spec.warmup_timeout_s else None
        warmed = await self._until(lambda: self.counters().warm, deadline)
        if self._stop.is_set():
            return False
        message = "every agent completed a request"
        if not warmed:
            c = self.counters()
            message = (
                f"warm-up timed out after {spec.warmup_timeout_s:g} s: not every one of "
                f"{c.agents} agents had completed a request; window opened anyway"
            )
            log.warning("run %s level %d: %s", spec.run_id, spec.level, message)
        self._t_open = t_open = time.monotonic()
        for w in self._workers:
            w.send(("open", message))
        emit(self._event(EventKind.WINDOW_OPEN, message))
        await wait_any([self._stop], spec.window_s)
        longest = max(spec.max_window_s, spec.window_s)
        if longest > spec.window_s and not self._stop.is_set():
            await self._until(
                lambda: self.counters().window_requests >= spec.min_window_requests, t_open + longest
            )
        await hold_window(spec, self._stop, lambda message: emit(self._event(EventKind.WINDOW_HOLD, message)))
        return not warmed

    async def _until(self, condition: Callable[[], bool], deadline: float | None) -> bool:
        """Wait until ``condition()`` (re-checked on every worker message) or stop or deadline."""
        while not condition():
            if self._stop.is_set():
                return False
            limit = None if deadline is None else deadline - time.monotonic()
            if limit is not None and limit <= 0:
                return False
            self._changed.clear()
            await wait_any([self._changed, self._stop], limit)
        return True

    async def _close(
        self, emit: Callable[[LevelEvent], None], ticker: asyncio.Task[None], warmup_timed_out: bool
    ) -> LevelResult:
        window_s = time.monotonic() - self._t_open if self._t_open else 0.0
        for w in self._workers:
            w.send(("stop", self._stop_reason))
        await asyncio.gather(*(w.closed.wait() for w in self._workers))
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        reason = f" ({self._stop_reason})" if self._stop_reason else ""
        emit(self._event(EventKind.WINDOW_CLOSED, f"window closed{reason}", window_s=window_s))
        await asyncio.gather(*(w.finished.wait() for w in self._workers))
        delivery = _sum_deliveries(self._workers)
        message = delivery.error or f"{delivery.delivered} records delivered"
        emit(self._event(EventKind.DONE, message, window_s=window_s, delivery_error=delivery.error))
        return LevelResult(self.counters(), delivery, window_s, warmup_timed_out, self._stop_reason)

    async def _progress(self, emit: Callable[[LevelEvent], None]) -> None:
        while True:
            await asyncio.sleep(self.spec.progress_interval_s)
            emit(self._event(EventKind.PROGRESS))

    async def _reap(self) -> None:
        """Make sure no worker outlives the level."""
        for w in self._workers:
            w.send(("stop", "level ended"))
        for w in self._workers:
            if w.conn is not None:
                with contextlib.suppress(ValueError, OSError):
                    asyncio.get_running_loop().remove_reader(w.conn.fileno())
            if w.process is None or w.process.pid is None:
                continue
            await asyncio.to_thread(w.process.join, 10.0)
            if w.process.is_alive():
                log.error("worker %d did not exit; killing it", w.index)
                w.process.kill()
                await asyncio.to_thread(w.process.join, 5.0)
            if w.conn is not None:
                w.conn.close()

    def _event(
        self, kind: EventKind, message: str = "", window_s: float = 0.0, delivery_error: str = ""
    ) -> LevelEvent:
        return LevelEvent(
            kind, time.monotonic() - self._t0, self.counters(), message, window_s, delivery_error
        )


def _report_s(spec: LevelSpec) -> float:
    # Workers report often: the parent's warm-up and min_window_requests checks wait on them.
    return min(0.1, spec.progress_interval_s)


def _worker_error(worker: _Worker) -> AgentperfError:
    kind, _, text = worker.error.partition(": ")
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, AgentperfError):
        return cls(f"loadgen worker {worker.index}: {text}")
    return AgentperfError(f"loadgen worker {worker.index}: {worker.error}")


def _sum_counters(parts: Sequence[Counters]) -> Counters:
    failures: dict[str, int] = {}
    for c in parts:
        for name, count in c.failures_by_class.items():
            failures[name] = failures.get(name, 0) + count
    return Counters(
        agents=sum(c.agents for c in parts),
        agents_in_flight=sum(c.agents_in_flight for c in parts),
        requests_sent=sum(c.requests_sent for c in parts),
        requests_done=sum(c.requests_done for c in parts),
        window_requests=sum(c.window_requests for c in parts),
        ok=sum(c.ok for c in parts),
        failed=sum(c.failed for c in parts),
        censored=sum(c.censored for c in parts),
        records_written=sum(c.records_written for c in parts),
        records_delivered=sum(c.records_delivered for c in parts),
        tool_errors=sum(c.tool_errors for c in parts),
        agent_errors=sum(c.agent_errors for c in parts),
        loop_lag_max_s=max((c.loop_lag_max_s for c in parts), default=0.0),
        failures_by_class=failures,
        agents_active=sum(c.agents_active for c in parts),
        warm=all(c.warm for c in parts),
        check=combine([c.check for c in parts]),
        prompt=merge_stats([c.prompt for c in parts]),
    )


def _sum_deliveries(workers: Sequence[_Worker]) -> Delivery:
    results = [w.result.delivery for w in workers if w.result is not None]
    problems = [
        f"worker {w.index}: {w.result.delivery.error}"
        for w in workers
        if w.result and w.result.delivery.error
    ]
    problems += [f"{w.error}; its records may be lost" for w in workers if w.result is None]
    return Delivery(
        sum(d.delivered for d in results),
        sum(d.accepted for d in results),
        sum(d.duplicates for d in results),
        "; ".join(problems),
    )
