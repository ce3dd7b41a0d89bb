"""SWE-agent importer (0.x and 1.x) against the three real files: turns, counted tokens, text, tools, durations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import InputError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.tokencount import TokenCounter, TokenizerCounter
from agentperf.trajectory import ToolCall

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
FILES = DATA / "trajectories" / "swe-agent"
SIMPLE = FILES / "function_calling_simple.traj"
PYDICOM = FILES / "gpt4__pydicom__pydicom-1458.traj"
MARSHMALLOW = FILES / "marshmallow-code__marshmallow-1867__function_calling_replace.traj"


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenizerCounter(DATA / "tokenizers" / "phi-3-mini")


def parse(
    data: bytes, counter: TokenCounter, source: str = "x.traj", limits: StoreLimits | None = None
) -> ImportResult:
    ctx = ImportContext(source, "test", limits or StoreLimits(), counter)
    parser = get_format("swe-agent", source="test").make(ctx)
    for start in range(0, len(data), 4096):
        parser.feed(data[start : start + 4096])
    return parser.finish()


def parse_file(path: Path, counter: TokenCounter) -> ImportResult:
    return parse(path.read_bytes(), counter, source=path.name)


def load(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text())
    assert isinstance(value, dict)
    return value


@pytest.mark.parametrize(("path", "calls"), [(SIMPLE, 5), (PYDICOM, 12), (MARSHMALLOW, 11)])
def test_one_turn_per_assistant_message(path: Path, calls: int, counter: TokenCounter) -> None:
    result = parse_file(path, counter)
    [traj] = result.trajectories
    doc = load(path)
    assert traj.id == path.name.removesuffix(".traj")
    assert len(traj.phases) == 1
    assert traj.turn_count == calls == sum(m["role"] == "assistant" for m in doc["history"])
    assert result.token_method == traj.meta["token_method"] == "tokenizer:phi-3-mini"
    if "trajectory" in doc:
        assert calls == len(doc["trajectory"]) == doc["info"]["model_stats"]["api_calls"]


def test_function_calling_file_exactly(counter: TokenCounter) -> None:
    history = load(SIMPLE)["history"]
    phase = parse_file(SIMPLE, counter).trajectories[0].phases[0]
    assert phase.preamble_text == history[0]["content"]
    assert phase.preamble_tokens == counter.count(history[0]["content"])
    first = phase.turns[0]
    assert first.input_text == history[1]["content"]
    assert first.input_tokens == counter.count(history[1]["content"])
    call = '{"name":"find_file","arguments":"{\\"file_name\\":\\"missing_colon.py\\"}"}'
    assert first.output_text == history[2]["content"] + "\n" + call
    assert first.output_tokens == counter.count(first.output_text)
    assert phase.turns[1].input_text == history[3]["content"]  # the tool observation
    assert [t.tool for t in phase.turns] == [
        ToolCall("find_file", "search"),
        ToolCall("open", "read"),
        ToolCall("edit", "edit"),
        ToolCall("python", "shell"),
        ToolCall("submit", "other"),
    ]
    assert all(t.cached_tokens == 0 for t in phase.turns)


def test_old_format_preamble_includes_the_demonstration(counter: TokenCounter) -> None:
    history = load(PYDICOM)["history"]
    assert history[1]["is_demo"] is True
    [traj] = parse_file(PYDICOM, counter).trajectories
    phase = traj.phases[0]
    assert phase.preamble_text == history[0]["content"] + "\n\n" + history[1]["content"]
    assert phase.preamble_tokens == counter.count(phase.preamble_text)
    assert phase.turns[0].input_text == history[2]["content"]
    assert traj.meta["model_stats.tokens_sent"] == "122612"
    assert traj.meta["model_stats.tokens_received"] == "1369"
    assert traj.meta["exit_status"] == "submitted"


def test_actions_are_classified_from_the_action_field(counter: TokenCounter) -> None:
    steps = load(PYDICOM)["trajectory"]
    turns = parse_file(PYDICOM, counter).trajectories[0].phases[0].turns
    for turn, step in zip(turns, steps, strict=True):
        assert turn.tool is not None
        assert turn.tool.name == step["action"].split()[0]
        assert turn.tool.recorded_duration_s == 0.0  # 0.x records no execution time
    classes = [t.tool.tool_class for t in turns if t.tool is not None]
    assert classes == [
        "edit",
        "edit",
        "shell",
        "search",
        "read",
        "edit",
        "edit",
        "edit",
        "edit",
        "shell",
        "shell",
        "other",
    ]


def test_new_format_durations_are_the_recorded_execution_times(counter: TokenCounter) -> None:
    steps = load(MARSHMALLOW)["trajectory"]
    turns = parse_file(MARSHMALLOW, counter).trajectories[0].phases[0].turns
    assert [t.tool.recorded_duration_s for t in turns if t.tool] == [s["execution_time"] for s in steps]
    assert turns[0].tool == ToolCall("create", "edit", 0.238733730999229)


def test_counted_totals_are_near_the_recorded_gpt4_totals(counter: TokenCounter) -> None:
    """Replaying pydicom-1458 sends what GPT-4 was sent, counted with another tokenizer (phi-3: more tokens)."""
    phase = parse_file(PYDICOM, counter).trajectories[0].phases[0]
    context, sent = phase.preamble_tokens, 0
    for turn in phase.turns:
        sent += context + turn.input_tokens
        context += turn.input_tokens + turn.output_tokens
    received = sum(t.output_tokens for t in phase.turns)
    assert 1.0 < sent / 122_612 < 1.4
    assert 1.0 < received / 1_369 < 1.4


def test_id_comes_from_the_source_name(counter: TokenCounter) -> None:
    data = SIMPLE.read_bytes()
    assert parse(data, counter, source="runs/a/b/demo-7.traj").trajectories[0].id == "demo-7"
    assert parse(data, counter, source="demo.traj.json").trajectories[0].id == "demo"
    assert parse(data, counter, source="mine.swe-agent").trajectories[0].id == "mine"


def mutated(path: Path, edit: Any) -> bytes:
    doc = load(path)
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("path", "edit", "field"),
    [
        (SIMPLE, lambda d: d.pop("history"), "history"),
        (SIMPLE, lambda d: d["history"][2].update(content=7), "history[2].content"),
        (SIMPLE, lambda d: d["history"][2].update(content=[{"text": 1}]), "history[2].content[0].text"),
        (SIMPLE, lambda d: d["history"][4].update(action=["ls"]), "history[4].action"),
        (SIMPLE, lambda d: d["history"][4].update(tool_calls="ls"), "history[4].tool_calls"),
        (
            SIMPLE,
            lambda d: d["history"][6]["tool_calls"][0].pop("function"),
            "history[6].tool_calls[0].function",
        ),
        (SIMPLE, lambda d: d["history"][8].pop("role"), "history[8].role"),
        (SIMPLE, lambda d: d.update(history=d["history"][:2]), "history"),
        (MARSHMALLOW, lambda d: d["trajectory"][3].update(execution_time=-1), "trajectory[3].execution_time"),
        (
            MARSHMALLOW,
            lambda d: d["trajectory"][3].update(execution_time="1s"),
            "trajectory[3].execution_time",
        ),
        (MARSHMALLOW, lambda d: d.update(trajectory={}), "trajectory"),
    ],
)
def test_broken_fields_are_named(path: Path, edit: Any, field: str, counter: TokenCounter) -> None:
    with pytest.raises(InputError) as err:
        parse(mutated(path, edit), counter)
    assert err.value.field == field


def test_content_parts_and_missing_tool_calls_are_accepted(counter: TokenCounter) -> None:
    def edit(doc: dict[str, Any]) -> None:
        doc["history"][1]["content"] = [
            {"type": "text", "text": "part one"},
            {"type": "image_url"},
            {"text": "two"},
        ]
        doc["history"][4].pop("action")
        doc["history"][6].pop("action")
        doc["history"][6].pop("tool_calls")

    turns = parse(mutated(SIMPLE, edit), counter).trajectories[0].phases[0].turns
    assert turns[0].input_text == "part one\ntwo"
    assert turns[1].tool == ToolCall("open", "read")  # from the function call
    assert turns[2].tool is None


def test_unpaired_steps_leave_durations_unknown(counter: TokenCounter) -> None:
    [traj] = parse(mutated(MARSHMALLOW, lambda d: d["trajectory"].pop()), counter).trajectories
    assert all(t.tool is not None and t.tool.recorded_duration_s == 0.0 for t in traj.phases[0].turns)
    assert traj.meta["durations"] == "unknown: 10 trajectory steps for 11 model calls"


def test_limits(counter: TokenCounter) -> None:
    with pytest.raises(InputError) as err:
        parse(PYDICOM.read_bytes(), counter, limits=StoreLimits(max_turns_per_trajectory=11))
    assert err.value.field == "history"
    with pytest.raises(InputError) as err:
        parse(PYDICOM.read_bytes(), counter, limits=StoreLimits(max_tokens_per_turn=5000))
    assert err.value.field == "history[0:2]"  # the preamble: system prompt and demonstration
    with pytest.raises(InputError) as err:
        parse(SIMPLE.read_bytes(), counter, limits=StoreLimits(max_text_chars=300))
    assert err.value.field == "history[1]"
