"""One concurrency level from start to the judge's acknowledgement: :class:`LevelRunner`.

Life cycle: start the agents (staggered over ``stagger_s``); warm up until every agent has
completed a request (or ``warmup_timeout_s`` passed: the window then opens anyway and the
WINDOW_OPEN message says so); open the window (requests *sent* from then on are in_window);
keep it open at least ``window_s`` and until ``min_window_requests`` were sent in it, never
past ``max_window_s``; close it by cancelling the agents (a request in flight becomes a
CENSORED record, an agent in a tool gap leaves none); flush the records to the sink.
Every request sent yields exactly one record. ``request_stop`` closes early, cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentperf.errors import InputError
from agentperf.loadgen.agent import Agent, AgentEnv, LevelState
from agentperf.loadgen.client import ChatClient, ClientSettings
from agentperf.loadgen.profiles import length_fields
from agentperf.loadgen.sink import Delivery, RecordSink
from agentperf.loadgen.tools import ToolRunner
from agentperf.trajectory import Trajectory

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
    seed: int = 0
    shard_index: int = 0
    shard_count: int = 1
    stagger_s: float = 0.0
    progress_interval_s: float = 1.0

    def agent_numbers(self) -> list[int]:
        """Global numbers of the agents this shard runs: a with a % shard_count == shard_index."""
        count = max(1, self.shard_count)
        return [a for a in range(self.level) if a % count == self.shard_index]

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
            (self.shard_count >= 0, "shard_count", "must not be negative"),
            (0 <= self.shard_index < max(1, self.shard_count), "shard_index", "must be in [0, shard_count)"),
        )
        for ok, name, problem in checks:
            if not ok:
                raise InputError(problem, source=src, field=name)


class EventKind(enum.Enum):
    STARTED = 1
    WINDOW_OPEN = 2
    PROGRESS = 3
    WINDOW_CLOSED = 4
    DONE = 5


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


class LevelRunner:
    """Runs one level; :meth:`counters` may be read at any time, cheaply."""

    def __init__(
        self,
        spec: LevelSpec,
        trajectories: Sequence[Trajectory],
        settings: ClientSettings,
        tools: ToolRunner,
        sink: RecordSink,
    ) -> None:
        spec.validate()
        length_fields(settings.engine_profile)
        self._trajectories = [t for t in trajectories if t.turn_count > 0]
        if not self._trajectories:
            raise InputError("no trajectory with at least one turn", source=f"shard {spec.shard_index}")
        self.spec = spec
        self._settings = settings
        self._tools = tools
        self._sink = sink
        self._numbers = spec.agent_numbers()
        self.state = LevelState(len(self._numbers), spec.min_window_requests)
        self.state.sink_put = sink.put
        self._stop = asyncio.Event()
        self._stop_reason = ""
        self._t0 = time.monotonic()
        self._lag_max = 0.0
        self._delivered = 0
        self._t_open = 0.0

    def request_stop(self, reason: str) -> None:
        """Close the window now (or skip it, during warm-up) and finish the level cleanly."""
        if not self._stop_reason:
            self._stop_reason = reason
        self._stop.set()

    def counters(self) -> Counters:
        s = self.state
        return Counters(
            agents=len(self._numbers),
            agents_in_flight=s.agents_in_flight,
            requests_sent=s.requests_sent,
            requests_done=s.requests_done,
            window_requests=s.window_requests,
            ok=s.ok,
            failed=s.failed,
            censored=s.censored,
            records_written=self._sink.written,
            records_delivered=self._delivered,
            tool_errors=self._tools.errors,
            agent_errors=s.agent_errors,
            loop_lag_max_s=self._lag_max,
            failures_by_class=dict(s.failures_by_class),
        )

    async def run(self, emit: Callable[[LevelEvent], None]) -> LevelResult:
        """Run the level, calling ``emit`` for each event (it must not block)."""
        self._t0 = time.monotonic()
        client = ChatClient(self._settings, len(self._numbers))
        self._sink.start()
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
        )
        n = len(self._numbers)
        loop = asyncio.get_running_loop()
        return [
            loop.create_task(Agent(env, number, slot, n).run(spec.stagger_s * slot / n))
            for slot, number in enumerate(self._numbers)
        ]

    async def _measure(self, emit: Callable[[LevelEvent], None]) -> bool:
        spec = self.spec
        timeout = spec.warmup_timeout_s or None
        warmed = await _wait_any([self.state.warm, self._stop], timeout)
        if self._stop.is_set():
            return False
        self.state.window_open = True
        self._t_open = t_open = time.monotonic()
        message = "every agent completed a request"
        if not warmed:
            message = (
                f"warm-up timed out after {spec.warmup_timeout_s:g} s: {self.state.warm_agents} of "
                f"{len(self._numbers)} agents had completed a request; window opened anyway"
            )
            log.warning("run %s level %d: %s", spec.run_id, spec.level, message)
        emit(self._event(EventKind.WINDOW_OPEN, message))
        await _wait_any([self._stop], spec.window_s)
        longest = max(spec.max_window_s, spec.window_s)
        short = self.state.window_requests < spec.min_window_requests
        if short and longest > spec.window_s and not self._stop.is_set():
            await _wait_any([self._stop, self.state.enough], t_open + longest - time.monotonic())
        return not warmed

    async def _close(
        self,
        emit: Callable[[LevelEvent], None],
        agents: list[asyncio.Task[None]],
        ticker: asyncio.Task[None],
        client: ChatClient,
        warmup_timed_out: bool,
    ) -> LevelResult:
        close = time.monotonic()
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
        self._delivered = delivery.delivered
        message = delivery.error or f"{delivery.delivered} records delivered"
        emit(self._event(EventKind.DONE, message, window_s=window_s, delivery_error=delivery.error))
        return LevelResult(self.counters(), delivery, window_s, warmup_timed_out, self._stop_reason)

    async def _progress(self, emit: Callable[[LevelEvent], None]) -> None:
        interval = self.spec.progress_interval_s
        while True:
            due = time.monotonic() + interval
            await asyncio.sleep(interval)
            # Oversleeping means the loop was busy: the client may be the bottleneck.
            self._lag_max = max(self._lag_max, time.monotonic() - due)
            emit(self._event(EventKind.PROGRESS))

    def _event(
        self, kind: EventKind, message: str = "", window_s: float = 0.0, delivery_error: str = ""
    ) -> LevelEvent:
        return LevelEvent(
            kind, time.monotonic() - self._t0, self.counters(), message, window_s, delivery_error
        )


async def _wait_any(events: Sequence[asyncio.Event], limit_s: float | None) -> bool:
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
