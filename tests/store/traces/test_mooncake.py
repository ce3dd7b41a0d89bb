"""Mooncake traces: sessions, turns and phases checked against a brute-force reading of the rule."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.tokencount import ApproxCounter
from agentperf.trajectory import ToolCall, Trajectory, Turn

TRACES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "traces" / "mooncake"
CONVERSATION = TRACES / "conversation_trace.head500.jsonl"
SYNTHETIC = TRACES / "synthetic_trace.head500.jsonl"


def parse(data: bytes, *, chunk: int = 0, limits: StoreLimits | None = None) -> ImportResult:
    ctx = ImportContext("trace.jsonl", "d", limits or StoreLimits(), ApproxCounter())
    parser = get_format("mooncake", source="test").make(ctx)
    step = chunk or max(1, len(data))
    for start in range(0, len(data), step):
        parser.feed(data[start : start + step])
    return parser.finish()


def reference(rows: list[dict[str, Any]]) -> list[list[int]]:
    """The documented session rule, by brute force over every earlier request (O(n^2), no index)."""
    session_of: list[int] = []
    sessions: list[list[int]] = []
    first_seen: dict[int, int] = {}  # block id -> session where it first appeared
    for i, row in enumerate(rows):
        best, best_full = None, 0
        for j in range(i):
            full = rows[j]["input_length"] // 512
            prefix = rows[j]["hash_ids"][:full]
            owned = any(first_seen[b] == session_of[j] for b in prefix)
            if full >= 1 and row["hash_ids"][:full] == prefix and owned and full >= best_full:
                best, best_full = session_of[j], full
        if best is None:
            best = len(sessions)
            sessions.append([])
        sessions[best].append(i)
        session_of.append(best)
        for block in row["hash_ids"]:
            first_seen.setdefault(block, best)
    return sessions


def reference_phases(rows: list[dict[str, Any]], session: list[int]) -> int:
    phases = 1
    for prev, cur in itertools.pairwise(session):
        if rows[cur]["input_length"] - rows[prev]["input_length"] - rows[prev]["output_length"] <= 0:
            phases += 1
    return phases


def reference_cached(rows: list[dict[str, Any]]) -> list[int]:
    out = []
    for i, row in enumerate(rows):
        best = 0
        for j in range(i):
            a, b = rows[j]["hash_ids"], row["hash_ids"]
            k = 0
            while k < min(len(a), len(b)) and a[k] == b[k]:
                k += 1
            best = max(best, k)
        out.append(min(best * 512, row["input_length"]))
    return out


def turns_in_trace_order(trajectories: list[Trajectory]) -> dict[int, Turn]:
    by_line = {}
    for traj in trajectories:
        turns = [t for p in traj.phases for t in p.turns]
        for line, turn in zip(map(int, traj.meta["lines"].split(",")), turns, strict=True):
            by_line[line] = turn
    return by_line


@pytest.mark.parametrize(
    ("path", "sessions", "phases"),
    [(CONVERSATION, 438, 448), (SYNTHETIC, 484, 492)],
)
def test_real_traces_match_the_reference(path: Path, sessions: int, phases: int) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    ref = reference(rows)
    result = parse(path.read_bytes(), chunk=4096)
    trajs = result.trajectories
    assert result.token_method == "trace"
    assert (len(rows), len(ref), sum(map(len, ref))) == (500, sessions, 500)
    assert [t.meta["lines"] for t in trajs] == [",".join(str(i + 1) for i in s) for s in ref]
    assert [t.id for t in trajs] == [f"session-{s[0] + 1}" for s in ref]
    assert sum(t.turn_count for t in trajs) == 500
    assert [len(t.phases) for t in trajs] == [reference_phases(rows, s) for s in ref]
    assert sum(len(t.phases) for t in trajs) == phases
    # Every request's full length is preserved: the request it becomes carries input_length tokens.
    turns = turns_in_trace_order(trajs)
    cached = reference_cached(rows)
    for line, row in enumerate(rows, start=1):
        assert turns[line].output_tokens == row["output_length"]
        assert turns[line].cached_tokens == cached[line - 1]


@pytest.mark.parametrize("path", [CONVERSATION, SYNTHETIC])
def test_request_lengths_are_exact(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for traj in parse(path.read_bytes()).trajectories:
        lines = iter(map(int, traj.meta["lines"].split(",")))
        for phase in traj.phases:
            context = phase.preamble_tokens
            for turn in phase.turns:
                assert context + turn.input_tokens == rows[next(lines) - 1]["input_length"]
                context += turn.input_tokens + turn.output_tokens


def test_conversation_exact_values() -> None:
    trajs = {t.id: t for t in parse(CONVERSATION.read_bytes()).trajectories}
    two = trajs["session-2"]
    assert two.meta == {"first_line": "2", "first_timestamp_ms": "0", "lines": "2,138"}
    (phase,) = two.phases
    # line 138: input_length 7833 = 7322 + 490 + 21 new tokens; 14 full blocks shared = 7168 cached.
    assert phase.turns == (
        Turn(7322, 490, 512, ToolCall("arrival_gap", "other", 48.0)),
        Turn(21, 374, 7168, None),
    )
    assert trajs["session-1"].phases[0].turns == (Turn(6758, 500, 0, None),)


def test_synthetic_exact_values() -> None:
    traj = next(t for t in parse(SYNTHETIC.read_bytes()).trajectories if t.id == "session-16")
    assert traj.meta["lines"] == "16,59,75,91"
    # Each later request is shorter than the previous prompt + output: four phases of one turn.
    assert [[(t.input_tokens, t.output_tokens, t.cached_tokens) for t in p.turns] for p in traj.phases] == [
        [(2752, 35, 0)],
        [(2754, 50, 2560)],
        [(2752, 35, 2752)],
        [(2758, 18, 2560)],
    ]
    gaps = [p.turns[0].tool.recorded_duration_s if p.turns[0].tool else None for p in traj.phases]
    assert gaps == [13.364, 2.685, 6.583, None]


def line(ts: int, length: int, out: int, blocks: list[int], **extra: Any) -> dict[str, Any]:
    return {"timestamp": ts, "input_length": length, "output_length": out, "hash_ids": blocks, **extra}


def jsonl(*objs: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


def test_shared_system_prompt_does_not_chain_sessions() -> None:
    data = jsonl(
        line(0, 1500, 10, [0, 1, 2]),  # first to use block 0 (the shared prompt)
        line(1, 700, 10, [0, 5]),  # only full block is 0: starts a session, cannot be continued
        line(2, 1400, 10, [0, 9, 10]),  # shares block 0 only: new session
        line(3, 1600, 20, [0, 1, 2, 3]),  # all of line 1's full blocks (0, 1): continues it
    )
    trajs = parse(data).trajectories
    assert [t.meta["lines"] for t in trajs] == ["1,4", "2", "3"]
    # Line 4 also repeats line 1's partial last block (id 2): 3 blocks shared, 1536 tokens cached.
    assert trajs[0].phases[0].turns[1] == Turn(90, 20, 1536, None)
    assert trajs[0].phases[0].turns[0].tool == ToolCall("arrival_gap", "other", 0.003)


def test_sessions_interleave_and_grow() -> None:
    data = jsonl(
        line(0, 1100, 5, [7, 8, 9]),
        line(10, 1200, 5, [7, 8, 11]),  # continues line 1 (its full blocks 7, 8): 95 new tokens
        line(20, 1100, 5, [20, 21, 22]),  # another session
        line(30, 2100, 5, [7, 8, 11, 12, 13]),  # continues line 2: 895 new tokens
        line(40, 1700, 5, [20, 21, 23, 24]),  # continues line 3: 595 new tokens
    )
    trajs = parse(data).trajectories
    assert [t.meta["lines"] for t in trajs] == ["1,2,4", "3,5"]
    assert [[t.input_tokens for t in p.turns] for tr in trajs for p in tr.phases] == [
        [1100, 95, 895],
        [1100, 595],
    ]
    assert [t.tool for t in trajs[1].phases[0].turns] == [ToolCall("arrival_gap", "other", 0.02), None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"timestamp": 0}\n', "trace.jsonl:1 field 'input_length': required key is missing"),
        (
            jsonl(line(0, 10, 1, [1], session_id=3)),
            "trace.jsonl:1 field 'session_id': unknown key; allowed: timestamp, input_length, output_length, hash_ids",
        ),
        (
            jsonl(line(0, 1025, 1, [1, 2])),
            "trace.jsonl:1 field 'hash_ids': must hold ceil(input_length / 512) = 3 block ids, got 2",
        ),
        (jsonl(line(0, 10, 1, [-1])), "trace.jsonl:1 field 'hash_ids[0]': must be an integer >= 0, got -1"),
        (jsonl(line(0, 0, 1, [])), "trace.jsonl:1 field 'input_length': must be an integer >= 1, got 0"),
        (
            jsonl(line(0, 10, True, [1])),
            "trace.jsonl:1 field 'output_length': must be an integer >= 0, got True",
        ),
        (
            jsonl(line(5, 10, 1, [1]), line(4, 10, 1, [2])),
            "trace.jsonl:2 field 'timestamp': must not be earlier than the previous request's (5 on line 1)",
        ),
        (
            b'{"timestamp": 1' + b"0" * 400 + b', "input_length": 1, "output_length": 0, "hash_ids": [1]}',
            "trace.jsonl:1 field 'timestamp': must be milliseconds in [0, 1e+15], got 1000",
        ),
        (b"\n[1]\n", "trace.jsonl:2: must be a JSON object, got [1]"),
        (b"{bad\n", "trace.jsonl:1: invalid JSON"),
        (b"\n \n", "trace.jsonl: no requests"),
    ],
)
def test_errors_name_line_and_field(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(data)
    assert str(info.value).startswith(message)


def test_limits() -> None:
    data = jsonl(line(0, 600, 1, [1, 2]), line(1, 700, 1, [1, 3]), line(2, 800, 1, [1, 4]))
    with pytest.raises(InputError, match=r"trace.jsonl:3 field 'hash_ids': continues session-1 past 2 turns"):
        parse(data, limits=StoreLimits(max_turns_per_trajectory=2))
    with pytest.raises(LimitExceededError, match=r"trace.jsonl:2: more than 1 trajectories"):
        parse(jsonl(line(0, 10, 1, [1]), line(1, 10, 1, [2])), limits=StoreLimits(max_trajectories=1))
    with pytest.raises(
        InputError, match=r"field 'input_length': must be at most 100 \(max_tokens_per_turn\)"
    ):
        parse(jsonl(line(0, 101, 1, [1])), limits=StoreLimits(max_tokens_per_turn=100))


def test_chunking_does_not_change_the_result() -> None:
    data = b"".join(CONVERSATION.read_bytes().splitlines(keepends=True)[:120])
    assert parse(data, chunk=7).trajectories == parse(data).trajectories
