"""End to end: ``agentperf run`` with every service as a real process on loopback.

Checks what a user relies on: a found level passes and the next measured level above it
fails; the judge holds one record per request the load generator sent; and, on the
simulator's side, every request's context grew exactly as the trajectory says.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from agentperf.runtime.procs import start_child
from agentperf.sim.tokens import MESSAGE_OVERHEAD
from agentperf.trajectory import Trajectory
from tests.report.browser import chromium_path, inspect_page

pytestmark = pytest.mark.e2e

SEED = 7
COUNT = 24
RUN_SETTINGS = [
    f"seed={SEED}",
    f"synthetic_count={COUNT}",
    "window_s=4",
    "min_window_requests=50",
    "max_window_s=30",
    "search.start=4",
    "search.resolution_pct=25",
    "search.max_levels=12",
]


Completed = subprocess.CompletedProcess[str]


def _run_cli(out: Path, *extra: str, timeout: float = 600, flags: Sequence[str] = ("--quiet",)) -> Completed:
    args = [sys.executable, "-m", "agentperf", "run", "--out", str(out), *flags]
    for item in [*RUN_SETTINGS, *extra]:
        args += ["--set", item]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


# Every tier serves at least one agent on the simulator; nothing serves a million.
GATE_PASSES, GATE_FAILS = "slo1:1", "slo1:1000000"


@pytest.fixture(scope="module")
def local_run_full(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, Completed]:
    """The run, with live progress on stderr and a gate rule that holds."""
    out = tmp_path_factory.mktemp("runs")
    proc = _run_cli(out, "run_id=e2e", flags=("--gate", GATE_PASSES))
    assert proc.returncode == 0, proc.stderr[-4000:]
    run_dir = out / "e2e"
    return json.loads((run_dir / "result.json").read_text()), run_dir, proc


@pytest.fixture(scope="module")
def local_run(local_run_full: tuple[dict[str, Any], Path, Completed]) -> tuple[dict[str, Any], Path, str]:
    result, run_dir, proc = local_run_full
    return result, run_dir, proc.stdout


def test_prints_a_table_per_tier(local_run: tuple[dict[str, Any], Path, str]) -> None:
    result, _, stdout = local_run
    for tier in ("slo1", "slo2", "slo3"):
        assert any(line.startswith(tier) for line in stdout.splitlines()), stdout
    assert "max agents" in stdout and "agents/GPU" in stdout and "agents/MW" in stdout
    assert result["schema"] == "agentperf.run/v2"
    assert result["gpus"] == 1 and result["target_kind"] == "simulator"


def test_found_level_passes_and_next_measured_level_fails(
    local_run: tuple[dict[str, Any], Path, str],
) -> None:
    result, _, _ = local_run
    levels = {lvl["level"]: lvl for lvl in result["levels"]}
    limited = 0
    for tier in result["tiers"]:
        name, found = tier["tier"], tier["max_agents"]
        if found:
            assert levels[found]["verdicts"][name]["verdict"] == "pass"
            assert tier["agents_per_gpu"] == found / result["gpus"]
            assert tier["agents_per_mw"] == pytest.approx(found / (levels[found]["power_w"] / 1e6))
        above = sorted(lvl for lvl in levels if lvl > found)
        if tier["lowest_failing"] is not None:
            limited += 1
            assert above and above[0] == tier["lowest_failing"]
            assert levels[above[0]]["verdicts"][name]["verdict"] != "pass"
    # the simulator saturates on a laptop: the search must have found a real limit
    assert limited == len(result["tiers"])
    speeds = [t["min_output_speed"] for t in result["tiers"]]
    maxima = [t["max_agents"] for t in result["tiers"]]
    assert maxima == sorted(maxima, reverse=True), "stricter tiers cannot hold more agents"
    assert speeds == sorted(speeds)


def test_judge_holds_one_record_per_request_sent(local_run: tuple[dict[str, Any], Path, str]) -> None:
    result, run_dir, _ = local_run
    total_sent = 0
    for lvl in result["levels"]:
        assert lvl["requests_sent"] > 0
        # the load generator reports its own health and the prompt-length check for every level
        assert lvl["client"]["prompt_token_samples"] > 0 and lvl["client"]["cpu_fraction"] > 0
        assert lvl["records_total"] == lvl["requests_sent"], lvl
        assert 0 < lvl["records_window"] <= lvl["records_total"]
        # an undecided level is extended (at most max_extensions doublings), never measured twice
        assert lvl["run_id"] == "e2e" and 0 <= lvl["extensions"] <= 2
        total_sent += lvl["requests_sent"]
    sim_log = [json.loads(line) for line in (run_dir / "sim-requests.jsonl").read_text().splitlines()]
    assert len(sim_log) == total_sent


def _dataset() -> dict[str, Trajectory]:
    from agentperf.services.trajectory_store.synthetic import generate

    return {t.id: t for t in generate(count=COUNT, seed=SEED, preset="local")}


def test_every_request_context_grew_as_the_trajectory_says(
    local_run: tuple[dict[str, Any], Path, str],
) -> None:
    _, run_dir, _ = local_run
    trajectories = _dataset()
    sequences: dict[tuple[str, ...], dict[int, dict[str, Any]]] = defaultdict(dict)
    for line in (run_dir / "sim-requests.jsonl").read_text().splitlines():
        entry = json.loads(line)
        run, level, agent, seq, traj_id, phase, turn = entry["request_id"].split("/")
        assert run == "e2e"
        sequences[(run, level, agent, seq, traj_id, phase)][int(turn)] = entry
    checked = cached_hits = 0
    for (_run, _level, _agent, _seq, traj_id, phase), turns in sequences.items():
        phase_turns = trajectories[traj_id].phases[int(phase)].turns
        for k, entry in turns.items():
            if entry["status"] == "ok":
                # output length is forced: the server generated exactly what the trajectory recorded
                assert entry["completion_tokens"] == phase_turns[k].output_tokens
            prev = turns.get(k - 1)
            if prev is None or prev["status"] != "ok":
                continue
            expected = (
                prev["prompt_tokens"]
                + prev["completion_tokens"]
                + phase_turns[k].input_tokens
                + 2 * MESSAGE_OVERHEAD
            )
            assert entry["prompt_tokens"] == expected, (traj_id, phase, k)
            checked += 1
            cached_hits += entry["cached_tokens"] > 0
    assert checked > 50
    # history is byte-identical turn to turn, so the prefix cache serves most follow-up turns
    assert cached_hits / checked > 0.9


def test_ctrl_c_stops_everything_and_keeps_the_partial_result(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "agentperf", "run", "--out", str(tmp_path)]
    for item in [*RUN_SETTINGS, "run_id=interrupted", "window_s=30"]:
        args += ["--set", item]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    deadline = time.monotonic() + 120
    for line in proc.stderr:
        if "window_open" in line or time.monotonic() > deadline:
            break
    proc.send_signal(signal.SIGINT)
    try:
        stdout, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise
    assert proc.returncode == 130
    result = json.loads((tmp_path / "interrupted" / "result.json").read_text())
    assert result["interrupted"] is True
    assert "max agents" in stdout
    # no service process of this run is left behind
    run_dir = str(tmp_path / "interrupted")
    leftovers = [pid for pid in os.listdir("/proc") if pid.isdigit() and run_dir in _cmdline(pid)]
    assert leftovers == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def test_live_progress_shows_the_windows_percentiles(
    local_run_full: tuple[dict[str, Any], Path, Completed],
) -> None:
    _, _, proc = local_run_full
    live = [line for line in proc.stderr.splitlines() if "window t=" in line and "judged=" in line]
    assert live, proc.stderr[-2000:]
    assert any("p95=" in line and "p25=" in line for line in live)
    assert "judge verdict API: http://127.0.0.1:" in proc.stderr


def test_result_carries_the_gate_the_bounds_and_the_cost(local_run: tuple[dict[str, Any], Path, str]) -> None:
    result, _, stdout = local_run
    assert result["gate"] == {
        "status": "pass",
        "rules": [GATE_PASSES],
        "reasons": [f"ok: slo1 max agents {result['tiers'][0]['max_agents']} >= 1"],
    }
    assert "gate: pass" in stdout
    assert result["confidence"] == 0.9
    assert result["gpu_seconds"] == pytest.approx(sum(lvl["gpu_seconds"] for lvl in result["levels"]))
    for lvl in result["levels"]:
        assert lvl["gpu_seconds"] == pytest.approx(lvl["elapsed_s"] * lvl["gpus"])
        assert lvl["started_unix_s"] <= lvl["window_start_unix_s"] < lvl["window_end_unix_s"]
        for verdict in lvl["verdicts"].values():
            assert verdict["confidence"] == 0.9
            if verdict["verdict"] == "pass":  # a pass is a bounded pass
                assert verdict["p95_ttft_high_s"] is not None and verdict["ttft_samples"] >= 45


async def test_html_report_renders_its_plots_in_chromium(local_run: tuple[dict[str, Any], Path, str]) -> None:
    result, run_dir, _ = local_run
    page = run_dir / "report.html"
    assert page.is_file()
    if chromium_path() is None:
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail("REQUIRE_CHROMIUM=1 but no chromium on PATH")
        pytest.skip("no chromium on PATH (scripts/ensure_chromium.sh installs it)")
    render = await inspect_page(page, screenshot=run_dir / "report.png")
    plots = {p.name: p for p in render.plots}
    assert set(plots) == {"ttft", "speed", "max-agents", "power", "throughput"}
    for plot in plots.values():
        assert plot.width > 200 and plot.height > 100, plot
    tiers, levels = len(result["tiers"]), len(result["levels"])
    assert plots["ttft"].marks >= levels * tiers
    assert plots["throughput"].marks >= levels
    assert plots["max-agents"].marks >= tiers


async def test_a_judge_reopened_on_the_runs_database_serves_its_gate(
    local_run: tuple[dict[str, Any], Path, str],
) -> None:
    """The judge's SQLite file outlives the run: a judge started on it answers gates for it."""
    _, run_dir, _ = local_run
    args = ["--set", f"db_path={run_dir / 'judge.db'}", "--set", "http_port=0"]
    judge = await start_child("judge-reopened", "agentperf.services.judge", args, log_dir=run_dir / "logs")
    try:
        url = f"http://127.0.0.1:{judge.port('http_port')}"
        outcomes = {}
        for rule in (GATE_PASSES, GATE_FAILS):
            gate = [
                sys.executable,
                "-m",
                "agentperf",
                "gate",
                "--judge",
                url,
                "--run-id",
                "e2e",
                "--rule",
                rule,
            ]
            proc = await asyncio.to_thread(subprocess.run, gate, capture_output=True, text=True, timeout=60)
            outcomes[rule] = (proc.returncode, proc.stdout)
        assert outcomes[GATE_PASSES][0] == 0, outcomes
        assert outcomes[GATE_FAILS][0] == 1 and "FAIL: slo1 max agents" in outcomes[GATE_FAILS][1]
    finally:
        assert await judge.stop() == 0
