"""Broken and hostile input for the chat-history importers: only InputError or LimitExceededError may escape.

The real files are mutated field by field (keys dropped, values replaced by other types,
huge numbers, NaN) and byte by byte (truncated, overwritten, spliced); a few hand-made
hostile documents check deep nesting, giant literals and long runs. A deadline per example
catches hangs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, get_format
from agentperf.tokencount import TokenizerCounter

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
DATA = SHARED / "trajectories"
# The real tokenizer: it rejects some strings the approximation takes (unpaired surrogates).
COUNTER = TokenizerCounter(SHARED / "tokenizers" / "phi-3-mini")
# Subtrees no importer reads: mutating them tells nothing, so they are left out of the paths.
UNREAD = frozenset(
    {
        "config",
        "reasoning_details",
        "cost_details",
        "instance",
        "test_result",
        "extras",
        "llm_metrics",
        "replay_config",
        "edited_files30",
        "edited_files50",
        "edited_files70",
        "submission",
        "response_latencies",
        "instruction",
    }
)
FUZZ = settings(
    max_examples=100, deadline=5000, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Sample:
    format: str
    doc: Any  # decoded JSON, mutated in place and restored by each example
    paths: list[Path_]
    raw: bytes


def walk(value: Any, prefix: Path_ = ()) -> Iterator[Path_]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key not in UNREAD:
                yield (*prefix, key)
                yield from walk(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield (*prefix, i)
            yield from walk(item, (*prefix, i))


def sample(fmt: str, path: Path, first_line_only: bool = False) -> Sample:
    raw = path.read_bytes()
    if first_line_only:
        raw = raw.splitlines()[0]
    doc = json.loads(raw)
    return Sample(fmt, doc, list(walk(doc)), raw)


SAMPLES = [
    sample("mini-swe-agent", DATA / "mini-swe-agent" / "django__django-11133.traj.json"),
    sample(
        "swe-agent", DATA / "swe-agent" / "marshmallow-code__marshmallow-1867__function_calling_replace.traj"
    ),
    sample("swe-agent", DATA / "swe-agent" / "gpt4__pydicom__pydicom-1458.traj"),
    sample("openhands", DATA / "openhands" / "output.jsonl", first_line_only=True),
]
IDS = ["mini-swe-agent", "swe-agent-1.x", "swe-agent-0.x", "openhands"]


def outcome(fmt: str, data: bytes, limits: StoreLimits | None = None) -> str:
    """Parse and report "ok" or the error class; anything but our two errors fails the test."""
    ctx = ImportContext("fuzz", "fuzz", limits or StoreLimits(), COUNTER)
    parser = get_format(fmt, source="fuzz").make(ctx)
    try:
        parser.feed(data)
        result = parser.finish()
    except (InputError, LimitExceededError) as exc:
        assert str(exc)
        return type(exc).__name__
    assert result.trajectories
    return "ok"


def test_the_unmutated_samples_import() -> None:
    for item in SAMPLES:
        assert outcome(item.format, item.raw) == "ok"


TRICKY_STRINGS = [
    "\ud800",  # an unpaired surrogate: valid JSON, not storable text
    "x\udfffy",
    "0001-01-01T00:00:00+01:00",
    "9999-12-31T23:59:59-05:00",
    "2025-04-30T16:32:54Z",
    "```bash\nls\n```",
    "echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT",
    "",
]
hostile_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.integers(min_value=1, max_value=400).map(lambda depth: json.loads("[" * depth + "]" * depth)),
    st.sampled_from(TRICKY_STRINGS),
)


def mutate(doc: Any, path: Path_, replacement: Any, delete: bool) -> bytes:
    """Serialize ``doc`` with the value at ``path`` replaced or deleted, then restore it."""
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    old = parent[last]
    try:
        if delete and isinstance(parent, dict):
            del parent[last]
        elif delete:
            parent.pop(last)
        else:
            parent[last] = replacement
        return json.dumps(doc).encode()
    finally:
        if delete and isinstance(parent, list):
            parent.insert(last, old)  # type: ignore[arg-type]
        else:
            parent[last] = old


@pytest.mark.parametrize("item", SAMPLES, ids=IDS)
@FUZZ
@given(data=st.data())
def test_field_mutations_fail_cleanly(item: Sample, data: st.DataObject) -> None:
    path = item.paths[data.draw(st.integers(0, len(item.paths) - 1), label="path")]
    delete = data.draw(st.booleans(), label="delete")
    replacement = None if delete else data.draw(hostile_values, label="value")
    outcome(item.format, mutate(item.doc, path, replacement, delete))


@pytest.mark.parametrize("item", SAMPLES, ids=IDS)
@FUZZ
@given(data=st.data())
def test_byte_damage_fails_cleanly(item: Sample, data: st.DataObject) -> None:
    raw = item.raw
    at = data.draw(st.integers(0, len(raw)), label="at")
    kind = data.draw(st.sampled_from(["truncate", "overwrite", "insert", "splice"]), label="kind")
    if kind == "truncate":
        damaged = raw[:at]
    elif kind == "overwrite":
        damaged = raw[:at] + data.draw(st.binary(min_size=1, max_size=8)) + raw[at + 8 :]
    elif kind == "insert":
        damaged = raw[:at] + data.draw(st.binary(min_size=1, max_size=64)) + raw[at:]
    else:
        end = data.draw(st.integers(at, len(raw)), label="end")
        damaged = raw[:at] + raw[end:] + raw[at:end]
    outcome(item.format, damaged)


@pytest.mark.parametrize("item", SAMPLES, ids=IDS)
@FUZZ
@given(
    limits=st.builds(
        StoreLimits,
        max_trajectories=st.integers(1, 3),
        max_phases=st.integers(1, 3),
        max_turns_per_trajectory=st.integers(1, 60),
        max_tokens_per_turn=st.integers(1, 20_000),
        max_text_chars=st.integers(0, 50_000),
    )
)
def test_any_limits_fail_cleanly(item: Sample, limits: StoreLimits) -> None:
    outcome(item.format, item.raw, limits)


HOSTILE = [
    b"",
    b"\xef\xbb\xbf",
    b"null",
    b"[]",
    b'"text"',
    b"[" * 200_000 + b"]" * 200_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    b"1" * 100_000,
    b'{"messages": NaN, "history": Infinity, "instance_id": -Infinity}',
    b'{"messages": [], "history": [], "instance_id": "x", "metrics": {"token_usages": []}}',
    b'{"messages": [{"role": "assistant", "content": "x", "extra": {"response": {"usage": '
    b'{"prompt_tokens": 1e999, "completion_tokens": 1}}}}], "history": 1}',
    b'{"instance_id": "x", "history": [], "metrics": {"token_usages": [{"response_id": "r", '
    b'"prompt_tokens": 99999999999999999999999, "completion_tokens": 1}]}}',
    b" " * 1_000_000,
    b"\n" * 100_000,
    bytes(range(256)) * 100,
]


@pytest.mark.parametrize("fmt", ["mini-swe-agent", "swe-agent", "openhands"])
@pytest.mark.parametrize("data", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_documents_fail_cleanly(fmt: str, data: bytes) -> None:
    assert outcome(fmt, data) in ("InputError", "LimitExceededError")
