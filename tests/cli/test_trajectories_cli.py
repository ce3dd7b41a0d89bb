"""``agentperf trajectories``: every subcommand against a real store process (local or --store)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agentperf.cli import main
from agentperf.services.trajectory_store import synthetic
from agentperf.services.trajectory_store.formats import dump_jsonl, parse_jsonl, trajectory_to_json
from agentperf.services.trajectory_store.stats import dataset_stats
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
AZURE = DATA / "traces" / "azure-2023" / "AzureLLMInferenceTrace_code.csv"

SAMPLE = [
    Trajectory(
        id="fix-1",
        meta={"repo": "octo/widgets"},
        phases=(
            Phase(
                preamble_tokens=900,
                preamble_text="You are a coding agent.",
                turns=(
                    Turn(120, 80, 0, ToolCall("bash", "shell", 1.25), "fix the bug", "ls -la"),
                    Turn(400, 35, 1100, ToolCall("grep", "search", 0.0), "ünïcode ✓", ""),
                    Turn(60, 200, 1535, None),
                ),
            ),
            Phase(preamble_tokens=50, turns=(Turn(5, 7, 0, ToolCall("pytest", "test", 3.5)),)),
        ),
    ),
    Trajectory(id="fix-2", phases=(Phase(turns=(Turn(3000, 150),)),)),
]


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["trajectories", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def sample_file(tmp_path: Path) -> Path:
    path = tmp_path / "sample.v1.jsonl"
    path.write_bytes(dump_jsonl(SAMPLE))
    return path


def as_json(path_or_text: bytes) -> list[dict[str, Any]]:
    return [trajectory_to_json(t) for t in parse_jsonl(path_or_text, source="x")]


def test_import_list_stats_export_round_trip(
    tmp_path: Path, sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", str(tmp_path / "store.db")]
    code, out, _ = cli(capsys, "import", str(sample_file), *db)
    assert code == 0
    assert out.startswith("imported sample: 2 trajectories, 5 turns, 4535 input and 472 output tokens")

    code, out, _ = cli(capsys, "list", *db)
    assert code == 0
    header, row = out.splitlines()
    assert header.split() == [
        "dataset",
        "format",
        "trajectories",
        "turns",
        "input",
        "tokens",
        "output",
        "tokens",
        "tokens",
        "from",
    ]
    assert row.split() == ["sample", "jsonl", "2", "5", "4535", "472", "declared"]

    code, out, _ = cli(capsys, "stats", "sample", "--json", *db)
    assert code == 0
    (got,) = json.loads(out)["datasets"]
    want = dataset_stats(SAMPLE)
    assert got["dataset"]["trajectories"] == 2
    assert got["distributions"]["request_tokens"] == {
        "count": want.request_tokens.count,
        "min": 55.0,
        "mean": want.request_tokens.mean,
        "p50": want.request_tokens.p50,
        "p90": want.request_tokens.p90,
        "p95": want.request_tokens.p95,
        "p99": want.request_tokens.p99,
        "max": 3000.0,
    }
    # Requests: 900+120, 1100+400, 1500+35+60, 50+5, 3000; growth: 80+400, 35+60.
    assert want.request_tokens.count == 5 and want.context_growth_tokens.max == 480
    assert got["distributions"]["context_growth_tokens"]["count"] == 2
    assert got["tool_calls"] == 3
    assert {t["tool_class"]: t["calls_with_duration"] for t in got["tools"]}["search"] == 0
    assert got["public_figures"]["request_tokens"] == "5K-131K, mean ~27K"

    code, out, _ = cli(capsys, "stats", *db)
    assert code == 0
    assert out.startswith(
        "dataset sample: 2 trajectories, 5 turns, 3 tool calls (format jsonl, tokens: declared)"
    )
    lines = out.splitlines()
    assert "public figure" in next(line for line in lines if line.startswith("measure"))
    request_row = next(line for line in lines if line.startswith("request length (tokens)"))
    assert request_row.split()[3:9] == ["5", "1434.0", "1500", "3000", "3000", "3000"]
    assert request_row.endswith("5K-131K, mean ~27K")
    assert next(line for line in lines if line.startswith("shell")).split() == [
        "shell",
        "1",
        "1",
        "1.250",
        "1.250",
        "1.250",
        "1.250",
    ]

    exported = tmp_path / "out" / "exported.jsonl"
    exported.parent.mkdir()
    code, _, err = cli(capsys, "export", "sample", "-o", str(exported), *db)
    assert code == 0 and "exported 2 trajectories" in err
    assert as_json(exported.read_bytes()) == as_json(sample_file.read_bytes())
    assert [p.name for p in exported.parent.iterdir()] == ["exported.jsonl"]  # no temporary left

    code, out, _ = cli(capsys, "export", "sample", *db)
    assert code == 0 and as_json(out.encode()) == as_json(sample_file.read_bytes())

    # Re-import of the export equals the original import.
    code, _, _ = cli(capsys, "import", str(exported), "--dataset", "again", *db)
    assert code == 0
    code, out, _ = cli(capsys, "export", "again", *db)
    assert code == 0
    assert as_json(out.encode()) == as_json(sample_file.read_bytes())


def test_azure_csv_and_mooncake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "store.db")]
    with AZURE.open(newline="") as f:
        rows = list(csv.DictReader(f))
    code, out, _ = cli(capsys, "import", str(AZURE), "--format", "azure-llm-csv", *db)
    assert code == 0
    inputs = sum(int(r["ContextTokens"]) for r in rows)
    outputs = sum(int(r["GeneratedTokens"]) for r in rows)
    assert out.startswith(
        f"imported AzureLLMInferenceTrace_code: 8819 trajectories, 8819 turns, {inputs} input and {outputs} output tokens"
    )
    mooncake = DATA / "traces" / "mooncake" / "conversation_trace.head500.jsonl"
    code, out, _ = cli(capsys, "import", str(mooncake), "--format", "mooncake", "--dataset", "mc", *db)
    assert code == 0 and out.startswith("imported mc: 438 trajectories, 500 turns")

    code, out, _ = cli(capsys, "stats", "AzureLLMInferenceTrace_code", "mc", "--json", *db)
    assert code == 0
    azure, mc = json.loads(out)["datasets"]
    turns = azure["distributions"]["output_tokens_per_turn"]
    assert turns["count"] == 8819 and turns["max"] == max(int(r["GeneratedTokens"]) for r in rows)
    assert azure["distributions"]["request_tokens"]["mean"] == pytest.approx(inputs / 8819)
    assert azure["distributions"]["context_growth_tokens"]["count"] == 0
    assert mc["distributions"]["turns_per_trajectory"]["max"] == 3
    assert mc["tool_calls"] == 500 - 438  # one arrival gap between consecutive requests of a session


def test_generate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "store.db")]
    code, out, _ = cli(capsys, "generate", "--preset", "local", "--count", "6", "--seed", "3", *db)
    assert code == 0 and out.startswith("generated synthetic-local-3: 6 trajectories")
    code, out, _ = cli(capsys, "export", "synthetic-local-3", *db)
    assert code == 0
    want = [trajectory_to_json(t) for t in synthetic.generate("local", count=6, seed=3)]
    assert as_json(out.encode()) == want
    code, _, err = cli(capsys, "generate", "--preset", "local", "--count", "6", "--seed", "3", *db)
    assert code == 2 and "ALREADY_EXISTS" in err
    code, out, _ = cli(
        capsys, "generate", "--preset", "agentperf", "--count", "3", "--dataset", "ap", "--replace", *db
    )
    assert code == 0 and out.startswith("generated ap: 3 trajectories")


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ["--db", str(tmp_path / "store.db")]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "phases": [{"turns": [{"input_tokens": 1, "output_tokens": -2}]}]}\n')
    code, _, err = cli(capsys, "import", str(bad), *db)
    assert code == 2
    assert err == (
        "agentperf: trajectory-store: INVALID_ARGUMENT: bad.jsonl:1 field 'phases[0].turns[0].output_tokens': "
        "must be an integer >= 0, got -2\n"
    )
    assert cli(capsys, "import", str(tmp_path / "missing.jsonl"), *db)[2] == (
        f"agentperf: {tmp_path / 'missing.jsonl'}: no such file or folder\n"
    )
    code, _, err = cli(capsys, "stats", "nope", *db)
    assert code == 2 and err == "agentperf: trajectory-store: NOT_FOUND: dataset 'nope' does not exist\n"
    target = tmp_path / "never.jsonl"
    code, _, err = cli(capsys, "export", "nope", "-o", str(target), *db)
    assert code == 2 and "NOT_FOUND" in err
    assert sorted(p.name for p in tmp_path.iterdir() if "never" in p.name) == []
    code, _, err = cli(capsys, "list", "--db", str(tmp_path / "no" / "such" / "dir.db"))
    assert code == 2 and "the local trajectory store did not start" in err and "cannot open the SQLite" in err
    code, _, err = cli(capsys, "list", "--store", "127.0.0.1:1", "--db", "x.db")
    assert code == 2 and "--db and --tokenizer configure a local store" in err


@pytest.fixture
def running_store(tmp_path: Path) -> Iterator[str]:
    """A store process started outside the CLI, to which commands connect with --store."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agentperf.services.trajectory_store",
            "--set",
            f"db_path={tmp_path / 'ext.db'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        yield f"127.0.0.1:{ready['grpc_port']}"
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_against_a_running_store_with_tokenizer_free_formats(
    running_store: str, sample_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--store", running_store]
    assert cli(capsys, "import", str(sample_file), "--dataset", "ext", *store)[0] == 0
    assert cli(capsys, "generate", "--count", "2", *store)[0] == 0  # default preset: agentperf
    code, out, _ = cli(capsys, "list", *store)
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["ext", "synthetic-agentperf-0"]
    code, out, _ = cli(capsys, "stats", "--json", *store)
    assert code == 0
    assert [d["dataset"]["name"] for d in json.loads(out)["datasets"]] == ["ext", "synthetic-agentperf-0"]


def test_tokenizer_reaches_the_local_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = DATA / "trajectories" / "swe-agent"
    tokenizer = DATA / "tokenizers" / "phi-3-mini"
    db = ["--db", str(tmp_path / "store.db")]
    code, out, _ = cli(
        capsys, "import", str(folder), "--format", "swe-agent", "--tokenizer", str(tokenizer), *db
    )
    assert code == 0
    assert out.startswith("imported swe-agent: 3 trajectories")
    assert "tokens: tokenizer:phi-3-mini" in out
