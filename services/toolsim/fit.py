"""Delay distributions and their fit to recorded tool durations. Pure: no I/O, no gRPC.

``fitted`` uses the empirical distribution of a dataset's recorded durations: its inverse CDF
interpolates log-linearly between order statistics (the log of the ``q`` quantile lies at
position ``q * (n - 1)`` of the sorted log durations), so the median and P90 of many draws are
the recorded median and P90, while a heavy tail is kept as recorded rather than smoothed by a
parametric shape. A class with fewer than ``min_fit_samples`` recorded durations uses all
classes pooled; with fewer than that pooled too, the class keeps its lognormal. A lognormal
maximum-likelihood fit (mu, sigma of log seconds) is reported per class for information.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Literal, Protocol

from agentperf.errors import InputError
from agentperf.trajectory import TOOL_CLASSES

FitSource = Literal["class", "pooled", "none"]
_STANDARD_NORMAL = NormalDist()


class Distribution(Protocol):
    """A delay distribution in seconds: a seeded draw, its quantiles and a name for reports."""

    @property
    def description(self) -> str: ...

    def draw(self, rng: random.Random) -> float: ...

    def quantile(self, q: float) -> float: ...


def lognormal_model_name(median_s: float, sigma: float) -> str:
    return f"lognormal(median={float(median_s)}s,sigma={float(sigma)})"


@dataclass(frozen=True, slots=True)
class Lognormal:
    """Lognormal stated by its median and the sigma of log(delay)."""

    median_s: float
    sigma: float

    @property
    def description(self) -> str:
        return lognormal_model_name(self.median_s, self.sigma)

    def draw(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.median_s), self.sigma)

    def quantile(self, q: float) -> float:
        if self.sigma == 0:
            return self.median_s
        return self.median_s * math.exp(self.sigma * _STANDARD_NORMAL.inv_cdf(q))


class Empirical:
    """Empirical distribution of positive durations, inverse CDF log-linear between order statistics."""

    def __init__(self, durations: Iterable[float], description: str = "empirical") -> None:
        self._values = sorted(d for d in durations if d > 0)
        if not self._values:
            raise ValueError("an empirical distribution needs at least one positive duration")
        # Kept beside the values so an order statistic comes back exactly, not through exp(log(x)).
        self._logs = [math.log(d) for d in self._values]
        self._description = description

    @property
    def description(self) -> str:
        return self._description

    @property
    def samples(self) -> int:
        return len(self._logs)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (0 <= q <= 1): the minimum at 0, the maximum at 1."""
        position = min(max(q, 0.0), 1.0) * (len(self._logs) - 1)
        below = int(position)
        frac = position - below
        if frac == 0 or below >= len(self._logs) - 1:
            return self._values[min(below, len(self._values) - 1)]
        return math.exp(self._logs[below] + frac * (self._logs[below + 1] - self._logs[below]))

    def draw(self, rng: random.Random) -> float:
        return self.quantile(rng.random())


@dataclass(frozen=True, slots=True)
class LognormalFit:
    """Maximum-likelihood lognormal of a sample: mu and sigma of log seconds (sigma with 1/n)."""

    mu: float
    sigma: float
    samples: int

    @property
    def median_s(self) -> float:
        return math.exp(self.mu)


def lognormal_mle(durations: Iterable[float]) -> LognormalFit | None:
    """The lognormal MLE of the positive ``durations``; None when there are none."""
    logs = [math.log(d) for d in durations if d > 0]
    if not logs:
        return None
    mu = math.fsum(logs) / len(logs)
    sigma = math.sqrt(math.fsum((v - mu) ** 2 for v in logs) / len(logs))
    return LognormalFit(mu, sigma, len(logs))


@dataclass(frozen=True, slots=True)
class ClassFit:
    """What the fit gives one tool class: the distribution (None: keep the lognormal) and why."""

    tool_class: str
    class_samples: int
    source: FitSource
    distribution: Empirical | None
    lognormal: LognormalFit | None

    @property
    def samples(self) -> int:
        """Recorded durations behind the distribution in use (pooled count when pooled)."""
        return self.distribution.samples if self.distribution is not None else 0


@dataclass(frozen=True, slots=True)
class ToolFit:
    """A fit of every tool class to one dataset's recorded durations."""

    dataset: str
    min_fit_samples: int
    classes: Mapping[str, ClassFit]
    trajectories: int = 0
    tool_calls: int = 0

    @property
    def recorded(self) -> int:
        return sum(c.class_samples for c in self.classes.values())


def fit_durations(
    durations: Mapping[str, Iterable[float]],
    *,
    dataset: str,
    min_fit_samples: int,
    trajectories: int = 0,
    tool_calls: int = 0,
) -> ToolFit:
    """Fit every class of TOOL_CLASSES to its positive recorded durations (see the module docstring)."""
    per_class = {c: [d for d in durations.get(c, ()) if d > 0] for c in TOOL_CLASSES}
    everything = [d for values in per_class.values() for d in values]
    pooled = (
        Empirical(everything, f"fitted(dataset={dataset},pooled,n={len(everything)})")
        if len(everything) >= min_fit_samples
        else None
    )
    classes = {}
    for name, values in per_class.items():
        distribution: Empirical | None
        if len(values) >= min_fit_samples:
            source: FitSource = "class"
            distribution = Empirical(values, f"fitted(dataset={dataset},class={name},n={len(values)})")
        else:
            source, distribution = ("pooled", pooled) if pooled is not None else ("none", None)
        classes[name] = ClassFit(name, len(values), source, distribution, lognormal_mle(values))
    return ToolFit(dataset, min_fit_samples, classes, trajectories, tool_calls)


@dataclass
class DurationCollector:
    """Gathers (tool class, recorded duration) pairs while a dataset streams past."""

    dataset: str
    durations: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in TOOL_CLASSES})
    trajectories: int = 0
    tool_calls: int = 0

    def add(self, tool_class: str, duration_s: float, where: str) -> None:
        """Count one tool call; a duration of 0 means unknown. ``where`` names the record for errors."""
        tool_class = tool_class or "other"
        if tool_class not in self.durations:
            raise InputError(
                f"unknown tool class {tool_class!r}",
                source=f"dataset {self.dataset!r} {where}",
                field="tool_class",
            )
        if not math.isfinite(duration_s) or duration_s < 0:
            raise InputError(
                f"must be a finite number >= 0, got {duration_s}",
                source=f"dataset {self.dataset!r} {where}",
                field="recorded_duration_s",
            )
        self.tool_calls += 1
        if duration_s > 0:
            self.durations[tool_class].append(duration_s)

    def fit(self, min_fit_samples: int) -> ToolFit:
        return fit_durations(
            self.durations,
            dataset=self.dataset,
            min_fit_samples=min_fit_samples,
            trajectories=self.trajectories,
            tool_calls=self.tool_calls,
        )
