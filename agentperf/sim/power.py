"""Power and energy of the simulated GPUs, derived from the engine's step schedule.

While a step runs, each GPU draws ``idle_w + (max_w - idle_w) * u`` with
``u = busy_floor + (1 - busy_floor) * fill`` (``fill`` from the engine: how full the batch is);
between steps it draws ``idle_w``. Energy is that power integrated exactly up to the moment it is
read (a step in progress counts up to then), so mean power over any interval equals the energy
counter's increase divided by the interval, as with DCGM's total-energy counter. The power and
utilisation gauges average over the last ``power_window_s``. Times are seconds on any one
monotonic clock (real for the server, virtual in simulations); all GPUs of a profile run the
same steps, so the figures are per GPU.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from agentperf.sim.profile import SimProfile


@dataclass(frozen=True)
class PowerReading:
    """Per-GPU figures at one instant."""

    power_w: float
    energy_j: float
    utilisation: float


class PowerModel:
    """Integrates per-GPU power over recorded steps."""

    def __init__(self, profile: SimProfile, start_s: float) -> None:
        self.idle_w = profile.idle_w
        self.dynamic_w = profile.max_w - profile.idle_w
        self.busy_floor = profile.busy_floor
        self.window_s = profile.power_window_s
        self.start_s = start_s
        self._steps: deque[tuple[float, float, float]] = deque()
        self._retired_util_s = 0.0

    def record_step(self, start_s: float, duration_s: float, fill: float) -> None:
        """A step runs from ``start_s`` for ``duration_s`` with batch fill ``fill`` (0..1)."""
        if duration_s <= 0:
            return
        utilisation = self.busy_floor + (1.0 - self.busy_floor) * min(1.0, max(0.0, fill))
        self._steps.append((start_s, start_s + duration_s, utilisation))
        # Without a scrape the history would grow without bound.
        self._retire(start_s - self.window_s)

    def reading(self, now_s: float) -> PowerReading:
        """Power (mean over the window), energy since start and busy fraction at ``now_s``."""
        self._retire(now_s - self.window_s)
        window_start = max(self.start_s, now_s - self.window_s)
        util_s = self._retired_util_s
        window_util_s = window_busy_s = 0.0
        for start, end, utilisation in self._steps:
            util_s += utilisation * _overlap(start, end, self.start_s, now_s)
            inside = _overlap(start, end, window_start, now_s)
            window_util_s += utilisation * inside
            window_busy_s += inside
        span = now_s - window_start
        mean_util = window_util_s / span if span > 0 else 0.0
        return PowerReading(
            power_w=self.idle_w + self.dynamic_w * mean_util,
            energy_j=self.idle_w * max(0.0, now_s - self.start_s) + self.dynamic_w * util_s,
            utilisation=window_busy_s / span if span > 0 else 0.0,
        )

    def _retire(self, before_s: float) -> None:
        """Fold steps that ended before ``before_s`` into the running integral."""
        steps = self._steps
        while steps and steps[0][1] <= before_s:
            start, end, utilisation = steps.popleft()
            self._retired_util_s += utilisation * (end - max(start, self.start_s))


def _overlap(start: float, end: float, lo: float, hi: float) -> float:
    return max(0.0, min(end, hi) - max(start, lo))
