"""The client checks itself: was the load generator, not the server, the bottleneck of a level?

Every worker (and the in-process runner) runs a :class:`LoopMonitor` over its level:

* **event-loop lag**: a ticker task sleeps ``tick_s`` (50 ms) again and again and records how
  late it woke up. A busy loop wakes it late, and reads every stream just as late, so lag
  is added to every TTFT and token gap the worker measures. Reported: the worst lag of the
  whole level (warm-up included) and the worst and the 99th percentile within the window.
* **CPU**: process CPU time (all threads: the event loop, gRPC's polling threads) over the
  window's wall time; 1.0 is one core, fully used. A worker is one event loop on one core,
  so near 1.0 it cannot keep up however many cores the machine has.
* **agents in flight**: at every tick, the number of this worker's agents that are running
  their loop: in a request (from the moment it is sent until its record is built) or in a
  tool gap. Not counted: an agent still in its stagger wait, one pausing after an internal
  error, and one held back by the record backlog (judge backpressure). Reported: the
  time-average over the window (sampled each tick) and the minimum. It cannot see an agent
  whose stream is open but not being read because the loop is busy: the lag and CPU
  checks are there for that.

A level is **invalid** when, in any worker, lag p99 exceeds ``max_lag_p99_s``, CPU exceeds
``max_cpu``, or the mean of agents in flight is below ``min_active`` of the agents it was
asked to run. An invalid level is neither passed nor failed: the measurement says more
about the client than about the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class SelfCheckLimits:
    """Thresholds beyond which a worker is deemed the bottleneck (see the module docstring)."""

    tick_s: float = 0.05
    max_lag_p99_s: float = 0.05
    max_cpu: float = 0.9
    min_active: float = 0.95


@dataclass(frozen=True)
class SelfCheck:
    """What one worker measured, or the combination over a level's workers.

    Combined: lag and CPU figures are the worst worker's, ``agents`` and ``active_mean``
    are sums, ``active_min`` is the sum of the workers' minima (a lower bound), ``cpu_s``
    and ``sink_waits`` are sums, ``rss_peak_bytes`` is the largest worker's.
    """

    workers: int = 1
    agents: int = 0
    window_s: float = 0.0
    lag_max_s: float = 0.0  # whole level, warm-up included
    lag_window_max_s: float = 0.0
    lag_p99_s: float = 0.0  # window
    cpu_s: float = 0.0  # process CPU seconds within the window
    cpu_fraction: float = 0.0  # cpu_s / window_s
    active_mean: float = 0.0
    active_min: int = 0
    samples: int = 0  # ticks within the window
    sink_waits: int = 0
    rss_peak_bytes: int = 0
    valid: bool = True
    invalid_reason: str = ""


def judge_check(check: SelfCheck, limits: SelfCheckLimits) -> SelfCheck:
    """``check`` with ``valid`` and ``invalid_reason`` set from ``limits``."""
    reasons = []
    if check.lag_p99_s > limits.max_lag_p99_s:
        reasons.append(
            f"event-loop lag p99 {check.lag_p99_s * 1e3:.1f} ms > {limits.max_lag_p99_s * 1e3:g} ms"
        )
    if check.cpu_fraction > limits.max_cpu:
        reasons.append(f"CPU {check.cpu_fraction:.0%} of a core > {limits.max_cpu:.0%}")
    if check.samples and check.agents and check.active_mean < limits.min_active * check.agents:
        reasons.append(
            f"{check.active_mean:.1f} of {check.agents} agents in flight on average "
            f"(< {limits.min_active:.0%})"
        )
    return replace(check, valid=not reasons, invalid_reason="; ".join(reasons))


def combine(checks: Sequence[SelfCheck]) -> SelfCheck:
    """One figure set for the level; invalid if any worker is, naming the workers."""
    if not checks:
        return SelfCheck(workers=0)
    reasons = [f"worker {i}: {c.invalid_reason}" for i, c in enumerate(checks) if not c.valid]
    return SelfCheck(
        workers=len(checks),
        agents=sum(c.agents for c in checks),
        window_s=max(c.window_s for c in checks),
        lag_max_s=max(c.lag_max_s for c in checks),
        lag_window_max_s=max(c.lag_window_max_s for c in checks),
        lag_p99_s=max(c.lag_p99_s for c in checks),
        cpu_s=sum(c.cpu_s for c in checks),
        cpu_fraction=max(c.cpu_fraction for c in checks),
        active_mean=sum(c.active_mean for c in checks),
        active_min=sum(c.active_min for c in checks),
        samples=min(c.samples for c in checks),
        sink_waits=sum(c.sink_waits for c in checks),
        rss_peak_bytes=max(c.rss_peak_bytes for c in checks),
        valid=not reasons,
        invalid_reason="; ".join(reasons),
    )


_BIN_S = 1e-4  # lag histogram resolution: 0.1 ms


def histogram_quantile(bins: dict[int, int], q: float) -> float:
    """Nearest-rank quantile of a histogram of ``_BIN_S``-wide bins (upper edge); 0.0 when empty."""
    count = sum(bins.values())
    if not count:
        return 0.0
    rank = max(1, math.ceil(q * count))
    seen = 0
    for key in sorted(bins):
        seen += bins[key]
        if seen >= rank:
            return key * _BIN_S
    return max(bins) * _BIN_S


def peak_rss_bytes() -> int:
    """This process's peak resident set size (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class LoopMonitor:
    """Samples loop lag and agents in flight every ``tick_s``; CPU over the window.

    ``active`` returns the number of agents running their loop right now; ``sink_waits``
    the number of times an agent has waited on the record backlog so far.
    """

    def __init__(
        self,
        limits: SelfCheckLimits,
        agents: int,
        active: Callable[[], int],
        sink_waits: Callable[[], int] = lambda: 0,
    ) -> None:
        self.limits = limits
        self._agents = agents
        self._active = active
        self._sink_waits = sink_waits
        self._task: asyncio.Task[None] | None = None
        self._lag_max = 0.0
        self._lag_window_max = 0.0
        self._lag_bins: dict[int, int] = {}  # window only; constant memory however long it is
        self._samples = 0
        self._active_sum = 0
        self._active_min = agents
        self._window = False
        self._t_open = self._t_close = 0.0
        self._cpu_open = self._cpu_close = 0.0

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._tick())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def open_window(self) -> None:
        self._window = True
        self._t_open = time.monotonic()
        self._cpu_open = time.process_time()

    def close_window(self) -> None:
        if self._window:
            self._window = False
            self._t_close = time.monotonic()
            self._cpu_close = time.process_time()

    @property
    def lag_max_s(self) -> float:
        return self._lag_max

    def check(self) -> SelfCheck:
        """The figures so far (the window so far while it is open), judged against the limits."""
        if self._window:
            window_s, cpu_s = time.monotonic() - self._t_open, time.process_time() - self._cpu_open
        elif self._t_close:
            window_s, cpu_s = self._t_close - self._t_open, self._cpu_close - self._cpu_open
        else:
            window_s = cpu_s = 0.0
        samples = self._samples
        check = SelfCheck(
            workers=1,
            agents=self._agents,
            window_s=window_s,
            lag_max_s=self._lag_max,
            lag_window_max_s=self._lag_window_max,
            lag_p99_s=min(histogram_quantile(self._lag_bins, 0.99), self._lag_window_max),
            cpu_s=cpu_s,
            cpu_fraction=cpu_s / window_s if window_s > 0 else 0.0,
            active_mean=self._active_sum / samples if samples else float(self._agents),
            active_min=self._active_min if samples else self._agents,
            samples=samples,
            sink_waits=self._sink_waits(),
            rss_peak_bytes=peak_rss_bytes(),
        )
        return judge_check(check, self.limits)

    async def _tick(self) -> None:
        tick = self.limits.tick_s
        while True:
            due = time.monotonic() + tick
            await asyncio.sleep(tick)
            lag = max(0.0, time.monotonic() - due)
            self._lag_max = max(self._lag_max, lag)
            if self._window:
                key = math.ceil(lag / _BIN_S)
                self._lag_bins[key] = self._lag_bins.get(key, 0) + 1
                self._lag_window_max = max(self._lag_window_max, lag)
                self._samples += 1
                active = self._active()
                self._active_sum += active
                self._active_min = min(self._active_min, active)
