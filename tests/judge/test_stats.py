"""Level aggregates (merges, proto, censoring per tier), confidence bounds and the verdict rules."""

from __future__ import annotations

import dataclasses
import math
import random
from fractions import Fraction

import pytest

from agentperf.errors import InputError
from agentperf.services.judge.core import Record, Rules, Status, Tier, Verdict
from agentperf.services.judge.sketch import DDSketch
from agentperf.services.judge.stats import (
    LevelAggregate,
    aggregate,
    bound_samples_needed,
    evaluate_aggregate,
    evaluate_tier,
    merged,
    rank_bounds,
    samples_needed,
)
from agentperf.v1 import judge_pb2
from tests.judge.records import SLO1, SLO3, failed, ok, waiting

RULES = Rules(min_samples=20, min_speed_tokens=2, confidence=0.9)


def no_token(i: int) -> Record:
    return Record(f"e{i}", "run", 1, Status.OK, True, send_unix_s=1000.0 + i)


def random_records(rng: random.Random, n: int) -> list[Record]:
    """Every kind of record, warm-up included, spread over 8 shards."""
    out: list[Record] = []
    for i in range(n):
        kind = rng.random()
        shard = rng.randrange(8)
        if kind < 0.7:
            rec = ok(
                i, ttft=rng.lognormvariate(0, 1), speed=rng.uniform(10, 200), tokens=rng.randrange(1, 300)
            )
        elif kind < 0.8:
            rec = failed(i, has_first_token=rng.random() < 0.5, ttft_s=0.3)
        elif kind < 0.9:
            rec = waiting(i, rng.uniform(0, 12))
        elif kind < 0.95:
            rec = no_token(i)
        else:
            rec = ok(i, ttft=50.0, in_window=False)
        out.append(dataclasses.replace(rec, shard=shard))
    return out


# --- aggregates ----------------------------------------------------------------------------


def test_aggregate_counts_each_kind_of_record() -> None:
    records = [ok(0), ok(1, tokens=1), failed(2), no_token(3), waiting(4, 2.0), waiting(5, 7.0)]
    records += [ok(6, ttft=2.0, status=Status.CENSORED), ok(7, in_window=False)]
    agg = aggregate(records, RULES)
    assert (agg.records_total, agg.records_window) == (8, 7)
    assert (agg.failed, agg.no_token, agg.censored) == (1, 1, 3)
    assert agg.censored_waits_s == [2.0, 7.0]
    assert (agg.ttft.count, agg.speed.count) == (3, 2)
    assert agg.output_tokens == 101 + 1 + 101
    assert agg.first_send_unix_s == 1000.0
    assert agg.last_seen_unix_s == pytest.approx(1005.0 + 7.0)


def test_merged_shards_equal_one_aggregate_of_all_records() -> None:
    rng = random.Random(11)
    records = random_records(rng, 2000)
    whole = aggregate(records, RULES)
    for shards in range(2, 9):
        parts = [aggregate([r for r in records if r.shard % shards == s], RULES) for s in range(shards)]
        for _ in range(3):
            rng.shuffle(parts)
            assert merged(parts) == whole
    # Merging records in another order gives the same content too (waits are kept sorted).
    shuffled = list(records)
    rng.shuffle(shuffled)
    assert aggregate(shuffled, RULES) == whole


def test_merged_of_nothing_is_empty_and_inputs_are_not_changed() -> None:
    assert merged([], 0.02) == LevelAggregate.empty(0.02)
    a, b = aggregate([ok(0)], RULES), aggregate([ok(1, ttft=3.0)], RULES)
    before = a.copy()
    merged([a, b])
    assert a == before
    with pytest.raises(ValueError, match="accuracy"):
        merged([a, LevelAggregate.empty(0.02)])


def test_an_empty_shard_does_not_move_the_time_span() -> None:
    agg = aggregate([ok(5)], RULES)
    agg.merge(aggregate([ok(9, in_window=False)], RULES))
    assert agg.first_send_unix_s == 1005.0
    assert agg.records_total == 2


def test_aggregate_proto_round_trip() -> None:
    agg = aggregate(random_records(random.Random(2), 500), RULES)
    msg = judge_pb2.LevelAggregate.FromString(agg.to_proto().SerializeToString())
    assert LevelAggregate.from_proto(msg) == agg
    assert LevelAggregate.from_proto(LevelAggregate.empty().to_proto()) == LevelAggregate.empty()


def _broken(change: str) -> judge_pb2.LevelAggregate:
    msg = aggregate([ok(0), failed(1), waiting(2, 4.0), no_token(3)], RULES).to_proto()
    match change:
        case "negative":
            msg.failed = -1
        case "window":
            msg.records_window = 7
        case "total":
            msg.records_total = 2
        case "missing":
            msg.ClearField("speed")
        case "accuracy":
            other = DDSketch(0.02)
            other.add(100.0)
            msg.speed.CopyFrom(other.to_proto())
        case "wait":
            msg.censored_waits_s[0] = math.nan
        case "sketch":
            msg.ttft.counts[0] = -3
        case "censored":
            msg.censored = 0
        case "time":
            msg.last_seen_unix_s = math.inf
    return msg


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("negative", "failed"),
        ("window", "records_window"),
        ("total", "records_total"),
        ("missing", "speed"),
        ("accuracy", "speed.relative_accuracy"),
        ("wait", "censored_waits_s"),
        ("sketch", "ttft.counts"),
        ("censored", "censored"),
        ("time", "last_seen_unix_s"),
    ],
)
def test_malformed_aggregate_protos_are_refused_naming_the_field(change: str, field: str) -> None:
    with pytest.raises(InputError) as info:
        LevelAggregate.from_proto(_broken(change))
    assert info.value.field == field


def test_output_tokens_per_s_over_given_and_derived_window() -> None:
    # Sends at t = 1000 .. 1009; the last one ends 1009 + 1 s TTFT + 100 tokens / 100 tok/s = 1011.
    agg = aggregate([ok(i, ttft=1.0, speed=100.0, tokens=101) for i in range(10)], RULES)
    assert agg.output_tokens_per_s(50.0) == pytest.approx(1010 / 50.0)
    assert agg.output_tokens_per_s() == pytest.approx(1010 / 11.0)
    assert LevelAggregate.empty().output_tokens_per_s() == 0.0


# --- censoring and violations per tier -----------------------------------------------------


def test_a_4s_wait_violates_a_3s_tier_and_is_absent_from_a_10s_tier() -> None:
    agg = aggregate([ok(i, ttft=0.5) for i in range(59)] + [waiting(0, 4.0)], RULES)
    slo3, slo1 = evaluate_tier(agg, SLO3, RULES), evaluate_tier(agg, SLO1, RULES)
    assert (slo3.ttft_samples, slo3.speed_samples) == (60, 60)
    assert (slo1.ttft_samples, slo1.speed_samples) == (59, 59)
    # The wait is the largest TTFT of the 3 s tier: its P95 upper bound (rank 60 of 60) is +inf.
    assert rank_bounds(60, 95, 0.9)[1] == 60
    assert slo3.p95_ttft_high_s == math.inf
    assert slo1.p95_ttft_high_s == 0.5


def test_a_wait_exactly_at_the_limit_is_not_yet_a_violation() -> None:
    agg = aggregate([ok(i) for i in range(30)] + [waiting(0, 3.0)], RULES)
    assert evaluate_tier(agg, SLO3, RULES).ttft_samples == 30


def test_failures_and_empty_completions_sit_at_inf_and_zero_speed() -> None:
    records = [ok(i, ttft=0.5, speed=1000.0) for i in range(60)] + [failed(i) for i in range(20)]
    records += [no_token(i) for i in range(20)]
    res = evaluate_tier(aggregate(records, RULES), Tier("t", 30.0, 10.0), RULES)
    assert (res.ttft_samples, res.speed_samples) == (100, 100)
    assert res.p95_ttft_s == math.inf
    assert res.p25_output_speed == 0.0
    assert res.verdict is Verdict.FAIL
    assert "lower bound inf s > 10 s" in res.reason
    assert "upper bound 0 tok/s < 30 tok/s" in res.reason


# --- rank bounds ---------------------------------------------------------------------------


def _brute_bounds(n: int, percent: int, confidence: float) -> tuple[int | None, int | None]:
    """The definition with exact rational binomial terms (and the confidence as written)."""
    p, c = Fraction(percent, 100), Fraction(str(confidence))
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    cdf = [sum(pmf[: k + 1]) for k in range(n + 1)]
    highs = [u for u in range(1, n + 1) if cdf[u - 1] >= c]
    lows = [r for r in range(1, n + 1) if 1 - cdf[r - 1] >= c]
    return (max(lows) if lows else None), (min(highs) if highs else None)


@pytest.mark.parametrize("percent", [5, 25, 50, 75, 95])
@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
def test_rank_bounds_match_the_brute_force_binomial(percent: int, confidence: float) -> None:
    for n in range(0, 61):
        assert rank_bounds(n, percent, confidence) == _brute_bounds(n, percent, confidence), n


def test_rank_bounds_cover_the_true_quantile_at_the_stated_rate() -> None:
    # Uniform(0, 1): the true P95 is 0.95. Each bound alone must hold in >= 90 % of samples.
    rng = random.Random(42)
    n, trials = 100, 3000
    low_rank, high_rank = rank_bounds(n, 95, 0.9)
    assert low_rank is not None and high_rank is not None
    above = below = 0
    for _ in range(trials):
        sample = sorted(rng.random() for _ in range(n))
        above += sample[high_rank - 1] >= 0.95
        below += sample[low_rank - 1] <= 0.95
    # 3 standard errors of a 90 % rate over 3000 trials is 1.6 %.
    assert above / trials >= 0.9 - 0.016
    assert below / trials >= 0.9 - 0.016


def test_rank_bounds_for_a_million_samples_are_near_the_normal_approximation() -> None:
    low, high = rank_bounds(1_000_000, 95, 0.9)
    half = 1.2816 * math.sqrt(1e6 * 0.95 * 0.05)
    assert low is not None and high is not None
    assert abs(low - (950_000 - half)) <= 2
    assert abs(high - (950_000 + half)) <= 2


def test_samples_needed() -> None:
    assert samples_needed(95, 0.9) == 45
    assert bound_samples_needed(95, 0.9) == (1, 45)
    assert samples_needed(25, 0.9) == 9
    assert bound_samples_needed(25, 0.9) == (9, 2)
    assert rank_bounds(44, 95, 0.9)[1] is None
    assert rank_bounds(45, 95, 0.9)[1] == 45
    assert samples_needed(95, 0.95) == 59


def test_rank_bounds_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="percent"):
        rank_bounds(10, 100, 0.9)
    with pytest.raises(ValueError, match="confidence"):
        rank_bounds(10, 95, 1.0)
    assert rank_bounds(0, 95, 0.9) == (None, None)


# --- verdicts ------------------------------------------------------------------------------


def test_clearly_passing_level_passes() -> None:
    rng = random.Random(0)
    records = [ok(i, ttft=rng.uniform(0.2, 1.0), speed=rng.uniform(80, 120)) for i in range(200)]
    res = evaluate_tier(aggregate(records, RULES), SLO1, RULES)
    assert res.verdict is Verdict.PASS
    assert res.confidence == 0.9
    assert res.p95_ttft_low_s <= res.p95_ttft_s <= res.p95_ttft_high_s <= 1.0 * 1.01
    assert 80 * 0.99 <= res.p25_speed_low <= res.p25_output_speed <= res.p25_speed_high
    assert "upper bound" in res.reason and "<= 10 s" in res.reason
    assert "lower bound" in res.reason and ">= 30 tok/s" in res.reason


def test_clearly_failing_level_fails_even_at_min_samples() -> None:
    # TTFTs 5 % apart, so each sits in its own sketch bucket: 20 s, 21 s, 22.05 s, ...
    ttfts = [20.0 * 1.05**i for i in range(RULES.min_samples)]
    res = evaluate_tier(aggregate([ok(i, ttft=t) for i, t in enumerate(ttfts)], RULES), SLO1, RULES)
    assert res.verdict is Verdict.FAIL
    assert rank_bounds(20, 95, 0.9) == (18, None)
    assert res.p95_ttft_s == pytest.approx(ttfts[18], rel=0.01)
    assert res.p95_ttft_low_s == pytest.approx(ttfts[17], rel=0.01)
    assert res.p95_ttft_high_s == math.inf  # 20 samples cannot bound P95 from above
    low = f"{res.p95_ttft_low_s:.4g}"
    assert (
        res.reason == f"P95 TTFT {res.p95_ttft_s:.4g} s (90% bounds {low}-inf s): lower bound {low} s > 10 s"
    )


def test_slow_speed_fails_on_its_upper_bound() -> None:
    records = [ok(i, ttft=0.5, speed=10.0 + i / 10) for i in range(50)]
    res = evaluate_tier(aggregate(records, RULES), SLO1, RULES)
    assert res.verdict is Verdict.FAIL
    assert res.reason.startswith("P25 speed")
    assert "upper bound" in res.reason and "< 30 tok/s" in res.reason


def test_level_whose_p95_sits_at_the_bound_is_inconclusive() -> None:
    # TTFT 0.1 .. 20 s over 200 requests: P95 = 19 s, bounds ranks 186 / 195 = 18.6 / 19.5 s.
    records = [ok(i, ttft=(i + 1) / 10) for i in range(200)]
    res = evaluate_tier(aggregate(records, RULES), Tier("t", 30.0, 19.0), RULES)
    assert res.verdict is Verdict.INCONCLUSIVE
    assert res.p95_ttft_low_s < 19.0 < res.p95_ttft_high_s
    assert "straddles 19 s: measure longer" in res.reason
    assert res.p95_ttft_s == pytest.approx(19.0, rel=0.01)


def test_small_sample_far_below_the_bound_is_inconclusive() -> None:
    res = evaluate_tier(aggregate([ok(i, ttft=0.5) for i in range(25)], RULES), SLO1, RULES)
    assert res.verdict is Verdict.INCONCLUSIVE
    assert res.p95_ttft_high_s == math.inf
    assert "straddles 10 s: measure longer (an upper bound needs 45 samples, have 25)" in res.reason
    at_45 = evaluate_tier(aggregate([ok(i, ttft=0.5) for i in range(45)], RULES), SLO1, RULES)
    assert at_45.verdict is Verdict.PASS


def test_speed_straddling_its_bound_is_inconclusive() -> None:
    records = [ok(i, ttft=0.5, speed=float(i + 1)) for i in range(100)]
    res = evaluate_tier(aggregate(records, RULES), Tier("t", 25.0, 10.0), RULES)
    assert res.verdict is Verdict.INCONCLUSIVE
    # Exact P25 = 25 tok/s with bounds at ranks 20 and 32; the sketch gives each within 1 %.
    assert rank_bounds(100, 25, 0.9) == (20, 32)
    assert res.p25_speed_low == pytest.approx(20.0, rel=0.01)
    assert res.p25_speed_high == pytest.approx(32.0, rel=0.01)
    assert res.reason.endswith(
        f"P25 speed {res.p25_output_speed:.4g} tok/s (90% bounds {res.p25_speed_low:.4g}-"
        f"{res.p25_speed_high:.4g} tok/s) straddles 25 tok/s: measure longer"
    )


def test_no_speed_sample_is_inconclusive_unless_ttft_fails() -> None:
    short = aggregate([ok(i, ttft=0.5, tokens=1) for i in range(60)], RULES)
    res = evaluate_tier(short, SLO1, RULES)
    assert res.verdict is Verdict.INCONCLUSIVE
    assert "no speed samples" in res.reason
    slow = aggregate([ok(i, ttft=50.0, tokens=1) for i in range(60)], RULES)
    assert evaluate_tier(slow, SLO1, RULES).verdict is Verdict.FAIL


def test_fewer_than_min_samples_is_insufficient() -> None:
    res = evaluate_tier(aggregate([ok(i) for i in range(19)], RULES), SLO1, RULES)
    assert res.verdict is Verdict.INSUFFICIENT
    assert res.reason == "19 TTFT samples, fewer than min_samples 20"
    empty = evaluate_tier(LevelAggregate.empty(), SLO1, RULES)
    assert (empty.verdict, empty.p95_ttft_s, empty.p25_output_speed, empty.ttft_samples) == (
        Verdict.INSUFFICIENT, 0.0, 0.0, 0,
    )  # fmt: skip


def test_higher_confidence_widens_the_bounds() -> None:
    records = [ok(i, ttft=(i + 1) / 10) for i in range(300)]
    agg = aggregate(records, RULES)
    at90 = evaluate_tier(agg, SLO1, RULES)
    at99 = evaluate_tier(agg, SLO1, Rules(confidence=0.99))
    assert at99.p95_ttft_low_s < at90.p95_ttft_low_s
    assert at99.p95_ttft_high_s > at90.p95_ttft_high_s
    assert at99.confidence == 0.99 and "(99% bounds" in at99.reason


def test_evaluate_aggregate_gives_counters_and_notes() -> None:
    agg = aggregate([ok(i) for i in range(50)] + [failed(1), waiting(2, 1.0), ok(99, in_window=False)], RULES)
    res = evaluate_aggregate("run", 4, agg, [SLO1, SLO3], RULES, window_s=10.0, note="incomplete: x")
    assert (res.run_id, res.level, res.records_total, res.records_window) == ("run", 4, 53, 52)
    assert (res.failed, res.censored) == (1, 1)
    assert res.output_tokens_per_s == pytest.approx(50 * 101 / 10.0)
    assert [t.tier.name for t in res.tiers] == ["slo1", "slo3"]
    assert all(t.reason.startswith("incomplete: x; ") for t in res.tiers)
