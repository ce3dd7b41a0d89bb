"""Concurrency search: the highest number of agents that meets each SLO tier, in few levels.

One measurement at a level gives a verdict for every tier, so one sweep answers all tiers:
grow geometrically until every tier has failed somewhere (or the ceiling is reached), then
split, always the tier whose bracket is widest, until each bracket is within the resolution.
A split interpolates where the tier's margin (distance to its SLO bounds) crosses zero when
both ends have one, and bisects otherwise. Pure: no I/O, no clock; the conductor feeds it
verdicts.

Per tier the answer is ``lo``, the highest passing level below ``hi``, the lowest failing
level. A pass measured above ``hi`` (noise, or a non-monotone system) does not move the
answer up; it is reported as ``non_monotone`` so a reader knows the curve was not clean.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import Field

from agentperf.config import StrictModel


class SearchConfig(StrictModel):
    """How the search picks levels."""

    start: int = Field(4, ge=1, description="First concurrency level measured.")
    growth: float = Field(2.0, gt=1.0, description="Factor between levels while growing geometrically.")
    max_level: int = Field(4096, ge=1, description="Ceiling: the search never measures above this level.")
    resolution_agents: int = Field(
        1, ge=1, description="Stop bisecting a tier once hi - lo <= this many agents."
    )
    resolution_pct: float = Field(
        0.0, ge=0.0, le=100.0, description="Or once hi - lo <= this percentage of lo (whichever is larger)."
    )
    max_levels: int = Field(40, ge=1, description="Hard cap on the number of levels measured in one run.")


@dataclass
class TierResult:
    tier: str
    max_level: int  # highest passing level below the lowest failing one; 0: none passed
    lowest_failing: int | None  # None: never failed up to the ceiling
    converged: bool
    non_monotone: bool = False
    passing_above_failure: list[int] = field(default_factory=list)
    # The answer is bounded by the load generator, not the server: a level at or below the
    # bracket's top was invalid (the client was the bottleneck), so the true limit may be higher.
    client_limited: bool = False
    # The lowest failing level was only INCONCLUSIVE (every attempt), counted as not passing:
    # the true answer may be higher.
    inconclusive: bool = False


@dataclass
class ConcurrencySearch:
    tiers: Sequence[str]
    config: SearchConfig
    # level -> tier -> passed
    measured: dict[int, dict[str, bool]] = field(default_factory=dict)
    # Levels the load generator could not drive (its own self-check failed): neither pass nor fail.
    invalid: set[int] = field(default_factory=set)
    # level -> tiers that stayed inconclusive there (recorded as not passing).
    inconclusive: dict[int, set[str]] = field(default_factory=dict)
    # level -> tier -> margin: how far the level was from the tier's bounds (> 0 inside, < 0
    # outside; see conductor.tier_margin). Guides the bisection by interpolation when known.
    margins: dict[int, dict[str, float]] = field(default_factory=dict)

    def mark_invalid(self, level: int) -> None:
        """The client was the bottleneck at ``level``: nothing at or above it can be measured."""
        self.invalid.add(level)

    @property
    def ceiling(self) -> int:
        """The highest level the search may still measure."""
        return min([self.config.max_level, *(lvl - 1 for lvl in self.invalid)])

    def record(
        self,
        level: int,
        passed: Mapping[str, bool],
        inconclusive: Iterable[str] = (),
        margins: Mapping[str, float] | None = None,
    ) -> None:
        """The verdicts at ``level``; an ``inconclusive`` tier must be given as not passed."""
        missing = set(self.tiers) - set(passed)
        if missing:
            raise ValueError(f"level {level}: no verdict for tiers {sorted(missing)}")
        unsure = set(inconclusive)
        if any(passed.get(t) for t in unsure):
            raise ValueError(f"level {level}: an inconclusive tier cannot pass")
        self.measured[level] = {t: bool(passed[t]) for t in self.tiers}
        if unsure:
            self.inconclusive[level] = unsure
        if margins:
            self.margins[level] = {t: m for t, m in margins.items() if math.isfinite(m)}

    def answer(self, tier: str) -> int:
        """The tier's answer so far: its highest passing level below its lowest failing one."""
        return self._bracket(tier)[0]

    def open_at(self, level: int) -> list[str]:
        """Tiers whose answer a verdict at ``level`` can still change (it lies inside their bracket).

        For the others the answer is implied (monotone SLOs): a tier that already failed lower
        fails here, one that passed higher passes. The conductor re-measures an inconclusive level
        and stops a clearly failing one early on these tiers only.
        """
        out = []
        for tier in self.tiers:
            lo, hi = self._bracket(tier)
            top = min(hi, self.ceiling + 1) if hi is not None else self.ceiling + 1
            if lo < level < top:
                out.append(tier)
        return out

    def _bracket(self, tier: str) -> tuple[int, int | None]:
        failing = [lvl for lvl, v in self.measured.items() if not v[tier]]
        hi = min(failing) if failing else None
        passing = [lvl for lvl, v in self.measured.items() if v[tier] and (hi is None or lvl < hi)]
        return (max(passing) if passing else 0), hi

    def _resolution(self, lo: int) -> int:
        return max(self.config.resolution_agents, math.ceil(self.config.resolution_pct / 100.0 * lo))

    def _tier_done(self, tier: str) -> bool:
        lo, hi = self._bracket(tier)
        top = min(hi, self.ceiling + 1) if hi is not None else self.ceiling + 1
        if hi is None and max(self.measured, default=0) >= self.ceiling:
            return True
        return top - lo <= self._resolution(lo)

    def next_level(self) -> int | None:
        """The next level to measure, or None when every tier is answered (or the cap is hit)."""
        if len(self.measured) + len(self.invalid) >= self.config.max_levels or self.ceiling < 1:
            return None
        if not self.measured:
            return min(self.config.start, self.ceiling)
        open_tiers = [t for t in self.tiers if not self._tier_done(t)]
        if not open_tiers:
            return None
        top = max(self.measured)
        if any(self._bracket(t)[1] is None for t in open_tiers) and top < self.ceiling:
            return min(self.ceiling, max(top + 1, math.ceil(top * self.config.growth)))

        def bracket(t: str) -> tuple[int, int]:
            lo, hi = self._bracket(t)
            return lo, min(hi, self.ceiling + 1) if hi is not None else self.ceiling + 1

        tier, (lo, hi) = max(((t, bracket(t)) for t in open_tiers), key=lambda tb: tb[1][1] - tb[1][0])
        return self._split(tier, lo, hi)

    def _split(self, tier: str, lo: int, hi: int) -> int:
        """The next level inside (lo, hi): where the margin crosses zero, else the midpoint.

        SLO margins fall smoothly with load, so linear interpolation between the bracket's ends
        usually lands next to the answer, and the next step confirms it: about two levels per
        tier instead of log2(bracket). The guess is kept in the bracket's middle half, so an
        unlucky one still shrinks the bracket by a quarter; without both margins it bisects.
        """
        mid = (lo + hi) // 2
        m_lo = self.margins.get(lo, {}).get(tier)
        m_hi = self.margins.get(hi, {}).get(tier)
        if m_lo is None or m_hi is None or not m_lo > 0 > m_hi:
            return mid
        guess = lo + (hi - lo) * m_lo / (m_lo - m_hi)
        quarter = (hi - lo) / 4
        level = round(min(max(guess, lo + quarter), hi - quarter))
        # lo < level < hi because the bracket is wider than the resolution (>= 1 agent).
        return min(max(level, lo + 1), hi - 1)

    def results(self) -> list[TierResult]:
        out = []
        for tier in self.tiers:
            lo, hi = self._bracket(tier)
            above = sorted(lvl for lvl, v in self.measured.items() if v[tier] and hi is not None and lvl > hi)
            out.append(
                TierResult(
                    tier=tier,
                    max_level=lo,
                    lowest_failing=hi,
                    converged=self._tier_done(tier),
                    non_monotone=bool(above),
                    passing_above_failure=above,
                    client_limited=bool(self.invalid) and (hi is None or hi > self.ceiling),
                    inconclusive=hi is not None and tier in self.inconclusive.get(hi, ()),
                )
            )
        return out
