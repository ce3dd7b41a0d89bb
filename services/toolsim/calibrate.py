"""Calibration of the CPU task catalogue: seconds per unit of work of each task on one machine.

``python -m agentperf.services.toolsim.calibrate --out FILE`` measures every task of
:mod:`catalogue` on this machine and writes a JSON file naming the CPU (``model name`` from
/proc/cpuinfo) and the Python version. The calibration packaged as
``calibration/reference.json`` is the reference CPU's: toolsim sizes a cpu call as
``work = target_s / reference seconds_per_unit``, so the call takes about ``target_s`` on the
reference CPU and proportionally more or less on another one, whatever system is measured.

Per task: warm up, grow the work until one run takes ``min_time_s``, time ``repeats`` runs of
that size and keep the median per unit (the spread is written too). Time is the process's CPU
time, not wall time: on an idle machine the two agree for these single-threaded tasks, and CPU
time does not count the moments other processes held the core, so a calibration taken on a
busy machine still states the CPU's own speed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from agentperf.errors import ConfigError
from agentperf.services.toolsim import catalogue

REFERENCE_RESOURCE = "calibration/reference.json"
REFERENCE_SOURCE = "packaged reference calibration"


@dataclass(frozen=True, slots=True)
class TaskFigure:
    """One task's calibration: median seconds per unit over the repeats, and their range."""

    seconds_per_unit: float
    units: int
    min_seconds_per_unit: float
    max_seconds_per_unit: float


@dataclass(frozen=True, slots=True)
class Calibration:
    """Seconds per unit of work of every catalogue task on the machine named by ``cpu_model``."""

    cpu_model: str
    python: str
    catalogue_version: int
    tasks: Mapping[str, TaskFigure]
    created_unix_s: float = 0.0
    cpu_count: int = 0
    method: Mapping[str, float | str] = field(default_factory=dict)
    source: str = ""

    def seconds_per_unit(self, task: str) -> float:
        return self.tasks[task].seconds_per_unit


def host_cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's ``model name`` (Linux), else what the platform module knows."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, sep, value = line.partition(":")
            if sep and key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def measure_task(task: str, min_time_s: float, repeats: int) -> TaskFigure:
    """CPU seconds per unit of ``task`` here: median of ``repeats`` runs of >= ``min_time_s`` each."""
    catalogue.run_task(task, 4)
    units = 8
    while (result := catalogue.run_task(task, units)).cpu_s < min_time_s:
        grow = min_time_s / max(result.cpu_s, 1e-6)
        units = max(units * 2, int(units * grow * 1.2))
    per_unit = sorted(catalogue.run_task(task, units).cpu_s / units for _ in range(repeats))
    return TaskFigure(statistics.median(per_unit), units, per_unit[0], per_unit[-1])


def calibrate(
    min_time_s: float = 0.5, repeats: int = 5, tasks: Sequence[str] = catalogue.TASKS
) -> Calibration:
    """Measure ``tasks`` on this machine (in this process)."""
    catalogue.corpus()
    figures = {task: measure_task(task, min_time_s, repeats) for task in tasks}
    return Calibration(
        cpu_model=host_cpu_model(),
        python=platform.python_version(),
        catalogue_version=catalogue.CATALOGUE_VERSION,
        tasks=figures,
        created_unix_s=round(time.time(), 3),
        cpu_count=_cpu_count(),
        method={"min_time_s": min_time_s, "repeats": float(repeats), "clock": "process_time"},
    )


def _cpu_count() -> int:
    return os.cpu_count() or 1


def to_json(cal: Calibration) -> dict[str, Any]:
    return {
        "cpu_model": cal.cpu_model,
        "python": cal.python,
        "catalogue_version": cal.catalogue_version,
        "created_unix_s": cal.created_unix_s,
        "cpu_count": cal.cpu_count,
        "method": dict(cal.method),
        "tasks": {
            name: {
                "seconds_per_unit": f.seconds_per_unit,
                "units": f.units,
                "min_seconds_per_unit": f.min_seconds_per_unit,
                "max_seconds_per_unit": f.max_seconds_per_unit,
            }
            for name, f in cal.tasks.items()
        },
    }


def from_json(data: Any, source: str) -> Calibration:
    """Validate a calibration document; ConfigError names the source and the bad field."""
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a calibration must be a JSON object")
    version = data.get("catalogue_version")
    if version != catalogue.CATALOGUE_VERSION:
        raise ConfigError(
            f"{source}: catalogue_version {version!r} does not match this catalogue "
            f"({catalogue.CATALOGUE_VERSION}); run python -m agentperf.services.toolsim.calibrate again"
        )
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        raise ConfigError(f"{source}: field 'tasks' must be an object")
    figures = {name: _figure(tasks.get(name), source, name) for name in catalogue.TASKS}
    method = data.get("method", {})
    return Calibration(
        cpu_model=str(data.get("cpu_model", "unknown")),
        python=str(data.get("python", "unknown")),
        catalogue_version=version,
        tasks=figures,
        created_unix_s=float(data.get("created_unix_s", 0.0)),
        cpu_count=int(data.get("cpu_count", 0)),
        method={str(k): v for k, v in method.items() if isinstance(v, int | float | str)}
        if isinstance(method, dict)
        else {},
        source=source,
    )


def _figure(raw: Any, source: str, name: str) -> TaskFigure:
    where = f"{source}: field 'tasks.{name}"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}' is missing: every catalogue task needs a figure")
    spu = raw.get("seconds_per_unit")
    if isinstance(spu, bool) or not isinstance(spu, int | float) or not 0 < spu < 10:
        raise ConfigError(f"{where}.seconds_per_unit' must be a number in (0, 10), got {spu!r}")
    return TaskFigure(
        float(spu),
        int(raw.get("units", 0)),
        float(raw.get("min_seconds_per_unit", spu)),
        float(raw.get("max_seconds_per_unit", spu)),
    )


def load_calibration(path: str = "") -> Calibration:
    """The calibration at ``path``; empty: the packaged reference."""
    if path:
        source = path
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read calibration: {exc.strerror}") from exc
    else:
        source = REFERENCE_SOURCE
        text = resources.files("agentperf.services.toolsim").joinpath(REFERENCE_RESOURCE).read_text("utf-8")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{source}: not valid JSON: {exc}") from exc
    return from_json(data, source)


def format_table(cal: Calibration) -> str:
    """The figures as a small text table (what the docs quote)."""
    rows = [
        f"cpu: {cal.cpu_model} ({cal.cpu_count} cores), python {cal.python}, "
        f"catalogue v{cal.catalogue_version}",
        f"{'task':8} {'ms/unit':>9} {'min':>9} {'max':>9} {'units/s':>9} {'units timed':>11}",
    ]
    for name, f in cal.tasks.items():
        rows.append(
            f"{name:8} {f.seconds_per_unit * 1e3:9.4f} {f.min_seconds_per_unit * 1e3:9.4f} "
            f"{f.max_seconds_per_unit * 1e3:9.4f} {1 / f.seconds_per_unit:9.0f} {f.units:11d}"
        )
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m agentperf.services.toolsim.calibrate", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", type=Path, help="write the calibration JSON here (default: stdout)")
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds each timed run lasts at least")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per task (median kept)")
    args = parser.parse_args(argv)
    if args.min_time <= 0 or args.repeats < 1:
        parser.error("--min-time must be > 0 and --repeats >= 1")
    cal = calibrate(args.min_time, args.repeats)
    document = json.dumps(to_json(cal), indent=2) + "\n"
    if args.out is None:
        sys.stdout.write(document)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(document, encoding="utf-8")
    print(format_table(cal), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
