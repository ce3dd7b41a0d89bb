"""Pure tool model of toolsim: which delay (or CPU task) a tool call gets, and why. No I/O, no waiting.

Each tool class has a model (config ``model``, per class ``classes.<c>.model``):

* ``lognormal``: a seeded draw from the class's lognormal;
* ``recorded``: the call's own recorded duration (the lognormal when it has none);
* ``fitted``: a draw from the distribution fitted to a dataset (:mod:`fit`; the lognormal
  until a fit is installed or when the dataset had too few durations);
* ``cpu``: a catalogue task (:mod:`catalogue`) sized to take a drawn target time on the
  reference CPU: ``work = target_s / reference seconds_per_unit``.

A call's draw is a function of (config seed, request key) only, so a rerun of the same
benchmark with the same seed sees the same tool gaps, whatever order calls arrive in. The
draw uses its own ``random.Random`` seeded from a SHA-256 of seed and key: Python's ``hash()``
is salted per process and would break that.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass, replace

from agentperf.errors import ConfigError, InputError
from agentperf.services.toolsim.calibrate import Calibration
from agentperf.services.toolsim.catalogue import CLASS_TASKS
from agentperf.services.toolsim.config import ToolModelName, ToolSimConfig
from agentperf.services.toolsim.fit import (
    ClassFit,
    Distribution,
    FitSource,
    Lognormal,
    ToolFit,
    lognormal_model_name,
)
from agentperf.trajectory import TOOL_CLASSES

__all__ = ["ClassPlan", "ClassReport", "DelayDraw", "ModelReport", "ToolModel", "lognormal_model_name"]

RECORDED_MODEL = "recorded"
_SOURCE = "RunToolRequest"


@dataclass(frozen=True, slots=True)
class DelayDraw:
    """The outcome for one call: the modelled delay (capped), the time to wait or run, its model.

    For a cpu call ``cpu_task`` names the catalogue task, ``work_units`` its size and
    ``wait_s`` (= ``target_s``) the time that work takes on the reference CPU.
    """

    modelled_s: float
    wait_s: float
    model: str
    tool_class: str
    capped: bool
    cpu_task: str = ""
    work_units: int = 0
    target_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ClassPlan:
    """How one tool class is modelled: its model, the distribution it draws from, its task."""

    tool_class: str
    model: ToolModelName
    distribution: Distribution
    fit: ClassFit | None
    cpu_task: str

    @property
    def description(self) -> str:
        if self.model == "recorded":
            return f"recorded(else {self.distribution.description})"
        if self.model == "cpu":
            return f"cpu(task={self.cpu_task},target={self.distribution.description})"
        return self.distribution.description

    @property
    def fit_source(self) -> FitSource:
        if self.fit is None or self.fit.distribution is not self.distribution:
            return "none"
        return self.fit.source


@dataclass(frozen=True, slots=True)
class ClassReport:
    """One class in a model report (mirrors agentperf.v1.ToolClassModel)."""

    tool_class: str
    model: str
    distribution: str
    fit_source: str
    samples: int
    class_samples: int
    p50_s: float
    p90_s: float
    lognormal_mu: float
    lognormal_sigma: float
    dataset: str
    cpu_task: str


@dataclass(frozen=True, slots=True)
class ModelReport:
    """The whole tool model as the run report states it (mirrors agentperf.v1.ToolModelReport)."""

    classes: tuple[ClassReport, ...]
    dataset: str
    recorded_durations: int
    tool_calls: int
    trajectories: int
    min_fit_samples: int
    max_delay_s: float
    time_scale: float
    max_concurrent: int
    cpu_pool: int
    calibration_cpu: str
    host_cpu: str
    seed: int
    summary: str


def stable_seed(seed: int, key: str) -> int:
    """A 64-bit seed from (seed, key) that is the same in every process and Python version."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


class ToolModel:
    """Resolves each class's model once (config + installed fit + calibration) and draws calls."""

    def __init__(
        self, config: ToolSimConfig, fit: ToolFit | None = None, calibration: Calibration | None = None
    ) -> None:
        if config.uses_cpu() and calibration is None:
            raise ConfigError("the cpu tool model needs a calibration of the reference CPU")
        self._config = config
        self._fit = fit
        self._calibration = calibration
        self._plans = {c: self._plan(c) for c in TOOL_CLASSES}

    def with_fit(self, fit: ToolFit) -> ToolModel:
        """The same configuration with ``fit`` installed (the model itself is immutable)."""
        return ToolModel(self._config, fit, self._calibration)

    def params(self, tool_class: str) -> tuple[float, float]:
        """(median_s, sigma) of the lognormal used for ``tool_class``; unset class fields inherit."""
        override = self._config.classes.get(tool_class)
        median_s, sigma = (override.median_s, override.sigma) if override is not None else (None, None)
        return (
            self._config.median_s if median_s is None else median_s,
            self._config.sigma if sigma is None else sigma,
        )

    def _plan(self, tool_class: str) -> ClassPlan:
        model = self._config.class_model(tool_class)
        distribution: Distribution = Lognormal(*self.params(tool_class))
        class_fit = self._fit.classes.get(tool_class) if self._fit is not None else None
        wants_fit = model == "fitted" or (model == "cpu" and self._config.cpu_target == "fitted")
        if wants_fit and class_fit is not None and class_fit.distribution is not None:
            distribution = class_fit.distribution
        return ClassPlan(tool_class, model, distribution, class_fit, self._cpu_task(tool_class, model))

    def _cpu_task(self, tool_class: str, model: ToolModelName) -> str:
        if model != "cpu":
            return ""
        override = self._config.classes.get(tool_class)
        return (override.cpu_task if override is not None else None) or CLASS_TASKS[tool_class]

    def draw(self, key: str, tool_class: str = "", recorded_s: float = 0.0) -> DelayDraw:
        """The delay (or cpu task) of the call identified by ``key``; InputError for a malformed call."""
        plan = self._plans[_check_call(key, tool_class, recorded_s)]
        if plan.model == "recorded" and recorded_s > 0:
            raw, name = recorded_s, RECORDED_MODEL
        else:
            raw = plan.distribution.draw(random.Random(stable_seed(self._config.seed, key)))
            name = plan.description if plan.model == "cpu" else plan.distribution.description
        max_s = self._config.max_delay_s
        modelled = min(raw, max_s)
        scaled = modelled * self._config.time_scale
        if not plan.cpu_task:
            return DelayDraw(modelled, scaled, name, plan.tool_class, raw > max_s)
        assert self._calibration is not None, "checked in __init__"
        target = min(scaled, max_s)  # never more than max_delay_s of work on the reference CPU
        work = round(target / self._calibration.seconds_per_unit(plan.cpu_task))
        return DelayDraw(
            modelled,
            target,
            name,
            plan.tool_class,
            raw > max_s or scaled > max_s,
            plan.cpu_task,
            work,
            target,
        )

    def report(self, cpu_pool: int = 0, host_cpu: str = "") -> ModelReport:
        """The model as it stands; ``cpu_pool``: workers running catalogue tasks (0: none)."""
        classes = tuple(self._class_report(self._plans[c]) for c in TOOL_CLASSES)
        fit = self._fit
        cal = self._calibration if self._config.uses_cpu() else None
        report = ModelReport(
            classes=classes,
            dataset=fit.dataset if fit is not None else "",
            recorded_durations=fit.recorded if fit is not None else 0,
            tool_calls=fit.tool_calls if fit is not None else 0,
            trajectories=fit.trajectories if fit is not None else 0,
            min_fit_samples=self._config.min_fit_samples,
            max_delay_s=self._config.max_delay_s,
            time_scale=self._config.time_scale,
            max_concurrent=self._config.max_concurrent,
            cpu_pool=cpu_pool,
            calibration_cpu=cal.cpu_model if cal is not None else "",
            host_cpu=host_cpu if cal is not None else "",
            seed=self._config.seed,
            summary="",
        )
        return _with_summary(report)

    def _class_report(self, plan: ClassPlan) -> ClassReport:
        cap = self._config.max_delay_s
        if plan.model == "recorded":
            p50 = p90 = 0.0  # per call, not a distribution
        else:
            p50 = min(plan.distribution.quantile(0.5), cap)
            p90 = min(plan.distribution.quantile(0.9), cap)
        fit = plan.fit
        lognormal = fit.lognormal if fit is not None else None
        return ClassReport(
            tool_class=plan.tool_class,
            model=plan.model,
            distribution=plan.description,
            fit_source=plan.fit_source,
            samples=fit.samples if fit is not None and plan.fit_source != "none" else 0,
            class_samples=fit.class_samples if fit is not None else 0,
            p50_s=p50,
            p90_s=p90,
            lognormal_mu=lognormal.mu if lognormal is not None else 0.0,
            lognormal_sigma=lognormal.sigma if lognormal is not None else 0.0,
            dataset=self._fit.dataset if self._fit is not None else "",
            cpu_task=plan.cpu_task,
        )


def _class_phrase(c: ClassReport) -> str:
    if c.model == "recorded":
        return c.distribution
    return f"{c.distribution} p50={c.p50_s:.3g}s p90={c.p90_s:.3g}s"


def summarize(report: ModelReport) -> str:
    """One line for the run report: each class's model (classes sharing one grouped), then the setup."""
    groups: dict[str, list[str]] = {}
    for c in report.classes:
        groups.setdefault(_class_phrase(c), []).append(c.tool_class)
    parts = [f"{','.join(names)}={phrase}" for phrase, names in groups.items()]
    if len(groups) == 1:
        parts = [f"all classes={next(iter(groups))}"]
    line = "tool model: " + "; ".join(parts)
    if report.dataset:
        line += (
            f" | fitted to dataset {report.dataset!r}: {report.recorded_durations} recorded durations "
            f"of {report.tool_calls} tool calls, min_fit_samples={report.min_fit_samples}"
        )
    if report.calibration_cpu:
        line += (
            f" | cpu tasks sized on reference CPU {report.calibration_cpu!r} (host {report.host_cpu!r}), "
            f"pool of {report.cpu_pool}"
        )
    limit = str(report.max_concurrent) if report.max_concurrent else "unlimited"
    line += f" | cap {report.max_delay_s:g}s, max_concurrent {limit}, seed {report.seed}"
    if report.time_scale != 1:
        line += f", time_scale {report.time_scale:g} (tool gaps scaled)"
    return line


def _with_summary(report: ModelReport) -> ModelReport:
    return replace(report, summary=summarize(report))


def _check_call(key: str, tool_class: str, recorded_s: float) -> str:
    if not key:
        raise InputError(
            "must be a non-empty string stable per call (run/agent/turn)", source=_SOURCE, field="key"
        )
    tool_class = tool_class or "other"
    if tool_class not in TOOL_CLASSES:
        raise InputError(
            f"unknown tool class {tool_class!r}; allowed: {', '.join(TOOL_CLASSES)}",
            source=_SOURCE,
            field="tool.tool_class",
        )
    if not math.isfinite(recorded_s) or recorded_s < 0:
        raise InputError(
            f"must be a finite number >= 0, got {recorded_s}",
            source=_SOURCE,
            field="tool.recorded_duration_s",
        )
    return tool_class
