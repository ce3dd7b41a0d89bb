"""mini-swe-agent importer against the three real files: counts, exact token values, text, tools, errors."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import InputError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.services.trajectory_store.importers.mini_swe_agent import bash_blocks
from agentperf.tokencount import ApproxCounter, TokenCounter, TokenizerCounter
from agentperf.trajectory import TOOL_CLASSES, ToolCall

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
FILES = DATA / "trajectories" / "mini-swe-agent"
DJANGO = FILES / "django__django-11133.traj.json"
PYTEST = FILES / "pytest-dev__pytest-7324.traj.json"
SPHINX = FILES / "sphinx-doc__sphinx-8638.traj.json"
# mini-swe-agent's own action regex, to compare our linear-time scanner with.
ACTION_REGEX = re.compile(r"```bash\s*\n(.*?)\n```", re.DOTALL)


@pytest.fixture(scope="module")
def counter() -> TokenCounter:
    return TokenizerCounter(DATA / "tokenizers" / "phi-3-mini")


def parse(data: bytes, counter: TokenCounter, limits: StoreLimits | None = None) -> ImportResult:
    ctx = ImportContext("file.traj.json", "test", limits or StoreLimits(), counter)
    parser = get_format("mini-swe-agent", source="test").make(ctx)
    for start in range(0, len(data), 50_000):
        parser.feed(data[start : start + 50_000])
    return parser.finish()


def load(path: Path) -> dict[str, Any]:
    value = json.loads(path.read_text())
    assert isinstance(value, dict)
    return value


def assistant_messages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in doc["messages"] if m["role"] == "assistant"]


@pytest.mark.parametrize(("path", "calls"), [(DJANGO, 30), (PYTEST, 37), (SPHINX, 62)])
def test_one_turn_per_model_call(path: Path, calls: int, counter: TokenCounter) -> None:
    result = parse(path.read_bytes(), counter)
    [traj] = result.trajectories
    doc = load(path)
    assert traj.id == doc["instance_id"] == path.name.removesuffix(".traj.json")
    assert len(traj.phases) == 1
    assert traj.turn_count == calls == len(assistant_messages(doc)) == doc["info"]["model_stats"]["api_calls"]
    assert traj.meta["model"] == "google/gemini-3-pro-preview"
    assert traj.meta["exit_status"] == "Submitted"


@pytest.mark.parametrize(
    ("path", "method"),
    [(DJANGO, "usage+tokenizer:phi-3-mini"), (PYTEST, "usage"), (SPHINX, "usage+tokenizer:phi-3-mini")],
)
def test_token_method_per_file(path: Path, method: str, counter: TokenCounter) -> None:
    assert parse(path.read_bytes(), counter).token_method == method


def test_exact_values_of_the_django_file(counter: TokenCounter) -> None:
    [traj] = parse(DJANGO.read_bytes(), counter).trajectories
    phase = traj.phases[0]
    turns = phase.turns
    assert phase.preamble_tokens == counter.count(load(DJANGO)["messages"][0]["content"])
    assert phase.preamble_tokens + turns[0].input_tokens == 1496  # first call's prompt_tokens
    assert (turns[0].output_tokens, turns[0].cached_tokens) == (180, 0)
    assert turns[1].input_tokens == 2373 - 1496 - 180 == 697
    assert (turns[2].output_tokens, turns[2].cached_tokens) == (201, 2028)
    assert (turns[29].output_tokens, turns[29].cached_tokens) == (43, 12009)


def test_the_first_prompt_splits_into_preamble_and_first_input(counter: TokenCounter) -> None:
    for path, first_prompt in ((DJANGO, 1496), (PYTEST, 1446), (SPHINX, 2056)):
        phase = parse(path.read_bytes(), counter).trajectories[0].phases[0]
        assert phase.preamble_tokens + phase.turns[0].input_tokens == first_prompt


@pytest.mark.parametrize("path", [DJANGO, PYTEST, SPHINX])
def test_every_turn_follows_the_token_rule(path: Path, counter: TokenCounter) -> None:
    """input = prompt(k) - prompt(k-1) - completion(k-1) when >= 0, else the counted new text."""
    doc = load(path)
    phase = parse(path.read_bytes(), counter).trajectories[0].phases[0]
    usages = [m["extra"]["response"]["usage"] for m in assistant_messages(doc)]
    for k, (turn, usage) in enumerate(zip(phase.turns, usages, strict=True)):
        assert turn.output_tokens == usage["completion_tokens"]
        assert turn.cached_tokens == usage["prompt_tokens_details"]["cached_tokens"]
        if k == 0:
            continue
        delta = usage["prompt_tokens"] - usages[k - 1]["prompt_tokens"] - usages[k - 1]["completion_tokens"]
        expected = delta if delta >= 0 else counter.count(doc["messages"][2 * k + 1]["content"])
        assert turn.input_tokens == expected, k


def test_consistent_usage_reproduces_every_recorded_prompt(counter: TokenCounter) -> None:
    """pytest-7324 has no inconsistent call: the replayed context of call k is exactly prompt_tokens(k)."""
    result = parse(PYTEST.read_bytes(), counter)
    assert result.token_method == "usage"
    phase = result.trajectories[0].phases[0]
    prompts = [m["extra"]["response"]["usage"]["prompt_tokens"] for m in assistant_messages(load(PYTEST))]
    context = phase.preamble_tokens
    for turn, prompt in zip(phase.turns, prompts, strict=True):
        assert context + turn.input_tokens == prompt
        context += turn.input_tokens + turn.output_tokens


def test_inconsistent_usage_falls_back_to_the_counter_and_says_so(counter: TokenCounter) -> None:
    result = parse(DJANGO.read_bytes(), counter)
    assert result.token_method == "usage+tokenizer:phi-3-mini"
    traj = result.trajectories[0]
    assert traj.meta["token_method"] == result.token_method
    messages = load(DJANGO)["messages"]
    usages = [m["extra"]["response"]["usage"] for m in assistant_messages(load(DJANGO))]
    negative = [
        k
        for k in range(1, len(usages))
        if usages[k]["prompt_tokens"] < usages[k - 1]["prompt_tokens"] + usages[k - 1]["completion_tokens"]
    ]
    # Calls 23 and 28 (messages 46 and 56) report a prompt smaller than the previous context.
    assert negative == [22, 27]
    for k in (22, 27):
        assert traj.phases[0].turns[k].input_tokens == counter.count(messages[2 * k + 1]["content"])
    approx = parse(DJANGO.read_bytes(), ApproxCounter())
    assert approx.token_method == "usage+approx:chars/4"


def test_text_is_kept(counter: TokenCounter) -> None:
    messages = load(SPHINX)["messages"]
    phase = parse(SPHINX.read_bytes(), counter).trajectories[0].phases[0]
    assert phase.preamble_text == messages[0]["content"]
    for k, turn in enumerate(phase.turns):
        assert turn.input_text == messages[2 * k + 1]["content"]
        assert turn.output_text == messages[2 * k + 2]["content"]


def test_tools_come_from_the_single_bash_block(counter: TokenCounter) -> None:
    turns = parse(DJANGO.read_bytes(), counter).trajectories[0].phases[0].turns
    assert turns[0].tool == ToolCall("ls", "search", 0.0)
    assert turns[1].tool == ToolCall("find", "search", 0.0)
    assert turns[2].tool == ToolCall("cat", "edit", 0.0)  # cat <<'EOF' > reproduce_issue.py
    assert turns[6].tool == ToolCall("sed", "read", 0.0)  # sed -n '278,350p'
    assert turns[21].tool == ToolCall("sed", "edit", 0.0)  # sed -i
    assert turns[25].tool == ToolCall("python3", "test", 0.0)  # tests/runtests.py
    assert turns[27].tool == ToolCall("python3", "test", 0.0)  # test_memoryview_variants.py
    assert turns[-1].tool == ToolCall("submit", "other", 0.0)


@pytest.mark.parametrize("path", [DJANGO, PYTEST, SPHINX])
def test_replies_without_exactly_one_block_ran_nothing(path: Path, counter: TokenCounter) -> None:
    """The agent's own format-error message confirms how many blocks each such reply had."""
    messages = load(path)["messages"]
    turns = parse(path.read_bytes(), counter).trajectories[0].phases[0].turns
    for k, turn in enumerate(turns):
        blocks = bash_blocks(messages[2 * k + 2]["content"])
        if len(blocks) == 1:
            assert turn.tool is not None
            assert turn.tool.tool_class in TOOL_CLASSES
            assert turn.tool.recorded_duration_s == 0.0
        else:
            assert turn.tool is None
            assert f"found {len(blocks)} actions" in messages[2 * k + 3]["content"]


def test_block_scanner_agrees_with_the_agents_regex() -> None:
    texts = [m["content"] for path in (DJANGO, PYTEST, SPHINX) for m in assistant_messages(load(path))]
    texts += [
        "no block",
        "```bash\nls\n```",
        "```bash  \n\nls -la\n```\n```bash\npwd\n```",
        "```bash ls\n```",
    ]
    for text in texts:
        assert bash_blocks(text) == ACTION_REGEX.findall(text)


def test_block_scanner_is_linear_on_hostile_replies() -> None:
    small = "```bash\nx" * 100
    assert bash_blocks(small) == ACTION_REGEX.findall(small) == []
    started = time.perf_counter()
    assert bash_blocks("```bash\nx" * 200_000) == []
    assert bash_blocks("```bash" + " " * 1_000_000) == []
    assert time.perf_counter() - started < 5.0


def mutated(path: Path, edit: Any) -> bytes:
    doc = load(path)
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda d: d.pop("messages"), "messages"),
        (lambda d: d.update(messages={}), "messages"),
        (lambda d: d["messages"][3].pop("role"), "messages[3].role"),
        (lambda d: d["messages"][3].update(content=5), "messages[3].content"),
        (lambda d: d["messages"][3].update(content="a\ud800b"), "messages[3]"),
        (lambda d: d.update(instance_id="\udfff"), "instance_id"),
        (
            lambda d: d["messages"][2]["extra"]["response"]["usage"].update(prompt_tokens="1496"),
            "messages[2].extra.response.usage.prompt_tokens",
        ),
        (
            lambda d: d["messages"][4]["extra"]["response"]["usage"].update(completion_tokens=-1),
            "messages[4].extra.response.usage.completion_tokens",
        ),
        (
            lambda d: d["messages"][4]["extra"]["response"]["usage"].pop("completion_tokens"),
            "messages[4].extra.response.usage.completion_tokens",
        ),
        (
            lambda d: d["messages"][6]["extra"]["response"]["usage"]["prompt_tokens_details"].update(
                cached_tokens=2**40
            ),
            "messages[6].extra.response.usage.prompt_tokens_details.cached_tokens",
        ),
        (lambda d: d["messages"][6]["extra"].update(response=[]), "messages[6].extra.response"),
        (lambda d: d.update(messages=[m for m in d["messages"] if m["role"] != "assistant"]), "messages"),
        (lambda d: d.update(instance_id=""), "instance_id"),
        (lambda d: d.update(instance_id=7), "instance_id"),
    ],
)
def test_broken_fields_are_named(edit: Any, field: str, counter: TokenCounter) -> None:
    with pytest.raises(InputError) as err:
        parse(mutated(DJANGO, edit), counter)
    assert err.value.field == field
    assert (err.value.source, err.value.line) == ("file.traj.json", None)


def test_messages_without_usage_are_counted(counter: TokenCounter) -> None:
    def strip(doc: dict[str, Any]) -> None:
        for message in doc["messages"]:
            message.pop("extra", None)

    result = parse(mutated(PYTEST, strip), counter)
    assert result.token_method == "tokenizer:phi-3-mini"
    turn = result.trajectories[0].phases[0].turns[3]
    assert turn.input_tokens == counter.count(turn.input_text)
    assert turn.output_tokens == counter.count(turn.output_text)
    assert turn.cached_tokens == 0


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (StoreLimits(max_turns_per_trajectory=29), "messages"),
        (StoreLimits(max_tokens_per_turn=600), "messages[2].extra.response.usage.prompt_tokens"),
        (StoreLimits(max_text_chars=1000), "messages[1]"),
    ],
)
def test_limits_are_enforced_with_the_field_named(
    limits: StoreLimits, field: str, counter: TokenCounter
) -> None:
    with pytest.raises(InputError) as err:
        parse(DJANGO.read_bytes(), counter, limits)
    assert err.value.field == field
    assert str(limits.model_dump()[_limit_name(limits)]) in str(err.value)


def _limit_name(limits: StoreLimits) -> str:
    [name] = [k for k, v in limits.model_dump().items() if v != StoreLimits().model_dump()[k]]
    return name


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "invalid JSON at line 1 column 1"),
        (b'{"messages": [', "invalid JSON"),
        (b'{"messages": NaN}', "NaN is not allowed"),
        (b"\xff\xfe", "invalid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid JSON"),
        (b"[]", "must be a JSON object"),
    ],
)
def test_undecodable_documents(data: bytes, message: str, counter: TokenCounter) -> None:
    with pytest.raises(InputError, match=re.escape(message)):
        parse(data, counter)
