"""Gate rules: does a run's answer clear the bar a rollout needs? One function for every gate.

The judge's HTTP verdict endpoint (Argo Rollouts ``web`` metric), its Flagger webhook, and
``agentperf gate`` (CI steps, Argo CD PostSync Jobs, Argo Rollouts ``job`` metrics) all call
:func:`evaluate_gate`, so a rule means the same thing everywhere. Pure: no I/O.

Outcomes: ``pass`` (the run finished and every rule holds), ``fail`` (finished, a rule does not
hold), ``pending`` (still running), ``error`` (interrupted, failed, or a rule names a tier the
run does not have). With no rules, a finished run passes: rules are what gate on capacity.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from agentperf.errors import InputError


class GateStatus(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"
    ERROR = "error"


# Exit codes of `agentperf gate`: what CI systems and Kubernetes Jobs understand.
EXIT_CODES = {GateStatus.PASS: 0, GateStatus.FAIL: 1, GateStatus.PENDING: 2, GateStatus.ERROR: 2}


@dataclass(frozen=True, slots=True)
class GateRule:
    """The tier must reach at least each non-zero bound."""

    tier: str
    min_agents: int = 0
    min_agents_per_gpu: float = 0.0
    min_agents_per_mw: float = 0.0

    def describe(self) -> str:
        parts = []
        if self.min_agents:
            parts.append(f"agents>={self.min_agents}")
        if self.min_agents_per_gpu:
            parts.append(f"agents/GPU>={self.min_agents_per_gpu:g}")
        if self.min_agents_per_mw:
            parts.append(f"agents/MW>={self.min_agents_per_mw:g}")
        return f"{self.tier}: " + (", ".join(parts) or "answered")


@dataclass(frozen=True, slots=True)
class TierFigures:
    """A tier's answer as a gate sees it (from result.json, RunState or the HTTP body)."""

    max_agents: int
    agents_per_gpu: float | None = None
    agents_per_mw: float | None = None
    converged: bool = True


@dataclass
class GateOutcome:
    status: GateStatus
    reasons: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]


_RULE = re.compile(r"^(?P<tier>[^:=,\s]+)(?::(?P<bounds>.+))?$")
_KEYS = {"agents": "min_agents", "per_gpu": "min_agents_per_gpu", "per_mw": "min_agents_per_mw"}


def parse_rule(text: str, *, source: str = "gate rule") -> GateRule:
    """``slo1:32`` (at least 32 agents) or ``slo1:agents=32,per_gpu=4,per_mw=1000``."""
    match = _RULE.match(text.strip())
    if not match:
        raise InputError(f"{text!r} is not TIER[:N | :agents=N,per_gpu=X,per_mw=Y]", source=source)
    tier, bounds = match["tier"], match["bounds"]
    if bounds is None:
        return GateRule(tier)
    values: dict[str, float] = {}
    for part in bounds.split(","):
        key, sep, raw = part.partition("=")
        if not sep:
            key, raw = "agents", key
        key = key.strip()
        if key not in _KEYS:
            raise InputError(
                f"unknown bound {key!r}; use one of {', '.join(_KEYS)}", source=source, field=tier
            )
        try:
            number = float(raw)
        except ValueError:
            raise InputError(
                f"{raw.strip()!r} is not a number", source=source, field=f"{tier}.{key}"
            ) from None
        if not number >= 0 or number == float("inf"):
            raise InputError(
                f"must be a finite number >= 0, got {raw.strip()}", source=source, field=f"{tier}.{key}"
            )
        if key == "agents" and number != int(number):
            raise InputError(
                f"must be a whole number, got {raw.strip()}", source=source, field=f"{tier}.agents"
            )
        values[_KEYS[key]] = number
    return GateRule(
        tier,
        min_agents=int(values.get("min_agents", 0)),
        min_agents_per_gpu=values.get("min_agents_per_gpu", 0.0),
        min_agents_per_mw=values.get("min_agents_per_mw", 0.0),
    )


def evaluate_gate(phase: str, tiers: Mapping[str, TierFigures], rules: Sequence[GateRule]) -> GateOutcome:
    """The gate's outcome for a run in ``phase`` (running, finished, interrupted, error)."""
    if phase == "running":
        return GateOutcome(GateStatus.PENDING, ["the run is still measuring"])
    if phase != "finished":
        return GateOutcome(GateStatus.ERROR, [f"the run did not finish (phase {phase})"])
    reasons: list[str] = []
    failed = False
    for rule in rules:
        figures = tiers.get(rule.tier)
        if figures is None:
            known = ", ".join(sorted(tiers)) or "none"
            return GateOutcome(GateStatus.ERROR, [f"rule names tier {rule.tier!r}; the run has {known}"])
        for ok, text in _checks(rule, figures):
            failed |= not ok
            reasons.append(("ok: " if ok else "FAIL: ") + text)
    if not rules:
        reasons.append("no gate rules: a finished run passes")
    return GateOutcome(GateStatus.FAIL if failed else GateStatus.PASS, reasons)


def _checks(rule: GateRule, f: TierFigures) -> list[tuple[bool, str]]:
    out = []
    if rule.min_agents:
        out.append(
            (f.max_agents >= rule.min_agents, f"{rule.tier} max agents {f.max_agents} >= {rule.min_agents}")
        )
    for bound, value, what in (
        (rule.min_agents_per_gpu, f.agents_per_gpu, "agents/GPU"),
        (rule.min_agents_per_mw, f.agents_per_mw, "agents/MW"),
    ):
        if bound:
            shown = "unknown" if value is None else f"{value:.4g}"
            out.append((value is not None and value >= bound, f"{rule.tier} {what} {shown} >= {bound:g}"))
    if not out:
        out.append((True, f"{rule.tier} answered: max agents {f.max_agents}"))
    return out
