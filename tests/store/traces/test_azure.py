"""Azure LLM inference CSV: every row of the real trace, exact values, errors naming line and column."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.core import ImportSession
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.tokencount import ApproxCounter
from agentperf.trajectory import Phase, Trajectory, Turn

CODE_TRACE = (
    Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "traces" / "azure-2023"
) / "AzureLLMInferenceTrace_code.csv"
HEADER = b"TIMESTAMP,ContextTokens,GeneratedTokens\r\n"


def parse(data: bytes, *, chunk: int = 0, limits: StoreLimits | None = None) -> ImportResult:
    ctx = ImportContext("azure.csv", "d", limits or StoreLimits(), ApproxCounter())
    parser = get_format("azure-llm-csv", source="test").make(ctx)
    step = chunk or max(1, len(data))
    for start in range(0, len(data), step):
        parser.feed(data[start : start + step])
    return parser.finish()


def test_code_trace_every_row() -> None:
    with CODE_TRACE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    result = parse(CODE_TRACE.read_bytes(), chunk=65536)
    trajs = result.trajectories
    assert result.token_method == "trace"
    assert len(rows) == len(trajs) == 8819
    assert [(t.phases[0].turns[0].input_tokens, t.phases[0].turns[0].output_tokens) for t in trajs] == [
        (int(r["ContextTokens"]), int(r["GeneratedTokens"])) for r in rows
    ]
    assert all(t.turn_count == 1 and len(t.phases) == 1 and t.phases[0].turns[0].tool is None for t in trajs)
    assert [t.meta["timestamp"] for t in trajs] == [r["TIMESTAMP"] for r in rows]
    assert trajs[0] == Trajectory(
        id="request-2",
        index=0,
        phases=(Phase(turns=(Turn(4808, 10),)),),
        meta={"timestamp": "2023-11-16 18:17:03.9799600"},
    )
    # The file's last line has no line ending.
    assert (trajs[-1].id, trajs[-1].phases[0].turns[0]) == ("request-8820", Turn(549, 173))
    assert len({t.id for t in trajs}) == 8819


def test_through_the_import_session() -> None:
    session = ImportSession(StoreLimits())
    data = b"".join(CODE_TRACE.read_bytes().splitlines(keepends=True)[:100])
    session.add_chunk(
        dataset="azure", format="azure-llm-csv", replace=False, source_name="code.csv", data=data
    )
    session.feed(data)
    result = session.finish()
    assert result.token_method == "trace"
    assert len(result.trajectories) == 99
    assert result.trajectories[1].phases[0].turns[0] == Turn(3180, 8)


def test_columns_in_any_order_and_lf_endings() -> None:
    data = b"GeneratedTokens,TIMESTAMP,ContextTokens\n7,2024-05-10 00:00:00,300\n\n9,2024-05-10 00:00:01.5,40"
    trajs = parse(data, chunk=3).trajectories
    assert [(t.id, t.phases[0].turns[0]) for t in trajs] == [
        ("request-2", Turn(300, 7)),
        ("request-4", Turn(40, 9)),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "azure.csv: empty input: expected the header TIMESTAMP,ContextTokens,GeneratedTokens"),
        (HEADER, "azure.csv: no requests"),
        (
            b"time,in,out\n",
            "azure.csv:1: header must name the columns TIMESTAMP,ContextTokens,GeneratedTokens",
        ),
        (
            HEADER + b"2023-11-16 18:17:03.9799600,48x,10\r\n",
            "azure.csv:2 field 'ContextTokens': column 2: must be an integer >= 0, got '48x'",
        ),
        (
            HEADER + b"2023-11-16 18:17:03.97,1,2\r\n2023-11-16 18:17:04,1,-2\r\n",
            "azure.csv:3 field 'GeneratedTokens': column 3: must be an integer >= 0, got '-2'",
        ),
        (HEADER + b"2023-11-16,1\r\n", "azure.csv:2: must have 3 columns like the header, got 2"),
        (
            HEADER + b"yesterday,1,2\r\n",
            "azure.csv:2 field 'TIMESTAMP': column 1: must be a date and time like 2023-11-16 18:17:03.97, got 'yesterday'",
        ),
        (HEADER + b'"2023-11-16,1,2\r\n', "azure.csv:2: invalid CSV"),
        (HEADER + b"2023-11-16,1,\xff\r\n", "azure.csv:2: invalid UTF-8 at byte 13 of the line"),
    ],
)
def test_errors_name_line_and_column(data: bytes, message: str) -> None:
    with pytest.raises(InputError) as info:
        parse(data)
    assert str(info.value).startswith(message)


def test_limits() -> None:
    data = HEADER + b"2023-11-16 18:17:03,5,6\r\n" * 3
    with pytest.raises(LimitExceededError, match=r"azure.csv:4: more than 2 trajectories"):
        parse(data, limits=StoreLimits(max_trajectories=2))
    with pytest.raises(InputError, match=r"azure.csv:2 field 'GeneratedTokens': column 3: must be at most 5"):
        parse(data, limits=StoreLimits(max_tokens_per_turn=5))
