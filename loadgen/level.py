"""One concurrency level from start to the judge's acknowledgement: :class:`LevelRunner`.

Life cycle: start the agents (staggered over ``stagger_s``); warm up until every agent has
completed a request (or ``warmup_timeout_s`` passed: the window then opens anyway and the
WINDOW_OPEN message says so); open the window (requests *sent* from then on are in_window);
keep it open at least ``window_s`` and until ``min_window_requests`` were sent in it, never
past ``max_window_s``; close it by cancelling the agents (a request in flight becomes a
CENSORED record, an agent in a tool gap leaves none); flush the records to the sink.
Every request sent yields exactly one record. ``request_stop`` closes early, cleanly.

With ``external_window`` the runner does not decide the window itself: :meth:`open_window`
opens it and :meth:`request_stop` closes it (a worker process of a
:class:`agentperf.loadgen.workers.PoolRunner`, told by its parent). Every runner checks
itself with a :class:`~agentperf.loadgen.selfcheck.LoopMonitor` (event-loop lag, CPU, agents
in flight); the verdict travels in ``Counters.check``.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from agentperf.errors import InputError
from agentperf.loadgen.agent import Agent, AgentEnv, LevelState
from agentperf.loadgen.client import ChatClient, ClientSettings
from agentperf.loadgen.profiles import length_fields
from agentperf.loadgen.prompt import PromptBuilder, PromptSettings, PromptStats
from agentperf.loadgen.selfcheck import LoopMonitor, SelfCheck, SelfCheckLimits
from agentperf.loadgen.sink import Delivery, RecordSink
from agentperf.loadgen.tools import ToolRunner
from agentperf.trajectory import ToolCall, Trajectory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LevelSpec:
    """What to run. ``level`` counts the agents of all shards together."""

    run_id: str
    level: int
    window_s: float
    warmup_timeout_s: float = 0.0  # 0: no limit (first_token_timeout_s still bounds every request)
    min_window_requests: int = 0
    max_window_s: float = 0.0  # 0: never extend past window_s
    # After the window's minimum (window_s and min_window_requests), keep it open up to this
    # long until the caller's StopLevel: the conductor extends a level whose verdict is
    # still open instead of measuring it again from a cold start. 0: close at the minimum.
    hold_s: float = 0.0
    # Each agent's first trajectory starts at a seeded random turn, the turns before it
    # prefilled into the history (sent in one warm-up request): steady-state contexts.
    start_random: bool = False
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1
    stagger_s: float = 0.0
    progress_interval_s: float = 1.0
    # Within this loadgen: the agent in slot s runs in worker s % worker_count.
    worker_index: int = 0
    worker_count: int = 1

    def agent_numbers(self) -> list[int]:
        """Global numbers of the agents this shard runs: a with a % shard_count == shard_index."""
        count = max(1, self.shard_count)
        return [a for a in range(self.level) if a % count == self.shard_index]

    def agent_slots(self) -> list[tuple[int, int]]:
        """(slot, global number) of the agents this worker runs: slot % worker_count == worker_index.

        The slot is the agent's index among this loadgen's agents; it picks the agent's
        trajectories and stagger whatever the number of workers.
        """
        return [
            (slot, number)
            for slot, number in enumerate(self.agent_numbers())
            if slot % self.worker_count == self.worker_index
        ]

    def validate(self) -> None:
        """Raise InputError naming the first bad field."""
        src = "RunLevelRequest"
        checks = (
            (bool(self.run_id) and "/" not in self.run_id, "run_id", "must be non-empty without '/'"),
            (self.level >= 1, "level", "must be at least 1"),
            (self.window_s > 0, "window_s", "must be positive"),
            (self.warmup_timeout_s >= 0, "warmup_timeout_s", "must not be negative"),
            (self.min_window_requests >= 0, "min_window_requests", "must not be negative"),
            (self.max_window_s >= 0, "max_window_s", "must not be negative"),
            (0 <= self.hold_s < math.inf, "hold_s", "must be a finite number >= 0"),
            (self.shard_count >= 0, "shard_count", "must not be negative"),
            (0 <= self.shard_index < max(1, self.shard_count), "shard_index", "must be in [0, shard_count)"),
            (self.worker_count >= 1, "worker_count", "must be at least 1"),
            (0 <= self.worker_index < self.worker_count, "worker_index", "must be in [0, worker_count)"),
        )
        for ok, name, problem in checks:
            if not ok:
                raise InputError(problem, source=src, field=name)


async def hold_window(spec: LevelSpec, stop: asyncio.Event, announce: Callable[[str], None]) -> None:
    """Keep a window that reached its minimum open for the caller, up to ``spec.hold_s``."""
    if spec.hold_s <= 0 or stop.is_set():
        return
    announce(f"window minimum reached; held open up to {spec.hold_s:g} s until the caller stops it")
    await wait_any([stop], spec.hold_s)


class EventKind(enum.Enum):
    STARTED = 1
    WINDOW_OPEN = 2
    PROGRESS = 3
    WINDOW_CLOSED = 4
    DONE = 5
    WINDOW_HOLD = 6


@dataclass(frozen=True)
class Counters:
    """A snapshot of a level's counters."""

    agents: int = 0
    agents_in_flight: int = 0
    requests_sent: int = 0
    requests_done: int = 0
    window_requests: int = 0
    ok: int = 0
    failed: int = 0
    censored: int = 0
    records_written: int = 0
    records_delivered: int = 0
    tool_errors: int = 0
    agent_errors: int = 0
    loop_lag_max_s: float = 0.0
    failures_by_class: dict[str, int] = field(default_factory=dict)
    agents_active: int = 0  # running their loop now: in a request or a tool gap
    warm: bool = False  # every agent has completed a request
    check: SelfCheck = field(default_factory=SelfCheck)
    prompt: PromptStats = field(default_factory=PromptStats)  # expected vs reported prompt tokens


@dataclass(frozen=True)
class LevelEvent:
    kind: EventKind
    elapsed_s: float
    counters: Counters
    message: str = ""
    window_s: float = 0.0
    delivery_error: str = ""


@dataclass(frozen=True)
class LevelResult:
    counters: Counters
    delivery: Delivery
    window_s: float
    warmup_timed_out: bool
    stop_reason: str


class _CountingTools:
    """Counts the agents in a tool gap (they are in flight: the trajectory's pace, not the client's)."""

    def __init__(self, inner: ToolRunner) -> None:
        self._inner = inner
        self.in_gap = 0

    @property
    def errors(self) -> int:
        return self._inner.errors

    async def run_tool(self, tool: ToolCall, key: str) -> None:
        self.in_gap += 1
        try:
            await self._inner.run_tool(tool, key)
        finally:
            self.in_gap -= 1


class _BackpressureClient(ChatClient):
    """A ChatClient whose ``stream`` waits, after the request ended, while the sink's backlog is full.

    The exchange is complete before the wait, so no measured interval is stretched; the agent
    merely starts its next request later, and is not counted in flight while it waits.
    """

    def __init__(self, settings: ClientSettings, agents: int, sink: RecordSink) -> None:
        super().__init__(settings, agents)
        self._sink = sink
        self.waiting = 0  # agents waiting now
        self.waits = 0  # times an agent had to wait

    async def stream(self, *args: Any, **kwargs: Any) -> None:
        await super().stream(*args, **kwargs)
        if self._sink.backlog_full:
            self.waits += 1
            self.waiting += 1
            try:
                await self._sink.wait_room()
            finally:
                self.waiting -= 1


def usable_trajectories(
    spec: LevelSpec, settings: ClientSettings, trajectories: Sequence[Trajectory]
) -> list[Trajectory]:
    """Check a level's inputs; the trajectories with at least one turn (none: InputError)."""
    spec.validate()
    length_fields(settings.engine_profile)
    usable = [t for t in trajectories if t.turn_count > 0]
    if not usable:
        raise InputError("no trajectory with at least one turn", source=f"shard {spec.shard_index}")
    return usable


class LevelRunner:
    """Runs one level; :meth:`counters` may be read at any time, cheaply."""

    def __init__(
        self,
        spec: LevelSpec,
        trajectories: Sequence[Trajectory],
        settings: ClientSettings,
        tools: ToolRunner,
        sink: RecordSink,
        *,
        limits: SelfCheckLimits | None = None,
        external_window: bool = False,
        prompts: PromptSettings | None = None,
    ) -> None:
        self._trajectories = usable_trajectories(spec, settings, trajectories)
        self.spec = spec
        self._settings = settings
        self._prompts = PromptBuilder(prompts or PromptSettings())
        self._tools = _CountingTools(tools)
        self._sink = sink
        self._slots = spec.agent_slots()
        self._slot_count = len(spec.agent_numbers())
        self.state = LevelState(len(self._slots), spec.min_window_requests)
        self.state.sink_put = sink.put
        self._client: _BackpressureClient | None = None
        self._monitor = LoopMonitor(
            limits or SelfCheckLimits(), len(self._slots), self._active, self._sink_waits
        )
        self._external = external_window
        self._opened = asyncio.Event()
        self._open_message = ""
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._t0 = time.monotonic()
        self._t_open = 0.0

    def request_stop(self, reason: str) -> None:
        """Close the window now (or skip it, during warm-up) and finish the level cleanly."""
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    def open_window(self, message: str) -> None:
        """Open the window now (``external_window`` runners only; others open it themselves)."""
        self._open_message = message
        self._opened.set()

    def counters(self) -> Counters:
        s = self.state
        return Counters(
            agents=len(self._slots),
            agents_in_flight=s.agents_in_flight,
            requests_sent=s.requests_sent,
            requests_done=s.requests_done,
            window_requests=s.window_requests,
            ok=s.ok,
            failed=s.failed,
            censored=s.censored,
            records_written=self._sink.written,
            records_delivered=self._sink.delivered,
            tool_errors=self._tools.errors,
            agent_errors=s.agent_errors,
            loop_lag_max_s=self._monitor.lag_max_s,
            failures_by_class=dict(s.failures_by_class),
            agents_active=self._active(),
            warm=s.warm.is_set(),
            check=self._monitor.check(),
            prompt=self._prompts.stats(),
        )

    async def run(self, emit: Callable[[LevelEvent], None]) -> LevelResult:
        """Run the level, calling ``emit`` for each event (it must not block)."""
        self._t0 = time.monotonic()
        self._client = client = _BackpressureClient(self._settings, self._slot_count, self._sink)
        self._sink.start()
        self._monitor.start()
        agents = self._start_agents(client)
        emit(
            self._event(
                EventKind.STARTED, f"{len(agents)} agents over {len(self._trajectories)} trajectories"
            )
        )
        ticker = asyncio.get_running_loop().create_task(self._progress(emit))
        warmup_timed_out = False
        try:
            warmup_timed_out = await self._measure(emit)
        finally:
            # Also on cancellation of run() itself: agents stop and records are still flushed.
            result = await self._close(emit, agents, ticker, client, warmup_timed_out)
        return result

    def _active(self) -> int:
        waiting = self._client.waiting if self._client is not None else 0
        return self.state.agents_in_flight + self._tools.in_gap - waiting

    def _sink_waits(self) -> int:
        return self._client.waits if self._client is not None else 0

    def _start_agents(self, client: ChatClient) -> list[asyncio.Task[None]]:
        spec = self.spec
        env = AgentEnv(
            spec.run_id,
            spec.level,
            spec.seed,
            self._settings.model,
            self._settings.engine_profile,
            self._trajectories,
            client,
            self._tools,
            self.state,
            self._prompts,
            spec.shard_index,
            spec.start_random,
        )
        n = self._slot_count
        loop = asyncio.get_running_loop()
        return [
            loop.create_task(Agent(env, number, slot, n).run(spec.stagger_s * slot / n))
            for slot, number in self._slots
        ]

    async def _measure(self, emit: Callable[[LevelEvent], None]) -> bool:
        if self._external:
            await wait_any([self._opened, self._stop], None)
            if not self._stop.is_set():
                self._open_window(emit, self._open_message)
                await self._stop.wait()
            return False
        spec = self.spec
        timeout = spec.warmup_timeout_s or None
        warmed = await wait_any([self.state.warm, self._stop], timeout)
        if self._stop.is_set():
            return False
        message = "every agent completed a request"
        if not warmed:
            message = (
                f"warm-up timed out after {spec.warmup_timeout_s:g} s: {self.state.warm_agents} of "
                f"{len(self._slots)} agents had completed a request; window opened anyway"
            )
            log.warning("run %s level %d: %s", spec.run_id, spec.level, message)
        t_open = self._open_window(emit, message)
        await wait_any([self._stop], spec.window_s)
        longest = max(spec.max_window_s, spec.window_s)
        short = self.state.window_requests < spec.min_window_requests
        if short and longest > spec.window_s and not self._stop.is_set():
            await wait_any([self._stop, self.state.enough], t_open + longest - time.monotonic())
        await hold_window(spec, self._stop, lambda message: emit(self._event(EventKind.WINDOW_HOLD, message)))
        return not warmed

    def _open_window(self, emit: Callable[[LevelEvent], None], message: str) -> float:
        self.state.window_open = True
        self._t_open = time.monotonic()
        self._monitor.open_window()
        emit(self._event(EventKind.WINDOW_OPEN, message))
        return self._t_open

    async def _close(
        self,
        emit: Callable[[LevelEvent], None],
        agents: list[asyncio.Task[None]],
        ticker: asyncio.Task[None],
        client: ChatClient,
        warmup_timed_out: bool,
    ) -> LevelResult:
        close = time.monotonic()
        self._monitor.close_window()
        window_s = close - self._t_open if self._t_open else 0.0
        self.state.close_mono = close
        for task in agents:
            task.cancel()
        await asyncio.gather(*agents, return_exceptions=True)
        self.state.window_open = False
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker
        reason = f" ({self._stop_reason})" if self._stop_reason else ""
        emit(self._event(EventKind.WINDOW_CLOSED, f"window closed{reason}", window_s=window_s))
        await client.close()
        delivery = await self._sink.close()
        await self._monitor.stop()
        message = delivery.error or f"{delivery.delivered} records delivered"
        emit(self._event(EventKind.DONE, message, window_s=window_s, delivery_error=delivery.error))
        return LevelResult(self.counters(), delivery, window_s, warmup_timed_out, self._stop_reason)

    async def _progress(self, emit: Callable[[LevelEvent], None]) -> None:
        interval = self.spec.progress_interval_s
        while True:
            await asyncio.sleep(interval)
            emit(self._event(EventKind.PROGRESS))

    def _event(
        self, kind: EventKind, message: str = "", window_s: float = 0.0, delivery_error: str = ""
    ) -> LevelEvent:
        return LevelEvent(
            kind, time.monotonic() - self._t0, self.counters(), message, window_s, delivery_error
        )


async def wait_any(events: Sequence[asyncio.Event], limit_s: float | None) -> bool:
    """Wait until one of ``events`` is set or ``limit_s`` passes; True if an event was set."""
    if any(e.is_set() for e in events):
        return True
    if limit_s is not None and limit_s <= 0:
        return False
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    return bool(done)
