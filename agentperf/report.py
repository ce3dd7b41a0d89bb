"""The run result: a versioned JSON document and the table printed at the end of a run.

Pure: builds plain dicts from what the conductor gathered; no I/O except ``write_json``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SCHEMA = "agentperf.run/v2"


@dataclass
class TierSummary:
    tier: str
    min_output_speed: float
    max_ttft_s: float
    max_agents: int
    lowest_failing: int | None
    converged: bool
    non_monotone: bool
    client_limited: bool  # the load generator, not the server, bounded the answer
    agents_per_gpu: float | None
    agents_per_mw: float | None
    p95_ttft_s: float | None
    p25_output_speed: float | None
    power_w: float | None
    # A level inside this tier's bracket stayed INCONCLUSIVE after every attempt and was
    # counted as not passing: the answer is conservative.
    inconclusive: bool = False


@dataclass
class LevelSummary:
    level: int
    verdicts: dict[str, dict[str, Any]]
    requests_sent: int
    records_total: int
    records_window: int
    failed: int
    censored: int
    complete: bool  # the judge had every record the load generator sent when it judged
    run_id: str  # the (sub-)run id the judge holds this measurement's records under
    output_tokens_per_s: float
    window_s: float
    power_w: float | None
    gpus: int
    power_simulated: bool
    elapsed_s: float
    # False when the load generator's self-check found the client was the bottleneck: such a
    # level is neither passed nor failed, and the search stays below it.
    valid: bool = True
    invalid_reason: str = ""
    # The load generator's own figures: its self-check, and how far the server's
    # usage.prompt_tokens was from the prompt length it meant to send (chat template included).
    client: dict[str, float] = field(default_factory=dict)
    # Times the window doubled past its minimum because a tier the search needed here was still
    # inconclusive (the agents kept running; 0: decided at the minimum).
    extensions: int = 0
    # The window was closed early: every tier the search still needed from it had clearly failed.
    stopped_early: bool = False
    # Wall clock of the measurement window (power over the run is plotted against it).
    window_start_unix_s: float = 0.0
    window_end_unix_s: float = 0.0
    started_unix_s: float = 0.0
    # GPUs x wall time the level held the deployment (warm-up and window).
    gpu_seconds: float = 0.0


@dataclass
class RunReport:
    run_id: str
    started_unix_s: float
    finished_unix_s: float
    target: str
    target_kind: str  # "simulator" or "external"
    model: str
    dataset: dict[str, Any]
    tool_model: str
    seed: int
    gpus: int
    config: dict[str, Any]
    versions: dict[str, str]
    levels: list[LevelSummary] = field(default_factory=list)
    tiers: list[TierSummary] = field(default_factory=list)
    interrupted: bool = False
    # Total GPU-seconds spent measuring (sum over levels): the cost of the answer.
    gpu_seconds: float = 0.0
    # Confidence of the verdicts' bounds, and the search settings that picked the levels.
    confidence: float = 0.0
    # {"status": pass|fail|pending|error, "rules": [...], "reasons": [...]} (agentperf.gate).
    gate: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    schema: str = SCHEMA

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _finite(asdict(self))
        return out


def _finite(value: Any) -> Any:
    """JSON has no infinity: an unbounded P95 TTFT (too many violations) is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def write_json(report: RunReport, path: Path) -> None:
    """Write atomically: a reader never sees a half-written result."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(report.to_dict(), out, indent=2, allow_nan=False)
        out.write("\n")
    os.replace(tmp, path)


def _fmt(value: float | None, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return "inf"
    return f"{value:.{digits}f}{unit}"


def _fmt_per_mw(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.1f}K" if value >= 10_000 else f"{value:.0f}"


def render_table(report: RunReport) -> str:
    """The per-tier result table a person reads at the end of a run."""
    simulated = any(lvl.power_simulated for lvl in report.levels)
    head = (
        f"agentperf run {report.run_id}: target {report.target} ({report.target_kind}), model {report.model}, "
        f"{report.gpus} GPU(s){', simulated power' if simulated else ''}\n"
        f"dataset {report.dataset.get('name')} ({report.dataset.get('trajectories')} trajectories), "
        f"tools: {report.tool_model}, levels measured: {len(report.levels)}, "
        f"cost {report.gpu_seconds:.0f} GPU-seconds" + (" (interrupted)" if report.interrupted else "")
    )
    cols = ("tier", "SLO", "max agents", "agents/GPU", "agents/MW", "P95 TTFT", "P25 speed", "next level")
    rows = []
    for t in report.tiers:
        slo = f"P25>={t.min_output_speed:g} tok/s, P95 TTFT<={t.max_ttft_s:g}s"
        max_agents = f"{t.max_agents}" + ("" if t.converged else "?") + ("*" if t.non_monotone else "")
        if t.lowest_failing is None:
            max_agents = f">={t.max_agents}" + (" (client)" if t.client_limited else "")
        rows.append(
            (
                t.tier,
                slo,
                max_agents,
                _fmt(t.agents_per_gpu, digits=1),
                _fmt_per_mw(t.agents_per_mw),
                _fmt(t.p95_ttft_s, " s"),
                _fmt(t.p25_output_speed, " tok/s", 1),
                "-" if t.lowest_failing is None else f"{t.lowest_failing} fails",
            )
        )
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    body = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    notes = []
    if any(not t.converged for t in report.tiers):
        notes.append("? not converged to the resolution (level cap or interrupted)")
    if any(t.client_limited for t in report.tiers):
        notes.append(
            "(client) the load generator could not drive more agents (its self-check failed above this)"
        )
    if any(t.non_monotone for t in report.tiers):
        notes.append("* a level above the first failure passed too (noisy or non-monotone)")
    return "\n".join([head, "", line, "-" * len(line), *body, *notes])
