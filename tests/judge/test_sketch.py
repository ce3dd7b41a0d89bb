"""DDSketch: relative accuracy on known distributions, exact extremes, exact merges, proto checks."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.errors import InputError
from agentperf.services.judge.sketch import ZERO_THRESHOLD, DDSketch
from agentperf.v1 import judge_pb2

ALPHA = 0.01
# Bucket edges are computed with log(); a value on an edge may land one ulp-sized step off.
SLACK = ALPHA * (1 + 1e-9)


def sketch_of(values: list[float], alpha: float = ALPHA) -> DDSketch:
    sk = DDSketch(alpha)
    for v in values:
        sk.add(v)
    return sk


def assert_every_rank_within(sk: DDSketch, values: list[float], alpha: float = ALPHA) -> None:
    exact = sorted(values)
    assert sk.count == len(exact)
    for rank, true in enumerate(exact, start=1):
        got = sk.value_at_rank(rank)
        if true < ZERO_THRESHOLD:
            assert got <= ZERO_THRESHOLD
        else:
            assert abs(got - true) <= alpha * (1 + 1e-9) * true, (rank, got, true)


DISTRIBUTIONS: dict[str, Callable[[random.Random], float]] = {
    "uniform": lambda rng: rng.uniform(0.0, 10.0),
    "exponential": lambda rng: rng.expovariate(1.0),
    "lognormal": lambda rng: rng.lognormvariate(0.0, 1.5),
}


@pytest.mark.parametrize("name", sorted(DISTRIBUTIONS))
def test_quantiles_of_known_distributions_are_within_1_percent(name: str) -> None:
    rng = random.Random(7)
    values = [DISTRIBUTIONS[name](rng) for _ in range(20_000)]
    sk = sketch_of(values)
    exact = sorted(values)
    for percent in (1, 5, 10, 25, 50, 75, 90, 95, 99):
        rank = -(-percent * len(exact) // 100)
        true = exact[rank - 1]
        assert abs(sk.value_at_rank(rank) - true) <= SLACK * true
    assert_every_rank_within(sk, values)


def test_extremes_are_exact() -> None:
    rng = random.Random(1)
    values = [rng.lognormvariate(0.0, 2.0) for _ in range(5000)]
    sk = sketch_of(values)
    assert sk.value_at_rank(1) == min(values) == sk.min
    assert sk.value_at_rank(len(values)) == max(values) == sk.max


def test_answers_stay_inside_min_and_max() -> None:
    sk = sketch_of([2.0] * 10)
    assert [sk.value_at_rank(r) for r in range(1, 11)] == [2.0] * 10


def test_bucket_answer_is_within_alpha_at_both_bucket_edges() -> None:
    sk = DDSketch(0.05)
    gamma = (1 + 0.05) / (1 - 0.05)
    for k in (-3, 0, 4):
        rep = sk.bucket_value(k)
        assert rep / gamma**k == pytest.approx(1 - 0.05)
        assert rep / gamma ** (k - 1) == pytest.approx(1 + 0.05)


def test_zero_and_tiny_values_go_to_the_zero_bucket() -> None:
    sk = sketch_of([0.0, 1e-12, 0.0, 5.0, 6.0])
    assert (sk.zero_count, sk.count) == (3, 5)
    assert sk.value_at_rank(1) == 0.0
    assert sk.value_at_rank(3) == 0.0
    assert sk.to_proto().zero_count == 3


def test_add_rejects_negative_and_non_finite_values_and_bad_weights() -> None:
    sk = DDSketch()
    for bad in (-1.0, -1e-300, math.nan, math.inf):
        with pytest.raises(ValueError, match="finite values >= 0"):
            sk.add(bad)
    for weight in (0, -2):
        with pytest.raises(ValueError, match="weight"):
            sk.add(1.0, weight)
    assert sk.count == 0
    with pytest.raises(ValueError, match="relative_accuracy"):
        DDSketch(0.0)


def test_weight_counts_like_repeated_adds() -> None:
    weighted = DDSketch()
    weighted.add(3.0, 4)
    weighted.add(0.0, 2)
    assert weighted == sketch_of([3.0] * 4 + [0.0] * 2)


def test_value_at_rank_outside_the_count_is_an_index_error() -> None:
    sk = sketch_of([1.0, 2.0])
    for rank in (0, 3):
        with pytest.raises(IndexError):
            sk.value_at_rank(rank)
    with pytest.raises(IndexError):
        DDSketch().value_at_rank(1)


def test_count_above_counts_only_values_certainly_above() -> None:
    values = [float(v) for v in range(1, 101)]
    sk = sketch_of(values)
    assert sk.count_above(0.0) == 100
    assert sk.count_above(100.0) == 0
    assert sk.count_above(-1.0) == 100
    # 90.0 shares its bucket with nothing above it at 1 % accuracy, so the count is exact here.
    assert sk.count_above(90.0) == 10
    for v in (5.5, 33.3, 77.0):
        got = sk.count_above(v)
        assert sum(1 for x in values if x > v * (1 + 2 * ALPHA)) <= got <= sum(1 for x in values if x > v)
    with_zero = sketch_of([0.0, 0.0, 1.0])
    assert with_zero.count_above(0.0) == 1


def test_merged_shards_equal_one_sketch_of_all_values_in_any_order() -> None:
    rng = random.Random(3)
    values = [rng.lognormvariate(0.0, 1.0) for _ in range(3000)] + [0.0] * 5
    whole = sketch_of(values)
    for shards in range(2, 9):
        parts: list[list[float]] = [[] for _ in range(shards)]
        for v in values:
            parts[rng.randrange(shards)].append(v)
        sketches = [sketch_of(p) for p in parts]
        for _ in range(3):
            rng.shuffle(sketches)
            acc = DDSketch()
            for sk in sketches:
                acc.merge(sk)
            assert acc == whole
            assert acc.to_proto() == whole.to_proto()


def test_merge_with_an_empty_sketch_changes_nothing() -> None:
    sk = sketch_of([1.0, 2.0])
    before = sk.copy()
    sk.merge(DDSketch())
    assert sk == before
    empty = DDSketch()
    empty.merge(before)
    assert empty == before


def test_merge_of_different_accuracies_is_refused() -> None:
    with pytest.raises(ValueError, match="accuracy"):
        DDSketch(0.01).merge(DDSketch(0.02))


def test_equality_compares_content() -> None:
    assert sketch_of([1.0, 2.0]) == sketch_of([2.0, 1.0])
    assert sketch_of([1.0, 2.0]) != sketch_of([1.0, 2.5])
    assert sketch_of([1.0], 0.01) != sketch_of([1.0], 0.02)
    assert DDSketch() != "sketch"


def test_proto_round_trip() -> None:
    rng = random.Random(5)
    sk = sketch_of([rng.expovariate(0.5) for _ in range(1000)] + [0.0])
    msg = sk.to_proto()
    assert list(msg.keys) == sorted(msg.keys)
    assert len(msg.keys) == len(msg.counts)
    back = DDSketch.from_proto(judge_pb2.QuantileSketch.FromString(msg.SerializeToString()))
    assert back == sk
    assert [back.value_at_rank(r) for r in (1, 500, 1001)] == [sk.value_at_rank(r) for r in (1, 500, 1001)]
    assert DDSketch.from_proto(DDSketch().to_proto()) == DDSketch()


def _good() -> judge_pb2.QuantileSketch:
    return sketch_of([1.0, 2.0, 4.0, 0.0]).to_proto()


def _with(**changes: object) -> judge_pb2.QuantileSketch:
    msg = _good()
    for name, value in changes.items():
        if name in ("keys", "counts"):
            del getattr(msg, name)[:]
            getattr(msg, name).extend(value)
        else:
            setattr(msg, name, value)
    return msg


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"relative_accuracy": 0.0}, "relative_accuracy"),
        ({"relative_accuracy": 1.0}, "relative_accuracy"),
        ({"relative_accuracy": math.nan}, "relative_accuracy"),
        ({"zero_count": -1}, "zero_count"),
        ({"counts": [1, 1]}, "counts"),
        ({"counts": [1, -1, 1]}, "counts"),
        ({"keys": [0, 70, 35]}, "keys"),
        ({"keys": [0, 35, 35]}, "keys"),
        ({"min": -1.0}, "min"),
        ({"min": 3.0, "max": 2.0}, "max"),
        ({"max": math.inf}, "max"),
        ({"max": 1.5}, "max"),
        ({"keys": [0, 35, 5000]}, "max"),
    ],
)
def test_malformed_protos_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        DDSketch.from_proto(_with(**changes))
    assert info.value.field == field
    assert f"field {field!r}" in str(info.value)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=1e9, allow_nan=False)),
        min_size=1,
        max_size=400,
    ),
    st.sampled_from([0.005, 0.01, 0.05]),
)
def test_every_rank_is_within_alpha_of_the_exact_sorted_value(values: list[float], alpha: float) -> None:
    assert_every_rank_within(sketch_of(values, alpha), values, alpha)
