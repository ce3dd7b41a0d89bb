"""The judge's pure core: nearest-rank quantiles, each status's contribution, censoring, level verdicts.

Aggregates, bounds and the verdict rules in detail: test_stats.py; the sketch: test_sketch.py.
"""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentperf.config import load_config
from agentperf.errors import ConfigError, InputError
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.core import (
    Record,
    Rules,
    Status,
    Tier,
    TierResult,
    Verdict,
    contribution,
    evaluate_level,
    last_seen_unix_s,
    nearest_rank,
    record_problem,
    validate_tiers,
)
from tests.judge.records import SLO1, SLO3, failed, ok, waiting

RULES = Rules(min_samples=20, min_speed_tokens=2)


def judge(records: list[Record], tier: Tier, rules: Rules = RULES) -> TierResult:
    """One tier's verdict over ``records`` through the level evaluation the servicer calls."""
    return evaluate_level("run", 1, records, [tier], rules).tiers[0]


# --- nearest rank ---------------------------------------------------------------------------


def test_nearest_rank_on_1_to_100() -> None:
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 95) == 95.0
    assert nearest_rank(values, 25) == 25.0
    assert nearest_rank(values, 100) == 100.0


@pytest.mark.parametrize(
    ("n", "p95_rank", "p25_rank"),
    [(1, 1, 1), (4, 4, 1), (20, 19, 5), (21, 20, 6), (60, 57, 15), (101, 96, 26)],
)
def test_nearest_rank_is_ceil_of_p_times_n(n: int, p95_rank: int, p25_rank: int) -> None:
    values = [float(v) for v in range(1, n + 1)]
    assert nearest_rank(values, 95) == p95_rank
    assert nearest_rank(values, 25) == p25_rank


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=300), st.integers(1, 100))
def test_nearest_rank_is_smallest_value_covering_p_percent(values: list[float], percent: int) -> None:
    ordered = sorted(values)
    q = nearest_rank(ordered, percent)
    # Definition: the smallest sample value v with at least p % of the sample <= v.
    expected = min(v for v in ordered if 100 * sum(1 for x in ordered if x <= v) >= percent * len(ordered))
    assert q == expected


def test_nearest_rank_rejects_empty_and_bad_percent() -> None:
    with pytest.raises(ValueError, match="empty"):
        nearest_rank([], 95)
    with pytest.raises(ValueError, match="percent"):
        nearest_rank([1.0], 0)


# --- each status's contribution ------------------------------------------------------------


def test_ok_request_gives_ttft_and_speed_after_first_chunk() -> None:
    rec = ok(0, ttft=2.5, tokens=11, first_to_last_s=0.5, first_chunk_tokens=3)
    assert contribution(rec, SLO1, 2) == (2.5, (11 - 3) / 0.5)


def test_ok_request_with_too_few_tokens_counts_for_ttft_only() -> None:
    one_more = ok(0, ttft=0.7, tokens=2, first_to_last_s=0.1, first_chunk_tokens=1)
    assert contribution(one_more, SLO1, 2) == (0.7, None)
    no_duration = ok(1, ttft=0.7, tokens=50, first_to_last_s=0.0)
    assert contribution(no_duration, SLO1, 2) == (0.7, None)
    assert contribution(one_more, SLO1, 1) == (0.7, 1 / 0.1)


def test_failed_request_is_a_violation_even_with_a_first_token() -> None:
    assert contribution(failed(0), SLO1, 2) == (math.inf, 0.0)
    assert contribution(failed(1, has_first_token=True, ttft_s=0.1), SLO1, 2) == (math.inf, 0.0)


def test_ok_request_without_any_token_is_a_violation() -> None:
    empty = Record("e", "run", 1, Status.OK, True, has_first_token=False)
    assert contribution(empty, SLO1, 2) == (math.inf, 0.0)


def test_censored_with_first_token_counts_what_arrived() -> None:
    rec = Record(
        "c", "run", 1, Status.CENSORED, True, has_first_token=True, ttft_s=4.0,
        first_to_last_s=2.0, output_tokens=41, first_chunk_tokens=1,
    )  # fmt: skip
    assert contribution(rec, SLO1, 2) == (4.0, 20.0)
    assert contribution(rec, SLO3, 2) == (4.0, 20.0)


def test_censored_wait_is_a_violation_for_a_3s_tier_and_unknown_for_a_10s_tier() -> None:
    record = waiting(0, waited_s=5.0)
    assert contribution(record, SLO3, 2) == (math.inf, 0.0)
    assert contribution(record, SLO1, 2) == (None, None)
    records = [ok(i) for i in range(59)] + [record]
    assert judge(records, SLO3).ttft_samples == 60
    assert judge(records, SLO1).ttft_samples == 59
    # The wait is the largest of the 3 s tier's 60 TTFTs, the rank of its P95 upper bound.
    assert judge(records, SLO3).p95_ttft_high_s == math.inf


def test_censored_wait_exactly_at_the_limit_is_not_yet_a_violation() -> None:
    assert contribution(waiting(0, waited_s=3.0), SLO3, 2) == (None, None)


# --- tier verdicts (through evaluate_level) ------------------------------------------------


def test_p95_and_p25_of_known_distributions_with_bounds() -> None:
    # TTFT 0.1 .. 10.0 s and speed 1 .. 100 tok/s over 100 requests: P95 = 9.5 s, P25 = 25 tok/s;
    # the 90 % bounds are ranks 92 / 99 for P95 and 20 / 32 for P25 (test_stats.py).
    records = [ok(i, ttft=(i + 1) / 10, speed=float(i + 1)) for i in range(100)]
    res = judge(records, Tier("t", 15.0, 12.0))
    assert res.verdict is Verdict.PASS
    assert res.p95_ttft_s == pytest.approx(9.5, rel=0.01)
    assert res.p25_output_speed == pytest.approx(25.0, rel=0.01)
    assert res.p95_ttft_low_s == pytest.approx(9.2, rel=0.01)
    assert res.p95_ttft_high_s == pytest.approx(9.9, rel=0.01)
    assert res.p25_speed_low == pytest.approx(20.0, rel=0.01)
    assert res.p25_speed_high == pytest.approx(32.0, rel=0.01)
    assert (res.ttft_samples, res.speed_samples, res.confidence) == (100, 100, 0.9)
    assert "upper bound" in res.reason and "<= 12 s" in res.reason


def test_a_p95_at_the_bound_is_inconclusive_not_a_pass() -> None:
    records = [ok(i, ttft=(i + 1) / 10, speed=float(i + 1)) for i in range(100)]
    res = judge(records, Tier("t", 15.0, 9.5))
    assert res.verdict is Verdict.INCONCLUSIVE
    assert "straddles 9.5 s: measure longer" in res.reason


def test_fail_names_each_failing_bound_with_numbers() -> None:
    records = [ok(i, ttft=(i + 1) / 10, speed=float(i + 1)) for i in range(100)]
    res = judge(records, Tier("t", 40.0, 8.0))
    assert res.verdict is Verdict.FAIL
    ttft_part, speed_part = res.reason.split("; ")
    assert ttft_part.startswith("P95 TTFT") and ttft_part.endswith("> 8 s")
    assert speed_part.startswith("P25 speed") and speed_part.endswith("< 40 tok/s")


def test_many_failures_make_p95_infinite() -> None:
    records = [ok(i, ttft=0.5) for i in range(90)] + [failed(i) for i in range(10)]
    res = judge(records, SLO1)
    assert res.verdict is Verdict.FAIL
    assert res.p95_ttft_s == math.inf
    assert res.reason.startswith("P95 TTFT inf s (90% bounds inf-inf s): lower bound inf s > 10 s")
    # 2 % failed of 200: the upper bound (rank 195) is still a fast request.
    few = [ok(i, ttft=0.5) for i in range(196)] + [failed(i) for i in range(4)]
    assert judge(few, SLO1).verdict is Verdict.PASS


def test_more_than_25_percent_failed_makes_p25_zero() -> None:
    records = [ok(i, ttft=0.5, speed=1000.0) for i in range(60)] + [failed(i) for i in range(40)]
    res = judge(records, Tier("loose-ttft", 30.0, 1e9))
    assert res.p25_output_speed == 0.0
    assert res.verdict is Verdict.FAIL
    assert "upper bound 0 tok/s < 30 tok/s" in res.reason


def test_requests_without_speed_still_count_for_ttft() -> None:
    records = [ok(i, ttft=0.5) for i in range(20)] + [ok(100 + i, ttft=20.0, tokens=1) for i in range(5)]
    res = judge(records, SLO1)
    assert (res.ttft_samples, res.speed_samples) == (25, 20)
    assert res.p95_ttft_s == pytest.approx(20.0, rel=0.01)
    assert res.verdict is Verdict.FAIL


def test_fewer_than_min_samples_is_insufficient() -> None:
    res = judge([ok(i) for i in range(19)], SLO1)
    assert res.verdict is Verdict.INSUFFICIENT
    assert res.reason == "19 TTFT samples, fewer than min_samples 20"
    assert judge([ok(i) for i in range(20)], SLO1).verdict is not Verdict.INSUFFICIENT


def test_no_samples_at_all_is_insufficient_with_zero_quantiles() -> None:
    res = judge([], SLO1)
    assert (res.verdict, res.p95_ttft_s, res.p25_output_speed, res.ttft_samples) == (
        Verdict.INSUFFICIENT, 0.0, 0.0, 0,
    )  # fmt: skip


def test_no_speed_sample_is_inconclusive_unless_ttft_already_fails() -> None:
    short = [ok(i, ttft=0.5, tokens=1) for i in range(50)]
    res = judge(short, SLO1)
    assert res.verdict is Verdict.INCONCLUSIVE
    assert "no speed samples" in res.reason
    slow = [ok(i, ttft=50.0, tokens=1) for i in range(25)]
    assert judge(slow, SLO1).verdict is Verdict.FAIL


# --- levels --------------------------------------------------------------------------------


def test_warmup_records_are_held_but_not_judged() -> None:
    window = [ok(i, ttft=0.5) for i in range(50)]
    warmup = [ok(100 + i, ttft=99.0, in_window=False) for i in range(30)] + [failed(7, in_window=False)]
    res = evaluate_level("run", 1, window + warmup, [SLO1], RULES)
    assert (res.records_total, res.records_window, res.failed) == (81, 50, 0)
    assert res.tiers[0].verdict is Verdict.PASS
    assert res.tiers[0].p95_ttft_s == 0.5


def test_level_counts_failed_and_censored_in_the_window() -> None:
    records = [ok(i) for i in range(20)] + [failed(1), failed(2), waiting(1, 1.0)]
    res = evaluate_level("run", 1, records, [SLO1, SLO3], RULES)
    assert (res.failed, res.censored, res.records_window) == (2, 1, 23)
    assert [t.tier.name for t in res.tiers] == ["slo1", "slo3"]


def test_incomplete_note_prefixes_every_reason() -> None:
    res = evaluate_level("run", 1, [ok(i) for i in range(20)], [SLO1, SLO3], RULES, note="incomplete: x")
    assert all(t.reason.startswith("incomplete: x; ") for t in res.tiers)


def test_output_tokens_per_s_over_an_explicit_window() -> None:
    records = [ok(i, tokens=101) for i in range(10)]
    res = evaluate_level("run", 1, records, [SLO1], RULES, window_s=50.0)
    assert res.output_tokens_per_s == pytest.approx(1010 / 50.0)


def test_output_tokens_per_s_over_the_derived_window() -> None:
    # Sends at t = 1000 .. 1009; the last one ends 1009 + 1 s TTFT + 100 tokens / 100 tok/s = 1011.
    records = [ok(i, ttft=1.0, speed=100.0, tokens=101) for i in range(10)]
    assert last_seen_unix_s(records[-1]) == pytest.approx(1011.0)
    assert evaluate_level("run", 1, records, [SLO1], RULES).output_tokens_per_s == pytest.approx(1010 / 11.0)
    assert evaluate_level("run", 1, [], [SLO1], RULES).output_tokens_per_s == 0.0


def test_derived_window_includes_censored_waits() -> None:
    records = [ok(0, ttft=1.0, speed=100.0, tokens=101), waiting(5, waited_s=20.0)]
    res = evaluate_level("run", 1, records, [SLO1], RULES)
    assert res.output_tokens_per_s == pytest.approx(101 / (1005 + 20.0 - 1000))


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"record_id": ""}, "record_id"),
        ({"run_id": " "}, "run_id"),
        ({"level": 0}, "level"),
        ({"level": -3}, "level"),
        ({"status": Status.UNSPECIFIED}, "status"),
        ({"ttft_s": -0.1}, "ttft_s"),
        ({"first_to_last_s": math.nan}, "first_to_last_s"),
        ({"waited_s": -1.0}, "waited_s"),
        ({"ttfa_s": math.inf}, "ttfa_s"),
        ({"output_tokens": -1}, "output_tokens"),
    ],
)
def test_record_problem_names_the_field(changes: dict[str, object], field: str) -> None:
    problem = record_problem(dataclasses.replace(ok(0), **changes))  # type: ignore[arg-type]
    assert problem is not None and problem[0] == field


def test_valid_record_has_no_problem() -> None:
    assert record_problem(ok(0)) is None
    assert record_problem(waiting(0, 3.0)) is None


def test_request_tiers_are_validated() -> None:
    with pytest.raises(InputError, match=r"tiers\[1\]\.name.*repeats tier 'a'"):
        validate_tiers([Tier("a", 1, 1), Tier("a", 2, 2)], source="EvaluateRequest")
    with pytest.raises(InputError, match=r"tiers\[0\]\.max_ttft_s"):
        validate_tiers([Tier("a", 1, 0)], source="EvaluateRequest")
    with pytest.raises(InputError, match=r"tiers\[0\]\.min_output_speed"):
        validate_tiers([Tier("a", -5, 1)], source="EvaluateRequest")
    with pytest.raises(InputError, match=r"tiers\[0\]\.name"):
        validate_tiers([Tier("", 1, 1)], source="EvaluateRequest")
    validate_tiers([SLO1, SLO3], source="EvaluateRequest")


def test_configured_tiers_default_and_validation() -> None:
    cfg = load_config(JudgeConfig, None, env={})
    assert [(t.name, t.min_output_speed, t.max_ttft_s) for t in cfg.tiers] == [
        ("slo1", 30.0, 10.0), ("slo2", 100.0, 5.0), ("slo3", 300.0, 3.0),
    ]  # fmt: skip
    assert (cfg.min_samples, cfg.min_speed_tokens) == (20, 2)
    dup = (
        "tiers=[{name: a, min_output_speed: 1, max_ttft_s: 1}, {name: a, min_output_speed: 2, max_ttft_s: 1}]"
    )
    with pytest.raises(ConfigError, match="unique; repeated: a"):
        load_config(JudgeConfig, None, env={}, overrides=[dup])
    with pytest.raises(ConfigError, match=r"tiers\.0\.max_ttft_s"):
        load_config(
            JudgeConfig, None, env={}, overrides=["tiers=[{name: a, min_output_speed: 1, max_ttft_s: 0}]"]
        )
    with pytest.raises(ConfigError, match="tiers"):
        load_config(JudgeConfig, None, env={}, overrides=["tiers=[]"])
