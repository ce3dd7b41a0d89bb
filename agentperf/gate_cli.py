"""``agentperf gate``: exit 0 when a run passes its gate, 1 when it fails, 2 on any error.

For CI steps, Argo CD PostSync Jobs and Argo Rollouts ``job`` metrics. Two sources, one rule
engine (:mod:`agentperf.gate`):

* ``--judge URL --run-id ID``: the judge's verdict API; waits (``--wait-s``) while the run is
  still measuring, and retries while the judge cannot be reached;
* ``--result result.json``: a finished run's result file, offline.

Rules come from ``--rule`` (repeatable), else from the run's own ``gate`` setting.
"""

from __future__ import annotations

import argparse
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from agentperf.gate import GateOutcome, GateStatus, TierFigures, evaluate_gate, parse_rule


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "gate",
        help="exit 0 if a run passes its gate, 1 if it fails, 2 on error (CI, Argo CD, Argo Rollouts jobs)",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--judge", metavar="URL", help="judge HTTP base URL, e.g. http://agentperf-judge:8080"
    )
    source.add_argument("--result", type=Path, metavar="RESULT_JSON", help="a run's result.json")
    p.add_argument("--run-id", help="run to gate on (with --judge)")
    p.add_argument(
        "--rule",
        action="append",
        default=[],
        metavar="TIER[:N|:agents=N,per_gpu=X,per_mw=Y]",
        help="gate rule (repeatable); default: the run's own gate rules",
    )
    p.add_argument("--wait-s", type=float, default=0.0, help="with --judge: wait this long for a running run")
    p.add_argument("--poll-s", type=float, default=5.0, help="with --judge: seconds between polls")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")


def run(args: argparse.Namespace) -> int:
    for i, text in enumerate(args.rule):
        parse_rule(text, source=f"--rule #{i + 1}")  # fail fast with a message naming the rule
    if args.judge:
        if not args.run_id:
            return _report(GateOutcome(GateStatus.ERROR, ["--judge needs --run-id"]), args.json, {})
        outcome, body = _from_judge(args)
    else:
        outcome, body = _from_result(args.result, args.rule)
    return _report(outcome, args.json, body)


def _report(outcome: GateOutcome, as_json: bool, body: dict[str, Any]) -> int:
    if as_json:
        print(json.dumps({"status": str(outcome.status), "reasons": outcome.reasons, "run": body}, indent=2))
    else:
        print(f"gate: {outcome.status}")
        for reason in outcome.reasons:
            print(f"  {reason}")
    return outcome.exit_code


def _from_result(path: Path, rules: list[str]) -> tuple[GateOutcome, dict[str, Any]]:
    try:
        result = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(result, dict):
            raise ValueError("not a JSON object")
        tiers = {
            t["tier"]: TierFigures(int(t["max_agents"]), t.get("agents_per_gpu"), t.get("agents_per_mw"))
            for t in result.get("tiers", [])
        }
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return GateOutcome(GateStatus.ERROR, [f"{path}: cannot read a run result: {exc}"]), {}
    if result.get("interrupted"):
        phase = "interrupted"
    elif result.get("error"):
        phase = "error"
    else:
        phase = "finished"
    texts = rules or list((result.get("config") or {}).get("gate") or [])
    outcome = evaluate_gate(phase, tiers, [parse_rule(t, source=str(path)) for t in texts])
    return outcome, {"run_id": result.get("run_id"), "phase": phase}


def _from_judge(args: argparse.Namespace) -> tuple[GateOutcome, dict[str, Any]]:
    query = urllib.parse.urlencode([("rule", r) for r in args.rule])
    run_id = urllib.parse.quote(args.run_id, safe="")
    url = f"{args.judge.rstrip('/')}/api/v1/runs/{run_id}/verdict" + (f"?{query}" if query else "")
    deadline = time.monotonic() + max(0.0, args.wait_s)
    while True:
        outcome, body, retry = _fetch(url)
        if not retry or time.monotonic() + args.poll_s > deadline:
            if retry and outcome.status is GateStatus.PENDING:
                outcome.reasons.append(f"still running after waiting {args.wait_s:g} s")
                outcome = GateOutcome(GateStatus.ERROR, outcome.reasons)
            return outcome, body
        time.sleep(args.poll_s)


def _fetch(url: str) -> tuple[GateOutcome, dict[str, Any], bool]:
    """(outcome, body, worth retrying): pending runs and an unreachable judge are retried."""
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = _error_detail(exc)
        # 4xx: the run or the rule is wrong; retrying will not help. 5xx: the judge may recover.
        return GateOutcome(GateStatus.ERROR, [f"{url}: HTTP {exc.code}: {detail}"]), {}, exc.code >= 500
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return GateOutcome(GateStatus.ERROR, [f"{url}: {exc}"]), {}, True
    try:
        status = GateStatus(body["status"])
        reasons = [str(r) for r in body.get("reasons", [])]
    except (KeyError, ValueError, TypeError) as exc:
        return GateOutcome(GateStatus.ERROR, [f"{url}: unexpected answer: {exc}"]), {}, False
    return GateOutcome(status, reasons), body, status is GateStatus.PENDING


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("error", exc.reason))
    except (ValueError, AttributeError, OSError):
        return str(exc.reason)
