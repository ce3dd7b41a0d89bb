"""The result document and table: honest markers, JSON without infinities, atomic writes."""

from __future__ import annotations

import json
import math
from pathlib import Path

from agentperf.report import LevelSummary, RunReport, TierSummary, render_table, write_json


def _tier(name: str, **kw: object) -> TierSummary:
    base: dict[str, object] = {
        "tier": name,
        "min_output_speed": 30.0,
        "max_ttft_s": 10.0,
        "max_agents": 12,
        "lowest_failing": 13,
        "converged": True,
        "non_monotone": False,
        "client_limited": False,
        "agents_per_gpu": 1.5,
        "agents_per_mw": 25_000.0,
        "p95_ttft_s": 0.5,
        "p25_output_speed": 31.0,
        "power_w": 480.0,
    }
    base.update(kw)
    return TierSummary(**base)  # type: ignore[arg-type]


def _report(*tiers: TierSummary) -> RunReport:
    level = LevelSummary(
        level=12, verdicts={"slo1": {"verdict": "pass", "p95_ttft_s": math.inf}}, requests_sent=40,
        records_total=40, records_window=30, failed=0, censored=2, complete=True, run_id="r",
        output_tokens_per_s=900.0, window_s=10.0, power_w=480.0, gpus=8, power_simulated=False, elapsed_s=12.0,
    )  # fmt: skip
    return RunReport(
        run_id="r", started_unix_s=0.0, finished_unix_s=1.0, target="http://x", target_kind="external",
        model="m", dataset={"name": "d", "trajectories": 3}, tool_model="lognormal", seed=1, gpus=8,
        config={}, versions={}, levels=[level], tiers=list(tiers),
    )  # fmt: skip


def test_table_marks_unconverged_non_monotone_and_client_limited_answers() -> None:
    table = render_table(
        _report(
            _tier("slo1"),
            _tier("slo2", converged=False, non_monotone=True),
            _tier("slo3", lowest_failing=None, client_limited=True, max_agents=63),
        )
    )
    rows = {line.split()[0]: line for line in table.splitlines() if line.startswith("slo")}
    assert "  12  " in rows["slo1"] and "25.0K" in rows["slo1"] and "13 fails" in rows["slo1"]
    assert "12?*" in rows["slo2"]
    assert ">=63 (client)" in rows["slo3"]
    assert "not converged" in table and "non-monotone" in table and "could not drive" in table


def test_table_head_states_the_cost_of_the_answer() -> None:
    report = _report(_tier("slo1"))
    report.gpu_seconds = 1234.4
    assert "levels measured: 1, cost 1234 GPU-seconds" in render_table(report)


def test_json_has_no_infinity_and_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "out" / "result.json"
    write_json(_report(_tier("slo1", p95_ttft_s=math.inf)), path)
    doc = json.loads(path.read_text())  # strict JSON: would fail on Infinity
    assert doc["tiers"][0]["p95_ttft_s"] is None
    assert doc["levels"][0]["verdicts"]["slo1"]["p95_ttft_s"] is None
    assert doc["schema"] == "agentperf.run/v2"
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]  # no temp file left
