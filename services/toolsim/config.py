"""Configuration of the toolsim service."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig, StrictModel
from agentperf.services.toolsim.catalogue import CLASS_TASKS, TASKS
from agentperf.trajectory import TOOL_CLASSES

ToolModelName = Literal["lognormal", "recorded", "fitted", "cpu"]
TOOL_MODELS: tuple[ToolModelName, ...] = ("lognormal", "recorded", "fitted", "cpu")
CpuTarget = Literal["lognormal", "fitted"]
TaskName = Literal["search", "parse", "compile", "edit", "test", "shell"]
assert set(get_args(TaskName)) == set(TASKS), "TaskName must list the catalogue tasks"


class ClassModel(StrictModel):
    """Per tool-class overrides; every unset field takes the service-wide value."""

    model: ToolModelName | None = Field(None, description="Tool model of this class; unset: `model`.")
    median_s: float | None = Field(
        None, gt=0, description="Median of this class's lognormal, seconds; unset: `median_s`."
    )
    sigma: float | None = Field(
        None, ge=0, le=10, description="Sigma of log(delay) of this class's lognormal; unset: `sigma`."
    )
    cpu_task: TaskName | None = Field(
        None,
        description="Catalogue task run by the cpu model for this class; unset: the fixed class mapping "
        f"({', '.join(f'{c}->{t}' for c, t in CLASS_TASKS.items())}).",
    )


class ToolSimConfig(ServiceConfig):
    """toolsim settings: the tool model per class, its seed, fitting, the cap, time scaling, concurrency."""

    seed: int = Field(0, description="Seed that, with each request's key, fixes the delay drawn for a call.")
    model: ToolModelName = Field(
        "lognormal",
        description="Tool model of every class without its own: lognormal (seeded draw), recorded (the "
        "call's recorded duration), fitted (distribution fitted by FitFromDataset), cpu (a catalogue task).",
    )
    median_s: float = Field(1.0, gt=0, description="Median of the default lognormal delay, in seconds.")
    sigma: float = Field(0.8, ge=0, le=10, description="Sigma of log(delay) of the default lognormal model.")
    classes: dict[str, ClassModel] = Field(
        default_factory=dict,
        description=f"Per tool-class overrides; keys from {', '.join(TOOL_CLASSES)}.",
    )
    cpu_target: CpuTarget = Field(
        "lognormal",
        description="Distribution the cpu model draws each call's target seconds from: the class's "
        "lognormal, or its fitted distribution (lognormal until a fit is installed).",
    )
    min_fit_samples: int = Field(
        20,
        ge=1,
        description="Recorded durations a class needs for its own fitted distribution; fewer: all classes "
        "pooled; fewer than this pooled too: the lognormal.",
    )
    trajectory_store: str = Field(
        "127.0.0.1:50051", description="host:port of the trajectory store that FitFromDataset reads."
    )
    calibration: str = Field(
        "",
        description="Calibration JSON of the reference CPU for the cpu model; empty: the packaged reference "
        "(services/toolsim/calibration/reference.json).",
    )
    max_delay_s: float = Field(
        300.0, gt=0, description="Cap on any delay (drawn or recorded) and on a cpu task's reference time."
    )
    time_scale: float = Field(
        1.0,
        gt=0,
        description="Multiplies every delay (and cpu target) before waiting (for fast tests); reports must "
        "state it when not 1.",
    )
    max_concurrent: int = Field(
        0,
        ge=0,
        description="Calls run at once (a shared CPU pool, also the cpu task process pool size); excess "
        "calls queue. 0: delays unlimited, cpu tasks limited to the machine's CPU count.",
    )

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: dict[str, ClassModel]) -> dict[str, ClassModel]:
        unknown = sorted(set(value) - set(TOOL_CLASSES))
        if unknown:
            raise ValueError(f"unknown tool classes {unknown}; allowed: {', '.join(TOOL_CLASSES)}")
        return value

    def class_model(self, tool_class: str) -> ToolModelName:
        """The tool model configured for ``tool_class``."""
        override = self.classes.get(tool_class)
        return override.model if override is not None and override.model is not None else self.model

    def uses_cpu(self) -> bool:
        """Whether any class runs catalogue tasks (so a process pool is needed)."""
        return any(self.class_model(c) == "cpu" for c in TOOL_CLASSES)
