"""Our JSONL format: round trip, exact error messages, limits, and a property test of the parser."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.formats import JsonlParser, dump_jsonl, parse_jsonl
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn


def turn(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"input_tokens": 120, "output_tokens": 80}
    base.update(over)
    return base


def line(traj_id: str = "t-0001", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"id": traj_id, "phases": [{"preamble_tokens": 300, "turns": [turn()]}]}
    base.update(over)
    return base


def jsonl(*objs: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def error_of(data: bytes, limits: StoreLimits | None = None) -> str:
    with pytest.raises(InputError) as info:
        parse_jsonl(data, source="trajs.jsonl", limits=limits)
    return str(info.value)


SAMPLE = [
    Trajectory(
        id="t-0001",
        index=0,
        meta={"repo": "octo/widgets", "language": "python"},
        phases=(
            Phase(
                preamble_tokens=300,
                preamble_text="You are a coding agent.",
                turns=(
                    Turn(120, 80, 0, ToolCall("bash", "shell", 1.2), "fix the bug", "running tests"),
                    Turn(400, 35, 410, None, "ok — ünïcode ✓", ""),
                ),
            ),
            Phase(preamble_tokens=0, turns=(Turn(5, 1, 0, ToolCall("grep", "search", 0.0)),)),
        ),
    ),
    Trajectory(id="t-0002", index=1, phases=(Phase(turns=(Turn(0, 0),)),)),
]


def test_round_trip_keeps_every_field() -> None:
    data = dump_jsonl(SAMPLE)
    back = parse_jsonl(data, source="x.jsonl")
    assert back == SAMPLE
    assert [t.meta for t in back] == [t.meta for t in SAMPLE]
    assert dump_jsonl(back) == data


def test_documented_example_parses() -> None:
    example = (
        '{"id": "t-0001", "phases": [{"preamble_tokens": 300, "preamble_text": "You are a coding agent.", '
        '"turns": [{"input_tokens": 120, "output_tokens": 80, "cached_tokens": 0, "input_text": "Fix the '
        'failing test in utils.py", "output_text": "Let me run the tests.", "tool": {"name": "bash", '
        '"class": "test", "duration_s": 1.2}}, {"input_tokens": 950, "output_tokens": 150}]}], '
        '"meta": {"repo": "octo/widgets"}}\n'
    )
    (traj,) = parse_jsonl(example.encode(), source="x.jsonl")
    assert traj.turn_count == 2
    assert traj.phases[0].turns[0].tool == ToolCall("bash", "test", 1.2)
    assert traj.phases[0].turns[1].tool is None
    assert traj.meta == {"repo": "octo/widgets"}


def test_chunks_may_split_lines_and_utf8_sequences_anywhere() -> None:
    data = b"\n\r\n" + dump_jsonl(SAMPLE) + b"   \n"
    for size in (1, 2, 7, 64):
        parser = JsonlParser("x.jsonl", StoreLimits())
        for start in range(0, len(data), size):
            parser.feed(data[start : start + size])
        assert parser.finish() == SAMPLE


def test_last_line_without_newline_and_crlf() -> None:
    data = json.dumps(line("a")).encode() + b"\r\n" + json.dumps(line("b")).encode()
    assert [t.id for t in parse_jsonl(data, source="x")] == ["a", "b"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"id": "a", "phases": [}\n', "trajs.jsonl:1: invalid JSON: Expecting value (column 24)"),
        (b"\n\n" + b'{"id": "a"} trailing\n', "trajs.jsonl:3: invalid JSON: Extra data (column 13)"),
        (b'{"id": "\xff"}\n', "trajs.jsonl:1: invalid UTF-8 at byte 8 of the line"),
        (b'{"id": "a", "id": "b"}\n', "trajs.jsonl:1: invalid JSON: duplicate key 'id'"),
        (b'{"id": NaN}\n', "trajs.jsonl:1: invalid JSON: NaN is not allowed"),
        (b"[1, 2]\n", "trajs.jsonl:1: must be a JSON object, got [1, 2]"),
        (
            jsonl(line(), line("t-2", extra=1)),
            "trajs.jsonl:2 field 'extra': unknown key; allowed: id, phases, meta",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(), turn(), turn(), turn(output_tokens=-5)]}])),
            "trajs.jsonl:1 field 'phases[0].turns[3].output_tokens': must be an integer >= 0, got -5",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(input_tokens="12")]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].input_tokens': must be an integer >= 0, got \"12\"",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(input_tokens=1.5)]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].input_tokens': must be an integer >= 0, got 1.5",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(cached_tokens=True)]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].cached_tokens': must be an integer >= 0, got true",
        ),
        (
            jsonl(line(phases=[{"preamble_tokens": 10}])),
            "trajs.jsonl:1 field 'phases[0].turns': required key is missing",
        ),
        (
            jsonl(line(phases=[{"turns": []}])),
            "trajs.jsonl:1 field 'phases[0].turns': must be a non-empty list, got []",
        ),
        (jsonl(line(phases=[])), "trajs.jsonl:1 field 'phases': must be a non-empty list, got []"),
        (jsonl({"phases": line()["phases"]}), "trajs.jsonl:1 field 'id': required key is missing"),
        (jsonl(line("")), "trajs.jsonl:1 field 'id': must be a non-empty string, got \"\""),
        (
            jsonl(line("a"), line("b"), line("a")),
            "trajs.jsonl:3 field 'id': duplicate id \"a\" (first on line 1)",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(tool={"name": "bash", "class": "shel"})]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].tool.class': must be one of read, search, edit, test, "
            'shell, other, got "shel"',
        ),
        (
            jsonl(line(phases=[{"turns": [turn(tool={"name": "bash", "duration_s": -1})]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].tool.duration_s': must be a finite number >= 0, got -1",
        ),
        (
            jsonl(line(phases=[{"turns": [turn(tool={"class": "shell"})]}])),
            "trajs.jsonl:1 field 'phases[0].turns[0].tool.name': required key is missing",
        ),
        (jsonl(line(meta={"k": 5})), "trajs.jsonl:1 field 'meta.k': must be a string, got 5"),
        (b"\n  \n", "trajs.jsonl: no trajectories: the input is empty or only blank lines"),
    ],
)
def test_malformed_input_names_line_and_field(data: bytes, message: str) -> None:
    assert error_of(data) == message


def test_error_carries_structured_location() -> None:
    with pytest.raises(InputError) as info:
        parse_jsonl(
            jsonl(line("a"), line("b", phases=[{"turns": [turn(output_tokens=-1)]}])), source="f.jsonl"
        )
    assert (info.value.source, info.value.line, info.value.field) == (
        "f.jsonl",
        2,
        "phases[0].turns[0].output_tokens",
    )


LIMITS = StoreLimits(
    max_trajectories=2, max_phases=2, max_turns_per_trajectory=3, max_tokens_per_turn=1000, max_text_chars=10
)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (
            line(phases=[{"turns": [turn(input_tokens=1001)]}]),
            "trajs.jsonl:1 field 'phases[0].turns[0].input_tokens': must be an integer <= 1000 "
            "(max_tokens_per_turn), got 1001",
        ),
        (
            line(phases=[{"preamble_tokens": 5000, "turns": [turn()]}]),
            "trajs.jsonl:1 field 'phases[0].preamble_tokens': must be an integer <= 1000 "
            "(max_tokens_per_turn), got 5000",
        ),
        (
            line(phases=[{"turns": [turn()]}] * 3),
            "trajs.jsonl:1 field 'phases': must have at most 2 phases (max_phases), got 3",
        ),
        (
            line(phases=[{"turns": [turn(), turn()]}, {"turns": [turn(), turn()]}]),
            "trajs.jsonl:1 field 'phases[1].turns': trajectory has more than 3 turns "
            "(max_turns_per_trajectory), got 4 by this phase",
        ),
        (
            line(phases=[{"turns": [turn(output_text="x" * 11)]}]),
            "trajs.jsonl:1 field 'phases[0].turns[0].output_text': must be at most 10 characters "
            "(max_text_chars), got 11",
        ),
    ],
)
def test_limits_name_line_field_and_limit(obj: dict[str, Any], message: str) -> None:
    assert error_of(jsonl(obj), LIMITS) == message


def test_too_many_trajectories_is_a_limit_error_naming_the_line() -> None:
    with pytest.raises(
        LimitExceededError, match=r"^trajs\.jsonl:4: more than 2 trajectories \(max_trajectories\)$"
    ):
        parse_jsonl(
            jsonl(line("a"), line("b")) + b"\n" + jsonl(line("c")), source="trajs.jsonl", limits=LIMITS
        )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
turn_like = st.fixed_dictionaries(
    {"input_tokens": st.integers(-2, 5), "output_tokens": st.integers(-2, 5)},
    optional={"tool": json_values, "cached_tokens": json_values, "input_text": json_values, "x": json_values},
)
trajectory_like = st.fixed_dictionaries(
    {
        "id": st.text(max_size=3) | json_values,
        "phases": st.lists(st.fixed_dictionaries({"turns": st.lists(turn_like, max_size=3)}), max_size=2),
    },
    optional={"meta": json_values},
)


def _encode(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=40),
            json_values.map(_encode),
            trajectory_like.map(_encode),
            trajectory_like.map(_encode).flatmap(lambda b: st.integers(0, len(b)).map(lambda n: b[:n])),
        ),
        max_size=5,
    ),
    st.integers(1, 17),
)
def test_parser_only_ever_raises_input_error(lines: list[bytes], chunk: int) -> None:
    data = b"\n".join(lines)
    parser = JsonlParser("fuzz.jsonl", StoreLimits(max_tokens_per_turn=4, max_text_chars=6))
    try:
        for start in range(0, len(data), chunk):
            parser.feed(data[start : start + chunk])
        result = parser.finish()
    except InputError as exc:
        assert str(exc).startswith("fuzz.jsonl")
        return
    assert result and all(t.turn_count >= 1 for t in result)
    assert len({t.id for t in result}) == len(result)


def test_unpaired_surrogate_is_an_input_error_naming_the_field() -> None:
    line = b'{"id": "t", "phases": [{"turns": [{"input_tokens": 1, "output_tokens": 1, "input_text": "a\\ud800"}]}]}\n'
    with pytest.raises(
        InputError, match=r"x:1 field 'phases\[0\]\.turns\[0\]\.input_text': contains an unpaired surrogate"
    ):
        parse_jsonl(line, source="x")


def test_token_counter_survives_unpaired_surrogates() -> None:
    from agentperf.tokencount import TokenizerCounter

    tokenizer = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "tokenizers" / "phi-3-mini"
    counter = TokenizerCounter(tokenizer)
    assert counter.count("hello \ud800 world") == counter.count("hello ? world") > 0
    assert counter.method == "tokenizer:phi-3-mini"
