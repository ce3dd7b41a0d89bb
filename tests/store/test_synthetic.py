"""Synthetic generator: determinism, stated distributions, presets, overrides and validation."""

from __future__ import annotations

import math
import statistics

import pytest

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store import synthetic
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.core import check_synthetic_limits
from agentperf.trajectory import TOOL_CLASSES, Trajectory


def make(preset: str = "local", **over: object) -> list[Trajectory]:
    return list(synthetic.generate(preset, **over))


def turns_of(trajs: list[Trajectory]) -> list[tuple[int, int, float]]:
    return [
        (t.input_tokens, t.output_tokens, t.tool.recorded_duration_s if t.tool else -1.0)
        for traj in trajs
        for phase in traj.phases
        for t in phase.turns
    ]


def within(value: float, target: float, rel: float) -> bool:
    return abs(value - target) <= rel * target


def test_same_seed_same_dataset_other_seed_differs() -> None:
    a, b = make(seed=7, count=50), make(seed=7, count=50)
    assert a == b
    assert [t.id for t in a[:2]] == ["syn-7-0000", "syn-7-0001"]
    assert turns_of(make(seed=8, count=50)) != turns_of(a)
    assert turns_of(make(seed=-7, count=50)) != turns_of(a)


def test_local_preset_has_the_stated_shape() -> None:
    trajs = make("local", count=600, seed=3)
    turns = turns_of(trajs)
    inputs = [i for i, _, _ in turns]
    outputs = [o for _, o, _ in turns]
    tools = [d for _, _, d in turns if d >= 0]
    assert len(turns) > 3000
    assert within(statistics.median(inputs), 200, 0.1)
    assert within(statistics.median(outputs), 60, 0.1)
    assert within(statistics.median(tools), 1.0, 0.1)
    # sigma: the log-spread of input tokens (uncapped part) is close to 0.6.
    assert within(statistics.pstdev(math.log(i) for i in inputs), 0.6, 0.1)
    assert max(inputs) <= 2000 and max(outputs) <= 256
    counts = [t.turn_count for t in trajs]
    assert min(counts) == 4 and max(counts) == 12
    assert all(len(t.phases) == 1 and t.phases[0].preamble_tokens == 300 for t in trajs)
    classes = {turn.tool.tool_class for t in trajs for turn in t.phases[0].turns if turn.tool}
    assert classes == set(TOOL_CLASSES)
    assert all(t.phases[0].turns[-1].tool is None for t in trajs)


def test_agentperf_preset_has_the_public_shape() -> None:
    trajs = make("agentperf", count=300, seed=1)
    outputs = sorted(o for _, o, _ in turns_of(trajs))
    assert within(statistics.median(outputs), 150, 0.1)
    assert within(outputs[int(0.95 * len(outputs))], 2000, 0.15)
    stats = synthetic.describe(trajs)
    assert stats["turns_max"] <= 200
    assert stats["request_input_tokens_max"] > 100_000
    assert stats["request_input_tokens_min"] >= 5000
    for traj in trajs:
        phase = traj.phases[0]
        total = phase.preamble_tokens + sum(t.input_tokens + t.output_tokens for t in phase.turns)
        assert total <= 131072


def test_zero_fields_take_the_preset_and_others_override() -> None:
    params = synthetic.resolve(
        "local", {"count": 0, "output_tokens_median": 0.0, "min_turns": 2, "max_turns": 2}
    )
    assert params.count == 32 and params.output_tokens_median == 60.0
    assert {t.turn_count for t in synthetic.generate_params(params)} == {2}


def test_context_cap_truncates_but_keeps_a_turn() -> None:
    trajs = make(count=20, preamble_tokens=100, max_context_tokens=150, input_tokens_median=500.0)
    for traj in trajs:
        phase = traj.phases[0]
        assert phase.turns
        assert phase.preamble_tokens + sum(t.input_tokens + t.output_tokens for t in phase.turns) <= 150


@pytest.mark.parametrize(
    ("preset", "over", "message"),
    [
        (
            "nope",
            {},
            "GenerateSyntheticRequest field 'preset': unknown preset 'nope'; known: local, agentperf",
        ),
        (
            "local",
            {"min_turns": 20},
            "GenerateSyntheticRequest field 'spec.min_turns': must be <= max_turns (12), got 20",
        ),
        (
            "local",
            {"input_tokens_median": -1.0},
            "GenerateSyntheticRequest field 'spec.input_tokens_median': must be > 0, got -1.0",
        ),
        (
            "local",
            {"turns_distribution": "zipf"},
            "GenerateSyntheticRequest field 'spec.turns_distribution': must be one of uniform, lognormal, got 'zipf'",
        ),
        ("local", {"bogus": 1}, "GenerateSyntheticRequest field 'spec.bogus': unknown synthetic parameter"),
    ],
)
def test_bad_parameters_are_input_errors(preset: str, over: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        synthetic.resolve(preset, over)
    assert str(info.value) == message


def test_limits_apply_to_synthetic_requests() -> None:
    params = synthetic.resolve("agentperf", {})
    with pytest.raises(LimitExceededError, match="max_turns_per_trajectory"):
        check_synthetic_limits(params, StoreLimits(max_turns_per_trajectory=100))
    with pytest.raises(LimitExceededError, match="max_trajectories"):
        check_synthetic_limits(params, StoreLimits(max_trajectories=10))
    check_synthetic_limits(params, StoreLimits())


def test_describe_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert synthetic.main(["--preset", "local", "--count", "20"]) == 0
    assert '"preset": "local"' in capsys.readouterr().out
