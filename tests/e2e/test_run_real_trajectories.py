"""End to end on real data: imported OpenHands trajectories replayed with tool gaps fitted to them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentperf.loadgen.records import parse_record_id
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import FORMATS, ImportContext
from agentperf.sim.tokens import MESSAGE_OVERHEAD
from agentperf.tokencount import TokenizerCounter

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OPENHANDS = DATA / "trajectories" / "openhands" / "output.jsonl"
TOKENIZER = DATA / "tokenizers" / "phi-3-mini"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path]:
    if not OPENHANDS.exists():
        pytest.skip(f"{OPENHANDS} not found (the shared data folder sits beside the repository)")
    out = tmp_path_factory.mktemp("runs")
    settings = [
        "run_id=real",
        "tool_model=fitted",
        "window_s=4",
        "min_window_requests=20",
        "search.start=4",
        "search.max_levels=2",
    ]
    args = [sys.executable, "-m", "agentperf", "run", "--out", str(out), "--quiet"]
    args += ["--dataset-file", str(OPENHANDS), "--dataset-format", "openhands", "--tokenizer", str(TOKENIZER)]
    for item in settings:
        args += ["--set", item]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads((out / "real" / "result.json").read_text()), out / "real"


def test_report_names_the_real_dataset_and_the_fitted_tool_model(
    real_run: tuple[dict[str, Any], Path],
) -> None:
    result, _ = real_run
    assert result["dataset"]["name"] == "output" and result["dataset"]["trajectories"] == 3
    assert "fitted" in result["tool_model"] and "dataset 'output'" in result["tool_model"]
    for level in result["levels"]:
        assert level["records_total"] == level["requests_sent"] > 0


def test_replayed_context_grows_by_the_real_text(real_run: tuple[dict[str, Any], Path]) -> None:
    _, run_dir = real_run
    parser = FORMATS["openhands"].make(
        ImportContext(OPENHANDS.name, "output", StoreLimits(), TokenizerCounter(TOKENIZER))
    )
    parser.feed(OPENHANDS.read_bytes())
    trajectories = {t.id: t for t in parser.finish().trajectories}
    by_turn: dict[tuple[Any, ...], dict[int, dict[str, Any]]] = {}
    for line in (run_dir / "sim-requests.jsonl").read_text().splitlines():
        entry = json.loads(line)
        rid = parse_record_id(entry["request_id"])
        by_turn.setdefault((rid.level, rid.agent, rid.traj_seq, rid.trajectory_id, rid.phase), {})[
            rid.turn
        ] = entry
    checked = 0
    for (_level, _agent, _seq, traj_id, phase), turns in by_turn.items():
        recorded = trajectories[traj_id].phases[phase].turns
        for k, entry in turns.items():
            prev = turns.get(k - 1)
            if prev is None or prev["status"] != "ok" or entry["status"] == "error":
                continue
            text = recorded[k].input_text
            new_words = len(text.split()) if text else recorded[k].input_tokens
            expected = prev["prompt_tokens"] + prev["completion_tokens"] + new_words + 2 * MESSAGE_OVERHEAD
            assert entry["prompt_tokens"] == expected, (traj_id, phase, k)
            checked += 1
    assert checked >= 20
