"""bench/search_cost.py on a tiny configuration: the level policy and the strategies' bookkeeping."""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import pytest

from agentperf.conductor import RunConfig
from agentperf.services.judge import core
from agentperf.sim.calibrate import ClosedLoop
from agentperf.tiers import TierConfig
from bench import search_cost

# One tier, tier 3 of the public method: on the tiny profile it breaks at a handful of agents,
# so a dense scan stays short.
TIER = TierConfig(name="t3", min_output_speed=300.0, max_ttft_s=3.0)


def _cfg(**update: Any) -> RunConfig:
    values: dict[str, Any] = {
        "tiers": [TIER],
        "window_s": 5.0,
        "min_window_requests": 20,
        "max_window_s": 20.0,
        "progress_interval_s": 1.0,
        # The level-policy cases below were worked out on agents starting at turn 0; random
        # starts have their own test (tests/sim/test_calibration.py).
        "agent_start": "beginning",
    }
    values.update(update)
    return RunConfig(**values)


def _setup(**update: Any) -> search_cost.Setup:
    return search_cost.make_setup("tiny", "local", seed=3, cfg=_cfg(**update))


@cache
def _report() -> dict[str, Any]:
    return search_cost.run_bench(_setup(), ["search"], dense_window_s=60.0, dense_extra=1)


def test_report_has_every_strategy_with_costs_and_answers() -> None:
    report = _report()
    names = [s["strategy"] for s in report["strategies"]]
    assert names == ["dense", "search"]
    for s in report["strategies"]:
        assert s["levels_measured"] == len(s["levels"]) == len(s["per_level"]) > 0
        assert s["gpu_s"] == pytest.approx(s["warmup_s"] + s["window_s"], abs=0.2)
        assert set(s["answers"]) == {"t3"}
        assert s["extensions"] == sum(lv["extensions"] for lv in s["per_level"])
        assert s["held_s"] <= s["window_s"]
    assert report["policy"]["max_extensions"] == 2
    dense = report["strategies"][0]
    # The dense scan measures every level from 1 up to one past the first where the tier fails.
    assert dense["levels"] == list(range(1, len(dense["levels"]) + 1))
    assert dense["per_level"][-2]["verdicts"]["t3"] != "pass"


def test_search_agrees_with_the_dense_scan_for_less() -> None:
    report = _report()
    truth = report["truth"]["t3"]
    assert 1 <= truth <= 8
    search = report["strategies"][1]
    assert search["tolerance"]["t3"] == max(1, math.ceil(0.1 * truth))
    assert search["within"]["t3"], (search["answers"], truth)
    assert search["gpu_s"] < report["strategies"][0]["gpu_s"]


def test_window_follows_the_load_generator_policy() -> None:
    setup = _setup()
    # No tier open at the level: the load generator does not hold the window past its minimum.
    level, records = search_cost.measure_window(setup, setup.cfg, 24, [])
    assert not level.stopped_early and level.extensions == 0 and level.held_s == 0.0
    assert level.window_s >= 5.0
    assert level.window_requests >= 20 or level.window_s == pytest.approx(20.0)
    close = level.warmup_s + level.window_s
    window = [r for r in records if r.in_window]
    assert len(window) == level.window_requests
    assert all(level.warmup_s <= r.send_unix_s <= close for r in window)
    assert all(r.send_unix_s < level.warmup_s for r in records if not r.in_window)
    censored = [r for r in records if r.status is core.Status.CENSORED]
    assert censored, "agents busy at the close leave censored records"
    for r in censored:
        assert r.waited_s == pytest.approx(close - r.send_unix_s)
        assert r.ttft_s <= r.waited_s
    # The judge core accepts every record the bench builds.
    assert all(core.record_problem(r) is None for r in records)


def test_a_clearly_failing_level_stops_early() -> None:
    setup = _setup(window_s=10.0, max_window_s=10.0)
    level = search_cost.measure_level(setup, setup.cfg, 48, ["t3"])
    assert level.verdicts["t3"]["verdict"] == "fail"
    assert level.stopped_early and level.extensions == 0
    assert level.min_window_s is None
    assert level.window_s < 10.0


def _checkpoint(level: search_cost.LevelRun, k: int, interval_s: float) -> float:
    """Window length when checkpoint ``k`` is looked at: the first preview at or past T0 * 2**k."""
    assert level.min_window_s is not None
    since_hold = level.min_window_s * ((1 << k) - 1)
    return level.min_window_s + math.ceil(since_hold / interval_s - 1e-9) * interval_s


def test_an_undecided_level_is_held_open_not_measured_again() -> None:
    # One agent sends few requests: at its minimum (capped at 20 s) the window holds too few
    # TTFTs for a verdict.
    short = _setup(max_extensions=0)
    base = search_cost.measure_level(short, short.cfg, 1, ["t3"])
    assert base.extensions == 0 and base.verdicts["t3"]["verdict"] == "insufficient"
    assert base.undecided == ["t3"]
    setup = _setup(max_extensions=2)
    level = search_cost.measure_level(setup, setup.cfg, 1, ["t3"])
    # The same simulation and warm-up: the window goes on from the same minimum, to 4 T0.
    assert level.warmup_s == base.warmup_s
    assert level.min_window_s == pytest.approx(base.window_s) == pytest.approx(20.0)
    assert level.extensions == 2
    assert level.window_s == pytest.approx(_checkpoint(level, 2, 1.0)) == pytest.approx(80.0)
    assert level.held_s == pytest.approx(60.0)
    assert level.window_requests > 2 * base.window_requests
    assert level.verdicts["t3"]["verdict"] == "pass" and level.undecided == []
    assert level.elapsed_s == pytest.approx(level.warmup_s + level.window_s)


def test_the_window_closes_at_the_first_checkpoint_that_decides() -> None:
    setup = _setup(max_extensions=2)
    level = search_cost.measure_level(setup, setup.cfg, 3, ["t3"])
    assert level.extensions == 1 and not level.stopped_early
    assert level.window_s == pytest.approx(_checkpoint(level, 1, 1.0))
    assert level.verdicts["t3"]["verdict"] == "pass"


def test_a_level_decided_at_its_minimum_is_not_held() -> None:
    setup = _setup(early_stop=False)
    level = search_cost.measure_level(setup, setup.cfg, 12, ["t3"])
    assert level.verdicts["t3"]["verdict"] == "fail"
    assert level.extensions == 0 and not level.stopped_early
    assert level.min_window_s == level.window_s == pytest.approx(5.0)


def test_the_preview_holds_only_completed_requests() -> None:
    setup = _setup()
    loop = ClosedLoop(setup.profile, 24, setup.workload, 0)
    loop.advance(10.0)
    held = search_cost._delivered(loop.outcomes, "bench", 24, 2.0, 10.0)
    window = [o for o in loop.outcomes if o.arrival_s >= 2.0]
    in_flight = [o for o in window if o.done_s is None or o.done_s > 10.0]
    assert in_flight, "requests in flight at the preview are not in it"
    assert len(held) == len(window) - len(in_flight) > 0
    assert all(r.status is core.Status.OK and r.in_window for r in held)
