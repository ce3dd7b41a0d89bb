"""The concurrency search finds each tier's true limit on monotone systems, in few levels."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.search import ConcurrencySearch, SearchConfig

TIERS = ("slo1", "slo2", "slo3")


def drive(search: ConcurrencySearch, limits: dict[str, int]) -> list[int]:
    """Run the search against a system that passes tier t exactly at levels <= limits[t]."""
    order = []
    while (level := search.next_level()) is not None:
        assert level not in search.measured, f"level {level} measured twice"
        order.append(level)
        search.record(level, {t: level <= limits[t] for t in search.tiers})
    return order


@given(
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(0, 300),
    st.integers(1, 16),
)
@settings(max_examples=200, deadline=None)
def test_finds_every_tier_limit_exactly_at_one_agent_resolution(a: int, b: int, c: int, start: int) -> None:
    limits = dict(zip(TIERS, (a, b, c), strict=True))
    search = ConcurrencySearch(TIERS, SearchConfig(start=start, max_level=512))
    drive(search, limits)
    for result in search.results():
        assert result.max_level == limits[result.tier]
        assert result.lowest_failing == limits[result.tier] + 1
        assert result.converged and not result.non_monotone


def test_next_measured_level_above_the_answer_fails() -> None:
    limits = {"slo1": 45, "slo2": 11, "slo3": 2}
    search = ConcurrencySearch(TIERS, SearchConfig(start=4, resolution_pct=10))
    drive(search, limits)
    for result in search.results():
        above = sorted(lvl for lvl in search.measured if lvl > result.max_level)
        assert above, result
        assert not search.measured[above[0]][result.tier]
        if result.max_level:
            assert search.measured[result.max_level][result.tier]
        # within 10 % of the truth, never above it
        assert limits[result.tier] - result.max_level <= max(1, 0.1 * limits[result.tier])
        assert result.max_level <= limits[result.tier]


def test_uses_far_fewer_levels_than_a_linear_ramp() -> None:
    limits = {"slo1": 200, "slo2": 60, "slo3": 9}
    levels = drive(ConcurrencySearch(TIERS, SearchConfig(start=4)), limits)
    # a +1 ramp needs 201 levels; geometric growth + bisection per tier needs a few dozen at most
    assert len(levels) <= 30


def test_ceiling_reached_without_failure_is_reported_unbounded() -> None:
    search = ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=20))
    levels = drive(search, {"slo1": 1000, "slo2": 1000, "slo3": 1000})
    assert levels == [4, 8, 16, 20]
    assert all(r.max_level == 20 and r.lowest_failing is None and r.converged for r in search.results())


def test_non_monotone_pass_above_failure_does_not_raise_the_answer() -> None:
    # slo2 keeps the geometric phase going past slo1's first failure, so slo1 is measured at 16 too
    search = ConcurrencySearch(("slo1", "slo2"), SearchConfig(start=4, max_level=64))
    slo1 = {4: True, 6: True, 7: True, 8: False, 16: True}
    while (level := search.next_level()) is not None:
        search.record(level, {"slo1": slo1.get(level, False), "slo2": level <= 40})
    result = search.results()[0]
    assert result.max_level == 7 and result.lowest_failing == 8
    assert result.non_monotone and result.passing_above_failure == [16]


def test_missing_tier_verdict_is_rejected() -> None:
    search = ConcurrencySearch(TIERS, SearchConfig())
    with pytest.raises(ValueError, match="slo3"):
        search.record(4, {"slo1": True, "slo2": True})


def test_level_cap_stops_the_search() -> None:
    search = ConcurrencySearch(("slo1",), SearchConfig(start=1, max_levels=3))
    assert len(drive(search, {"slo1": 10_000})) == 3
    assert not search.results()[0].converged


def test_invalid_level_caps_the_search_and_marks_tiers_client_limited() -> None:
    """A level the client could not drive is neither pass nor fail: the search stays below it."""
    search = ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=512))
    limits = {"slo1": 1000, "slo2": 20, "slo3": 3}
    while (level := search.next_level()) is not None:
        if level >= 64:  # the client saturates from 64 agents on
            search.mark_invalid(level)
            continue
        search.record(level, {t: level <= limits[t] for t in TIERS})
    assert all(lvl < 64 for lvl in search.measured)
    by_tier = {r.tier: r for r in search.results()}
    assert by_tier["slo1"].max_level == 63 and by_tier["slo1"].client_limited
    assert by_tier["slo1"].lowest_failing is None
    assert (by_tier["slo2"].max_level, by_tier["slo2"].lowest_failing) == (20, 21)
    assert not by_tier["slo2"].client_limited
    assert by_tier["slo3"].max_level == 3


def test_invalid_first_level_measures_lower() -> None:
    search = ConcurrencySearch(("slo1",), SearchConfig(start=8))
    assert search.next_level() == 8
    search.mark_invalid(8)
    assert search.next_level() == 7


def test_open_at_names_only_tiers_whose_bracket_holds_the_level() -> None:
    search = ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=64))
    assert search.open_at(4) == list(TIERS)
    search.record(4, {"slo1": True, "slo2": True, "slo3": False})
    search.record(8, {"slo1": True, "slo2": False, "slo3": False})
    # slo3 failed at 4: nothing above can change it; slo2's bracket is (4, 8); slo1 passed at 8
    # (so 6 is implied) and still grows.
    assert search.open_at(6) == ["slo2"]
    assert search.open_at(12) == ["slo1"]
    assert search.open_at(3) == ["slo3"]  # (0, 4): below its first failure
    assert search.open_at(2) == ["slo3"]
    assert search.answer("slo2") == 4


def test_an_inconclusive_level_counts_as_not_passing_and_is_flagged() -> None:
    search = ConcurrencySearch(("slo1",), SearchConfig(start=4, max_level=8, resolution_agents=4))
    search.record(4, {"slo1": True})
    search.record(8, {"slo1": False}, inconclusive=["slo1"])
    (result,) = search.results()
    assert (result.max_level, result.lowest_failing, result.inconclusive) == (4, 8, True)
    with pytest.raises(ValueError, match="cannot pass"):
        search.record(6, {"slo1": True}, inconclusive=["slo1"])


def test_a_clean_failure_is_not_flagged_inconclusive() -> None:
    search = ConcurrencySearch(("slo1",), SearchConfig(start=4, max_level=8))
    search.record(4, {"slo1": True}, inconclusive=[])
    search.record(8, {"slo1": False})
    assert not search.results()[0].inconclusive


def drive_with_margins(search: ConcurrencySearch, limits: dict[str, int], curve: float) -> list[int]:
    """A system whose margin for tier t falls smoothly with load: log((limit + 0.5) / level) ** curve."""
    order = []
    while (level := search.next_level()) is not None:
        order.append(level)
        margins = {t: math.copysign(abs(math.log((limits[t] + 0.5) / level)) ** curve, limits[t] + 0.5 - level)
                   for t in search.tiers}  # fmt: skip
        search.record(level, {t: level <= limits[t] for t in search.tiers}, margins=margins)
    return order


@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 300), st.sampled_from([0.5, 1.0, 2.0]))
@settings(max_examples=150, deadline=None)
def test_margin_interpolation_stays_exact(a: int, b: int, c: int, curve: float) -> None:
    limits = dict(zip(TIERS, (a, b, c), strict=True))
    search = ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=512))
    drive_with_margins(search, limits, curve)
    assert {r.tier: r.max_level for r in search.results()} == limits


def test_margin_interpolation_needs_fewer_levels_than_bisection() -> None:
    rng = random.Random(3)
    guided = plain = 0
    for _ in range(200):
        limits = {t: rng.randint(2, 400) for t in TIERS}
        guided += len(
            drive_with_margins(ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=512)), limits, 1.0)
        )
        plain += len(drive(ConcurrencySearch(TIERS, SearchConfig(start=4, max_level=512)), limits))
    assert guided < 0.8 * plain, (guided, plain)
