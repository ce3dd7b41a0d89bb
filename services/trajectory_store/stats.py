"""Dataset statistics: distributions of turns, token lengths, context growth and tool delays.

Pure: :class:`StatsBuilder` is fed one trajectory at a time (the store streams rows in
batches, so the dataset is never held as objects) and keeps only compact numeric arrays:
five 8-byte values per turn (new input, output, cached, request length, context growth), one
8-byte value per tool call with a recorded duration, and two per trajectory. That is about
40-48 bytes per turn, 24 MB for 500,000 turns; :meth:`StatsBuilder.result` sorts one measure
at a time. Quantiles are nearest-rank: the ``ceil(q * n)``-th smallest value, always one of
the values.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

from agentperf.trajectory import TOOL_CLASSES, Trajectory

QUANTILES = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class Distribution:
    """Summary of a set of values; every field is 0 for an empty set."""

    count: int = 0
    min: float = 0.0
    mean: float = 0.0
    p50: float = 0.0
    p90: float = 0.0
    p95: float = 0.0
    p99: float = 0.0
    max: float = 0.0


def nearest_rank(ordered: list[float] | list[int], q: float) -> float:
    """The ceil(q * n)-th smallest of ``ordered`` (sorted, non-empty); q in (0, 1]."""
    rank = max(1, math.ceil(q * len(ordered)))
    return float(ordered[rank - 1])


def distribution(values: Iterable[float] | Iterable[int]) -> Distribution:
    """Count, min, mean, nearest-rank P50/P90/P95/P99 and max of ``values``."""
    ordered = sorted(values)
    if not ordered:
        return Distribution()
    p50, p90, p95, p99 = (nearest_rank(ordered, q) for q in QUANTILES)
    return Distribution(
        count=len(ordered),
        min=float(ordered[0]),
        mean=math.fsum(ordered) / len(ordered),
        p50=p50,
        p90=p90,
        p95=p95,
        p99=p99,
        max=float(ordered[-1]),
    )


@dataclass(frozen=True, slots=True)
class ToolClassStats:
    tool_class: str
    calls: int
    calls_with_duration: int
    duration_s: Distribution


@dataclass(frozen=True, slots=True)
class DatasetStats:
    """Every distribution :class:`StatsBuilder` measures (see agentperf.v1.DatasetStats)."""

    trajectories: int
    turns_per_trajectory: Distribution
    phases_per_trajectory: Distribution
    input_tokens_per_turn: Distribution
    output_tokens_per_turn: Distribution
    cached_tokens_per_turn: Distribution
    request_tokens: Distribution
    context_growth_tokens: Distribution
    tool_delay_s: Distribution
    tool_calls: int
    tools: tuple[ToolClassStats, ...]


@dataclass
class _ToolTally:
    calls: int = 0
    durations: array[float] = field(default_factory=lambda: array("d"))


class StatsBuilder:
    """Accumulates per-turn numbers; feed with :meth:`add`, read with :meth:`result`."""

    def __init__(self) -> None:
        self._turns = array("q")
        self._phases = array("q")
        self._inputs = array("q")
        self._outputs = array("q")
        self._cached = array("q")
        self._requests = array("q")
        self._growth = array("q")
        self._tools: dict[str, _ToolTally] = {name: _ToolTally() for name in TOOL_CLASSES}

    def add(self, traj: Trajectory) -> None:
        """Take one trajectory's numbers; the trajectory itself is not kept."""
        self._turns.append(traj.turn_count)
        self._phases.append(len(traj.phases))
        for phase in traj.phases:
            context = phase.preamble_tokens
            previous: int | None = None
            for turn in phase.turns:
                request = context + turn.input_tokens
                self._inputs.append(turn.input_tokens)
                self._outputs.append(turn.output_tokens)
                self._cached.append(turn.cached_tokens)
                self._requests.append(request)
                if previous is not None:
                    self._growth.append(request - previous)
                previous = request
                context = request + turn.output_tokens
                if turn.tool is not None:
                    self._tool(turn.tool.tool_class, turn.tool.recorded_duration_s)

    def _tool(self, tool_class: str, duration_s: float) -> None:
        tally = self._tools.setdefault(tool_class, _ToolTally())
        tally.calls += 1
        if duration_s > 0:
            tally.durations.append(duration_s)

    def result(self) -> DatasetStats:
        tools = tuple(
            ToolClassStats(name, t.calls, len(t.durations), distribution(t.durations))
            for name, t in self._tools.items()
        )
        every_duration = (d for t in self._tools.values() for d in t.durations)
        return DatasetStats(
            trajectories=len(self._turns),
            turns_per_trajectory=distribution(self._turns),
            phases_per_trajectory=distribution(self._phases),
            input_tokens_per_turn=distribution(self._inputs),
            output_tokens_per_turn=distribution(self._outputs),
            cached_tokens_per_turn=distribution(self._cached),
            request_tokens=distribution(self._requests),
            context_growth_tokens=distribution(self._growth),
            tool_delay_s=distribution(every_duration),
            tool_calls=sum(t.calls for t in tools),
            tools=tools,
        )


def dataset_stats(trajectories: Iterable[Trajectory]) -> DatasetStats:
    """Statistics of ``trajectories`` (consumed one at a time)."""
    builder = StatsBuilder()
    for traj in trajectories:
        builder.add(traj)
    return builder.result()
