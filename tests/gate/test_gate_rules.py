"""Gate rules (agentperf.gate) and `agentperf gate --result`: one rule engine, exit codes 0/1/2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import InputError
from agentperf.gate import GateRule, GateStatus, TierFigures, evaluate_gate, parse_rule

TIERS = {
    "slo1": TierFigures(max_agents=32, agents_per_gpu=4.0, agents_per_mw=1500.0),
    "slo2": TierFigures(max_agents=8, agents_per_gpu=1.0, agents_per_mw=None),
}


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("slo1", GateRule("slo1")),
        ("slo1:32", GateRule("slo1", min_agents=32)),
        ("slo2:agents=8,per_gpu=1.5", GateRule("slo2", min_agents=8, min_agents_per_gpu=1.5)),
        ("slo3:per_mw=1000", GateRule("slo3", min_agents_per_mw=1000.0)),
    ],
)
def test_rules_parse(text: str, rule: GateRule) -> None:
    assert parse_rule(text) == rule


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("slo1:lots", "slo1.agents"),
        ("slo1:per_cpu=3", "slo1"),
        ("slo1:agents=2.5", "slo1.agents"),
        (":3", ""),
    ],
)
def test_bad_rules_name_what_is_wrong(text: str, named: str) -> None:
    with pytest.raises(InputError) as err:
        parse_rule(text, source="--rule #1")
    assert "--rule #1" in str(err.value)
    assert named in str(err.value)


def test_every_rule_must_hold_to_pass() -> None:
    ok = evaluate_gate("finished", TIERS, [parse_rule("slo1:32"), parse_rule("slo2:agents=8,per_gpu=1")])
    assert ok.status is GateStatus.PASS and ok.exit_code == 0
    short = evaluate_gate("finished", TIERS, [parse_rule("slo1:32"), parse_rule("slo2:9")])
    assert short.status is GateStatus.FAIL and short.exit_code == 1
    assert any(r.startswith("FAIL: slo2 max agents 8 >= 9") for r in short.reasons)


def test_an_unknown_figure_fails_its_bound() -> None:
    outcome = evaluate_gate("finished", TIERS, [parse_rule("slo2:per_mw=10")])
    assert outcome.status is GateStatus.FAIL
    assert "unknown" in outcome.reasons[0]


@pytest.mark.parametrize(
    ("phase", "status", "code"),
    [
        ("running", GateStatus.PENDING, 2),
        ("interrupted", GateStatus.ERROR, 2),
        ("error", GateStatus.ERROR, 2),
    ],
)
def test_an_unfinished_run_neither_passes_nor_fails(phase: str, status: GateStatus, code: int) -> None:
    outcome = evaluate_gate(phase, TIERS, [parse_rule("slo1:1")])
    assert (outcome.status, outcome.exit_code) == (status, code)


def test_a_rule_on_a_missing_tier_is_an_error() -> None:
    outcome = evaluate_gate("finished", TIERS, [parse_rule("slo9:1")])
    assert outcome.status is GateStatus.ERROR
    assert "slo9" in outcome.reasons[0] and "slo1, slo2" in outcome.reasons[0]


def test_no_rules_pass_a_finished_run() -> None:
    assert evaluate_gate("finished", TIERS, []).status is GateStatus.PASS


def _result(tmp_path: Path, **extra: Any) -> Path:
    result = {
        "schema": "agentperf.run/v2",
        "run_id": "r1",
        "interrupted": False,
        "error": "",
        "config": {"gate": ["slo1:16"]},
        "tiers": [
            {"tier": "slo1", "max_agents": 32, "agents_per_gpu": 32.0, "agents_per_mw": None},
            {"tier": "slo2", "max_agents": 8, "agents_per_gpu": 8.0, "agents_per_mw": None},
        ],
    }
    result.update(extra)
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    return path


def _gate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentperf", "gate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_uses_the_runs_own_rules_by_default(tmp_path: Path) -> None:
    proc = _gate("--result", str(_result(tmp_path)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate: pass" in proc.stdout and "slo1 max agents 32 >= 16" in proc.stdout


def test_cli_rules_override_and_fail_with_exit_1(tmp_path: Path) -> None:
    proc = _gate("--result", str(_result(tmp_path)), "--rule", "slo2:9", "--json")
    assert proc.returncode == 1
    body = json.loads(proc.stdout)
    assert body["status"] == "fail" and body["run"] == {"run_id": "r1", "phase": "finished"}


def test_cli_interrupted_run_exits_2(tmp_path: Path) -> None:
    assert _gate("--result", str(_result(tmp_path, interrupted=True))).returncode == 2


def test_cli_bad_file_and_bad_rule_exit_2_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text("{not json")
    proc = _gate("--result", str(bad))
    assert proc.returncode == 2 and "broken.json" in proc.stdout
    proc = _gate("--result", str(_result(tmp_path)), "--rule", "slo1:many")
    assert proc.returncode == 2 and "--rule #1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_unreachable_judge_exits_2() -> None:
    proc = _gate("--judge", "http://127.0.0.1:9", "--run-id", "r1")
    assert proc.returncode == 2 and "gate: error" in proc.stdout
