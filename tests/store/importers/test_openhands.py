"""OpenHands importer against the real output.jsonl: turns, usage per call, durations, text, errors."""

from __future__ import annotations

import json
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.tokencount import TokenCounter, TokenizerCounter
from agentperf.trajectory import ToolCall, Trajectory

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
OUTPUT = DATA / "trajectories" / "openhands" / "output.jsonl"
IDS = ["ponylang__ponyc-4595", "ponylang__ponyc-4593", "ponylang__ponyc-4588"]


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenizerCounter(DATA / "tokenizers" / "phi-3-mini")


@pytest.fixture(scope="module")
def result(counter: TokenCounter) -> ImportResult:
    return parse(OUTPUT.read_bytes(), counter)


def parse(
    data: bytes, counter: TokenCounter, limits: StoreLimits | None = None, piece: int = 65_536
) -> ImportResult:
    ctx = ImportContext("output.jsonl", "test", limits or StoreLimits(), counter)
    parser = get_format("openhands", source="test").make(ctx)
    for start in range(0, len(data), piece):
        parser.feed(data[start : start + piece])
    return parser.finish()


def rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in OUTPUT.read_text().splitlines() if line.strip()]


def model_actions(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in row["history"] if "action" in e and e.get("tool_call_metadata")]


def test_one_trajectory_per_line_one_turn_per_model_call(result: ImportResult) -> None:
    assert [t.id for t in result.trajectories] == IDS
    assert [t.index for t in result.trajectories] == [0, 1, 2]
    assert [t.turn_count for t in result.trajectories] == [23, 33, 49]
    for traj, row in zip(result.trajectories, rows(), strict=True):
        assert len(traj.phases) == 1
        assert traj.turn_count == len(row["metrics"]["token_usages"]) == len(model_actions(row))
        assert traj.meta["model"] == "openai/openrouter-llama-4-maverick"
    assert result.trajectories[2].meta["error"].startswith("RuntimeError: Agent reached maximum iteration")


def test_first_prompt_splits_into_preamble_and_first_input(
    result: ImportResult, counter: TokenCounter
) -> None:
    system = rows()[0]["history"][0]
    tools = json.dumps(system["args"]["tools"], ensure_ascii=False, separators=(",", ":"))
    for traj, first_prompt in zip(result.trajectories, (5920, 5549, 5282), strict=True):
        phase = traj.phases[0]
        assert phase.preamble_text == system["args"]["content"] + "\n\n" + tools
        assert phase.preamble_tokens == counter.count(phase.preamble_text)
        assert phase.preamble_tokens + phase.turns[0].input_tokens == first_prompt
    assert result.trajectories[0].phases[0].turns[0].output_tokens == 128


def test_every_turn_follows_the_token_rule(result: ImportResult, counter: TokenCounter) -> None:
    for traj, row in zip(result.trajectories, rows(), strict=True):
        usages = row["metrics"]["token_usages"]
        actions = model_actions(row)
        for k, turn in enumerate(traj.phases[0].turns):
            usage = usages[k]
            assert usage["response_id"] == actions[k]["tool_call_metadata"]["model_response"]["id"]
            assert turn.output_tokens == usage["completion_tokens"]
            assert turn.cached_tokens == usage["cache_read_tokens"] == 0
            if k:
                before = usages[k - 1]
                delta = usage["prompt_tokens"] - before["prompt_tokens"] - before["completion_tokens"]
                assert turn.input_tokens == (delta if delta >= 0 else counter.count(turn.input_text))


def test_token_method_names_the_fallback(result: ImportResult) -> None:
    assert result.token_method == "usage+tokenizer:phi-3-mini"
    negative = []
    for row in rows():
        usages = row["metrics"]["token_usages"]
        negative.append(
            sum(
                now["prompt_tokens"] < before["prompt_tokens"] + before["completion_tokens"]
                for before, now in pairwise(usages)
            )
        )
    assert negative == [0, 3, 0]
    assert [t.meta["token_method"] for t in result.trajectories] == [
        "usage",
        "usage+tokenizer:phi-3-mini",  # three calls report less prompt than the context before them
        "usage",
    ]


def test_durations_are_observation_minus_action_time(result: ImportResult) -> None:
    for traj, row in zip(result.trajectories, rows(), strict=True):
        seen = {e["cause"]: e["timestamp"] for e in row["history"] if "observation" in e and "cause" in e}
        for turn, action in zip(traj.phases[0].turns, model_actions(row), strict=True):
            assert turn.tool is not None
            if action["id"] in seen:
                gap = datetime.fromisoformat(seen[action["id"]]) - datetime.fromisoformat(action["timestamp"])
                assert turn.tool.recorded_duration_s == gap.total_seconds()
            else:
                assert (turn.tool.name, turn.tool.recorded_duration_s) == ("finish", 0.0)
    longest = max(
        (t.tool for traj in result.trajectories for t in traj.phases[0].turns if t.tool),
        key=lambda tool: tool.recorded_duration_s,
    )
    assert longest == ToolCall("apt-get", "shell", 265.462994)


def test_tools_follow_the_action_kinds(result: ImportResult) -> None:
    turns = result.trajectories[0].phases[0].turns
    assert turns[0].tool is not None and turns[0].tool.name == "ls"
    assert [t.tool.tool_class for t in turns[:6] if t.tool] == ["search"] * 4 + ["read", "search"]
    assert turns[4].tool is not None and turns[4].tool.name == "str_replace_editor"
    assert turns[11].tool is not None and (turns[11].tool.name, turns[11].tool.tool_class) == (
        "str_replace_editor",
        "edit",
    )
    assert turns[21].tool is not None and (turns[21].tool.name, turns[21].tool.tool_class) == (
        "think",
        "other",
    )
    assert turns[22].tool == ToolCall("finish", "other", 0.0)


def test_text_is_the_observations_and_the_response(result: ImportResult) -> None:
    row = rows()[0]
    history = row["history"]
    turns = result.trajectories[0].phases[0].turns
    assert turns[0].input_text == history[1]["message"] + "\n\n" + history[3]["content"]
    assert turns[1].input_text == history[5]["content"]  # output of `ls -l`
    message = history[4]["tool_call_metadata"]["model_response"]["choices"][0]["message"]
    call = message["tool_calls"][0]["function"]
    expected_call = json.dumps({"name": call["name"], "arguments": call["arguments"]}, separators=(",", ":"))
    assert turns[0].output_text == message["content"] + "\n" + expected_call


def test_a_failed_call_is_folded_into_the_next_input(result: ImportResult) -> None:
    """Line 2 has an error observation for a call whose response was never recorded."""
    history = rows()[1]["history"]
    error = history[28]
    assert (error["observation"], "cause" in error) == ("error", False)
    turn = result.trajectories[1].phases[0].turns[12]
    assert turn.input_text == history[27]["content"] + "\n\n" + error["content"]


def test_pieces_of_any_size_give_the_same_result(result: ImportResult, counter: TokenCounter) -> None:
    again = parse(OUTPUT.read_bytes(), counter, piece=997)
    assert again.trajectories == result.trajectories
    assert [t.meta for t in again.trajectories] == [t.meta for t in result.trajectories]


def line_of(edit: Any, index: int = 0) -> bytes:
    row = rows()[index]
    edit(row)
    return json.dumps(row).encode()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda r: r.pop("instance_id"), "instance_id"),
        (lambda r: r.pop("metrics"), "metrics"),
        (lambda r: r["metrics"].update(token_usages=None), "metrics.token_usages"),
        (
            lambda r: r["metrics"]["token_usages"][0].update(prompt_tokens="5920"),
            "metrics.token_usages[0].prompt_tokens",
        ),
        (
            lambda r: r["metrics"]["token_usages"][3].update(completion_tokens=2**31),
            "metrics.token_usages[3].completion_tokens",
        ),
        (lambda r: r["metrics"]["token_usages"][3].pop("response_id"), "metrics.token_usages[3].response_id"),
        (lambda r: r["history"][4].update(timestamp="yesterday"), "history[4].timestamp"),
        (lambda r: r["history"][5].update(timestamp=17), "history[5].timestamp"),
        (lambda r: r["history"][6].update(timestamp="0001-01-01T00:00:00+01:00"), "history[6].timestamp"),
        (
            lambda r: r["history"][4]["tool_call_metadata"].pop("model_response"),
            "history[4].tool_call_metadata.model_response",
        ),
        (lambda r: r["history"][4]["args"].pop("command"), "history[4].args.command"),
        (lambda r: r["history"][5].update(content=["x"]), "history[5].content"),
        (lambda r: r["history"][0]["args"].update(tools={}), "history[0].args.tools"),
        (lambda r: r.update(history=r["history"][:4]), "history"),
    ],
)
def test_broken_fields_are_named_with_the_line(edit: Any, field: str, counter: TokenCounter) -> None:
    good = OUTPUT.read_bytes().splitlines()[1]
    with pytest.raises(InputError) as err:
        parse(good + b"\n\n" + line_of(edit) + b"\n", counter)
    assert (err.value.source, err.value.line, err.value.field) == ("output.jsonl", 3, field)


def test_duplicate_ids_and_empty_inputs(counter: TokenCounter) -> None:
    line = OUTPUT.read_bytes().splitlines()[0]
    with pytest.raises(InputError) as err:
        parse(line + b"\n" + line, counter)
    assert (err.value.line, err.value.field) == (2, "instance_id")
    assert "first on line 1" in str(err.value)
    with pytest.raises(InputError, match="no trajectories"):
        parse(b"\n  \n", counter)
    with pytest.raises(InputError) as err:
        parse(line + b"\n{not json\n", counter)
    assert err.value.line == 2


def test_limits(counter: TokenCounter) -> None:
    with pytest.raises(LimitExceededError, match=":3: more than 2 trajectories"):
        parse(OUTPUT.read_bytes(), counter, StoreLimits(max_trajectories=2))
    with pytest.raises(InputError) as err:
        parse(OUTPUT.read_bytes(), counter, StoreLimits(max_turns_per_trajectory=30))
    assert (err.value.line, err.value.field) == (2, "history")
    with pytest.raises(InputError) as err:
        parse(OUTPUT.read_bytes(), counter, StoreLimits(max_tokens_per_turn=3000))
    assert (err.value.line, err.value.field) == (1, "history[0]")  # the preamble: 3303 tokens


def with_history(edit: Any) -> Trajectory:
    counter = TokenizerCounter(DATA / "tokenizers" / "phi-3-mini")
    return parse(line_of(edit), counter).trajectories[0]


def test_parallel_tool_calls_of_one_response_are_one_turn() -> None:
    def duplicate_first_action(row: dict[str, Any]) -> None:
        history = row["history"]
        twin, twin_obs = json.loads(json.dumps(history[4])), json.loads(json.dumps(history[5]))
        twin["id"], twin_obs["id"], twin_obs["cause"] = 1000, 1001, 1000
        history[6:6] = [twin, twin_obs]

    traj = with_history(duplicate_first_action)
    turns = traj.phases[0].turns
    assert len(turns) == 23
    assert turns[0].tool is not None
    assert turns[0].tool.recorded_duration_s == pytest.approx(2 * 0.619637)
    history = rows()[0]["history"]
    assert turns[1].input_text == history[5]["content"] + "\n\n" + history[5]["content"]


def test_condensation_starts_a_new_phase() -> None:
    def condense(row: dict[str, Any]) -> None:
        row["history"].insert(20, {"id": 999, "source": "agent", "action": "condensation", "args": {}})

    traj = with_history(condense)
    assert [len(p.turns) for p in traj.phases] == [8, 15]
    second = traj.phases[1]
    assert second.preamble_text == traj.phases[0].preamble_text
    assert second.preamble_tokens + second.turns[0].input_tokens == 23176  # that call's prompt_tokens


def test_a_reply_without_tool_call_is_a_counted_turn() -> None:
    def reply(row: dict[str, Any]) -> None:
        row["history"].insert(
            6, {"id": 998, "source": "agent", "action": "message", "message": "Done?", "args": {}}
        )

    traj = with_history(reply)
    turns = traj.phases[0].turns
    assert len(turns) == 24
    assert (turns[1].output_text, turns[1].tool) == ("Done?", None)
    assert traj.meta["token_method"] == "usage+tokenizer:phi-3-mini"
