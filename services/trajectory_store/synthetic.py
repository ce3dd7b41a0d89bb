"""Seeded synthetic trajectories whose every distribution is a stated parameter.

Pure: :func:`generate_params` turns :class:`SyntheticParams` into trajectories, drawing from one
``random.Random`` built from the seed, so the same parameters give the same dataset on every
machine. Two presets are named here and documented in docs/trajectory-store.md:

* ``local``: the laptop run's small workload (4-12 turns, short contexts).
* ``agentperf``: shaped after the public AA-AgentPerf figures (sessions up to 200 turns, context
  growing past 100K tokens and cut at 131,072, output median ~150 tokens with P95 ~2K, tool
  median 1 s).

Each trajectory is one phase: a preamble, then turns; every turn but the last ends in a tool
call whose class is drawn uniformly from TOOL_CLASSES. Run ``python -m
agentperf.services.trajectory_store.synthetic --preset NAME`` to print a preset's measured shape.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import statistics
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from agentperf.errors import InputError
from agentperf.trajectory import TOOL_CLASSES, Phase, ToolCall, Trajectory, Turn

FORMAT_NAME = "synthetic"
# The default follows the public AgentPerf figures; `agentperf run` asks for "local" (laptop-sized) itself.
DEFAULT_PRESET = "agentperf"
_SOURCE = "GenerateSyntheticRequest"
TURNS_DISTRIBUTIONS = ("uniform", "lognormal")
TOOL_NAMES = {
    "read": "read_file",
    "search": "grep",
    "edit": "edit_file",
    "test": "run_tests",
    "shell": "bash",
    "other": "other",
}


@dataclass(frozen=True, slots=True)
class SyntheticParams:
    """Every knob of the generator; field names equal those of agentperf.v1.SyntheticSpec."""

    count: int
    seed: int
    min_turns: int
    max_turns: int
    turns_distribution: str
    turns_median: float
    turns_sigma: float
    preamble_tokens: int
    input_tokens_median: float
    input_tokens_sigma: float
    max_input_tokens: int
    output_tokens_median: float
    output_tokens_sigma: float
    max_output_tokens: int
    tool_median_s: float
    tool_sigma: float
    max_tool_s: float
    max_context_tokens: int  # 0: no cap


PRESETS: dict[str, SyntheticParams] = {
    "local": SyntheticParams(
        count=32,
        seed=0,
        min_turns=4,
        max_turns=12,
        turns_distribution="uniform",
        turns_median=8.0,
        turns_sigma=0.5,
        preamble_tokens=300,
        input_tokens_median=200.0,
        input_tokens_sigma=0.6,
        max_input_tokens=2000,
        output_tokens_median=60.0,
        output_tokens_sigma=0.5,
        max_output_tokens=256,
        tool_median_s=1.0,
        tool_sigma=0.6,
        max_tool_s=300.0,
        max_context_tokens=0,
    ),
    "agentperf": SyntheticParams(
        count=100,
        seed=0,
        min_turns=5,
        max_turns=200,
        turns_distribution="lognormal",
        # Tuned so the mean request input comes near the public ~27K with requests from 5K to 131K.
        turns_median=20.0,
        turns_sigma=1.0,
        preamble_tokens=5000,
        input_tokens_median=150.0,
        input_tokens_sigma=1.0,
        max_input_tokens=32768,
        output_tokens_median=150.0,
        # P95 / median = exp(1.645 * sigma): 2000 / 150 gives sigma = ln(13.3) / 1.645 = 1.575.
        output_tokens_sigma=1.575,
        max_output_tokens=16384,
        tool_median_s=1.0,
        tool_sigma=1.0,
        max_tool_s=300.0,
        max_context_tokens=131072,
    ),
}

_POSITIVE_INTS = ("count", "min_turns", "max_turns", "max_input_tokens", "max_output_tokens")
_POSITIVE_FLOATS = (
    "input_tokens_median",
    "output_tokens_median",
    "tool_median_s",
    "max_tool_s",
    "turns_median",
)
_NON_NEGATIVE: tuple[str, ...] = (
    "preamble_tokens",
    "max_context_tokens",
    "input_tokens_sigma",
    "output_tokens_sigma",
    "tool_sigma",
    "turns_sigma",
)
_FIELDS = tuple(f.name for f in dataclasses.fields(SyntheticParams))


def resolve(preset: str, overrides: Mapping[str, object]) -> SyntheticParams:
    """The preset's parameters with ``overrides`` applied; zero / empty overrides mean "preset default"."""
    name = preset or DEFAULT_PRESET
    if name not in PRESETS:
        raise InputError(
            f"unknown preset {name!r}; known: {', '.join(PRESETS)}", source=_SOURCE, field="preset"
        )
    unknown = sorted(set(overrides) - set(_FIELDS))
    if unknown:
        raise InputError("unknown synthetic parameter", source=_SOURCE, field=f"spec.{unknown[0]}")
    given = {key: value for key, value in overrides.items() if value not in (0, 0.0, "")}
    params = dataclasses.replace(PRESETS[name], **given)  # type: ignore[arg-type]
    validate(params)
    return params


def validate(params: SyntheticParams) -> None:
    """Raise InputError (field ``spec.<name>``) for parameters no generator run could honour."""
    for name in _POSITIVE_INTS + _POSITIVE_FLOATS + _NON_NEGATIVE:
        value = getattr(params, name)
        strict = name not in _NON_NEGATIVE
        if not math.isfinite(value) or value < 0 or (strict and value == 0):
            raise InputError(
                f"must be {'> 0' if strict else '>= 0'}, got {value}", source=_SOURCE, field=f"spec.{name}"
            )
    if params.min_turns > params.max_turns:
        raise InputError(
            f"must be <= max_turns ({params.max_turns}), got {params.min_turns}",
            source=_SOURCE,
            field="spec.min_turns",
        )
    if params.turns_distribution not in TURNS_DISTRIBUTIONS:
        raise InputError(
            f"must be one of {', '.join(TURNS_DISTRIBUTIONS)}, got {params.turns_distribution!r}",
            source=_SOURCE,
            field="spec.turns_distribution",
        )
    if params.max_context_tokens and params.max_context_tokens < params.preamble_tokens + 2:
        raise InputError(
            f"must leave room for one turn after the preamble ({params.preamble_tokens} tokens), "
            f"got {params.max_context_tokens}",
            source=_SOURCE,
            field="spec.max_context_tokens",
        )


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _tokens(rng: random.Random, median: float, sigma: float, maximum: int) -> int:
    return max(1, min(maximum, round(_lognormal(rng, median, sigma))))


def _turn_count(rng: random.Random, p: SyntheticParams) -> int:
    if p.turns_distribution == "uniform":
        return rng.randint(p.min_turns, p.max_turns)
    return max(p.min_turns, min(p.max_turns, round(_lognormal(rng, p.turns_median, p.turns_sigma))))


def _tool(rng: random.Random, p: SyntheticParams) -> ToolCall:
    tool_class = rng.choice(TOOL_CLASSES)
    duration = min(p.max_tool_s, _lognormal(rng, p.tool_median_s, p.tool_sigma))
    return ToolCall(TOOL_NAMES[tool_class], tool_class, round(duration, 3))


def _fit_first(p: SyntheticParams, inp: int, out: int) -> tuple[int, int]:
    """Shrink the first turn so that it fits the context cap (validate() left room for 1 + 1 tokens)."""
    room = p.max_context_tokens - p.preamble_tokens
    out = min(out, room - 1)
    return min(inp, room - out), out


def trajectory(rng: random.Random, p: SyntheticParams, index: int) -> Trajectory:
    """One synthetic trajectory; draws happen in a fixed order so a seed fixes the whole dataset."""
    planned = _turn_count(rng, p)
    context = p.preamble_tokens
    turns: list[Turn] = []
    for k in range(planned):
        inp = _tokens(rng, p.input_tokens_median, p.input_tokens_sigma, p.max_input_tokens)
        out = _tokens(rng, p.output_tokens_median, p.output_tokens_sigma, p.max_output_tokens)
        tool = _tool(rng, p) if k < planned - 1 else None
        if p.max_context_tokens and context + inp + out > p.max_context_tokens:
            if turns:
                break
            inp, out = _fit_first(p, inp, out)
        turns.append(Turn(input_tokens=inp, output_tokens=out, tool=tool))
        context += inp + out
    phase = Phase(turns=tuple(turns), preamble_tokens=p.preamble_tokens)
    return Trajectory(id=f"syn-{p.seed}-{index:04d}", phases=(phase,), index=index)


def generate(preset: str = DEFAULT_PRESET, **overrides: object) -> Iterator[Trajectory]:
    """The trajectories of ``preset`` with ``overrides`` (for example ``count=64, seed=7``) applied.

    Exactly what GenerateSynthetic stores for the same preset and spec fields.
    """
    return generate_params(resolve(preset, overrides))


def generate_params(p: SyntheticParams) -> Iterator[Trajectory]:
    """Yield ``p.count`` trajectories, lazily, from ``random.Random`` seeded with ``p.seed``."""
    validate(p)
    # random.seed() drops the sign of an int; map the int64 seed to a distinct non-negative one.
    rng = random.Random(p.seed % 2**64)
    for index in range(p.count):
        yield trajectory(rng, p, index)


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def describe(trajectories: Sequence[Trajectory]) -> dict[str, float]:
    """Measured shape of a dataset: turns, per-turn tokens, request sequence lengths, tool delays."""
    turns = [t.turn_count for t in trajectories]
    outputs, inputs, requests, tools = [], [], [], []
    for traj in trajectories:
        for phase in traj.phases:
            context = phase.preamble_tokens
            for turn in phase.turns:
                inputs.append(turn.input_tokens)
                outputs.append(turn.output_tokens)
                requests.append(context + turn.input_tokens)
                context += turn.input_tokens + turn.output_tokens
                if turn.tool is not None:
                    tools.append(turn.tool.recorded_duration_s)
    return {
        "trajectories": len(trajectories),
        "turns_median": statistics.median(turns),
        "turns_max": max(turns),
        "input_tokens_median": statistics.median(inputs),
        "output_tokens_median": statistics.median(outputs),
        "output_tokens_p95": _quantile(outputs, 0.95),
        "request_input_tokens_mean": round(statistics.fmean(requests)),
        "request_input_tokens_min": min(requests),
        "request_input_tokens_max": max(requests),
        "tool_s_median": statistics.median(tools) if tools else 0.0,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Print a preset's measured shape as JSON (the numbers quoted in the docs come from here)."""
    parser = argparse.ArgumentParser(description="Describe a synthetic preset's measured shape.")
    parser.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    params = resolve(args.preset, {"count": args.count, "seed": args.seed})
    stats = describe(list(generate_params(params)))
    print(json.dumps({"preset": args.preset, "seed": args.seed, **stats}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
