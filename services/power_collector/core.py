"""The power collector's pure core: DCGM exporter text -> per-GPU readings -> window power.

No gRPC and no I/O. :func:`parse_dcgm` reads the Prometheus text exposition of the NVIDIA
DCGM exporter (HELP/TYPE lines optional) and returns, per GPU, the energy counter
``DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`` (mJ since boot) and the power gauge
``DCGM_FI_DEV_POWER_USAGE`` (W). :func:`window_power` turns the snapshots taken over a
window into mean power per GPU: from the energy counter when it advanced, else from the
power samples. docs/power.md states the rules and why.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from agentperf.errors import InputError

ENERGY_METRIC = "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"
POWER_METRIC = "DCGM_FI_DEV_POWER_USAGE"
WANTED = (ENERGY_METRIC, POWER_METRIC)

# DCGM writes blanks instead of values it could not read: FP64 fields (power) use 2**47 and up,
# INT64 fields (the energy counter) 0x7ffffffffffffff0 and up (~9.22e18). Anything >= 1e15 is
# absurd for either (1e15 mJ is ~31,700 years at 1 kW), so it is treated as missing too.
FP64_BLANK = 2.0**47
ABSURD = 1e15

METHOD_ENERGY = "energy_counter"
METHOD_SAMPLES = "power_samples"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_HOST_LABELS = ("Hostname", "hostname")
_POD_LABELS = ("pod", "exported_pod")
_NAMESPACE_LABELS = ("namespace", "exported_namespace")


@dataclass(frozen=True, slots=True)
class Series:
    """One sample line: metric name, labels and value."""

    name: str
    labels: Mapping[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class GpuReading:
    """What one scrape says about one GPU; None where the exporter gave no usable value."""

    key: str
    gpu: str
    uuid: str
    hostname: str
    model_name: str = ""
    pod: str = ""
    namespace: str = ""
    energy_mj: float | None = None
    power_w: float | None = None
    simulated: bool = False


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The readings of every endpoint at one monotonic time ``t`` (seconds)."""

    t: float
    gpus: Mapping[str, GpuReading] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GpuWindowPower:
    reading: GpuReading
    mean_power_w: float
    energy_j: float
    method: str


@dataclass(frozen=True, slots=True)
class WindowPower:
    duration_s: float
    gpus: tuple[GpuWindowPower, ...]
    total_mean_power_w: float
    simulated: bool


def _parse_labels(text: str, pos: int, where: tuple[str, int]) -> tuple[dict[str, str], int]:
    """Labels from ``text[pos]`` (just after '{') to the closing '}'; returns them and the next index."""
    labels: dict[str, str] = {}
    while True:
        while pos < len(text) and text[pos] in " \t,":
            pos += 1
        if pos < len(text) and text[pos] == "}":
            return labels, pos + 1
        m = _LABEL_NAME.match(text, pos)
        if m is None or text[m.end() : m.end() + 2] != '="':
            raise InputError(f"bad label at column {pos + 1}", source=where[0], line=where[1], field="labels")
        value, pos = _parse_label_value(text, m.end() + 2, where)
        labels[m.group()] = value
        while pos < len(text) and text[pos] in " \t":
            pos += 1
        if pos < len(text) and text[pos] not in ",}":
            raise InputError(f"expected ',' or '}}' at column {pos + 1}", source=where[0], line=where[1])


def _parse_label_value(text: str, pos: int, where: tuple[str, int]) -> tuple[str, int]:
    out: list[str] = []
    while pos < len(text):
        ch = text[pos]
        if ch == '"':
            return "".join(out), pos + 1
        if ch == "\\" and pos + 1 < len(text):
            out.append(_ESCAPES.get(text[pos + 1], "\\" + text[pos + 1]))
            pos += 2
            continue
        out.append(ch)
        pos += 1
    raise InputError("unterminated label value", source=where[0], line=where[1], field="labels")


def parse_line(line: str, *, source: str = "", lineno: int = 0) -> Series:
    """One exposition sample line, ``name{labels} value [timestamp]``; InputError when malformed."""
    where = (source, lineno)
    m = _NAME.match(line)
    if m is None:
        raise InputError("no metric name", source=source, line=lineno)
    labels: dict[str, str] = {}
    pos = m.end()
    if pos < len(line) and line[pos] == "{":
        labels, pos = _parse_labels(line, pos + 1, where)
    parts = line[pos:].split()
    if not parts or len(parts) > 2:
        raise InputError(
            "expected a value and an optional timestamp", source=source, line=lineno, field="value"
        )
    try:
        value = float(parts[0])
    except ValueError as exc:
        raise InputError(f"not a number: {parts[0]!r}", source=source, line=lineno, field="value") from exc
    return Series(m.group(), labels, value)


def iter_series(text: str, names: Collection[str], *, source: str = "") -> Iterator[Series]:
    """The sample lines of ``text`` whose metric is in ``names``; other lines are not even parsed."""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name = _NAME.match(line)
        if name is not None and name.group() in names:
            yield parse_line(line, source=source, lineno=lineno)


def usable(metric: str, value: float) -> float | None:
    """``value`` unless it is a DCGM blank, negative, not finite or absurd."""
    if not math.isfinite(value) or value < 0 or value >= ABSURD:
        return None
    if metric == POWER_METRIC and value >= FP64_BLANK:
        return None
    return value


def _first(labels: Mapping[str, str], names: Sequence[str]) -> str:
    return next((labels[n] for n in names if labels.get(n)), "")


def gpu_key(labels: Mapping[str, str], default_host: str) -> str | None:
    """``host/UUID`` (or ``host/gpu<index>`` without a UUID); None for a series of no GPU."""
    host = _first(labels, _HOST_LABELS) or default_host
    if labels.get("UUID"):
        return f"{host}/{labels['UUID']}"
    if labels.get("gpu"):
        return f"{host}/gpu{labels['gpu']}"
    return None


def selected(reading: GpuReading, gpu_filter: Collection[str]) -> bool:
    """True when no filter is set or the filter names the GPU's UUID or index."""
    return not gpu_filter or reading.uuid in gpu_filter or reading.gpu in gpu_filter


def parse_dcgm(
    text: str, *, source: str = "", default_host: str = "", gpu_filter: Collection[str] = ()
) -> dict[str, GpuReading]:
    """Per-GPU readings of one exporter page, keyed by :func:`gpu_key`.

    ``default_host`` names the host when a series has no Hostname/hostname label (use the
    endpoint). MIG instance series (a non-empty GPU_I_ID) are skipped: power is a whole-GPU
    quantity. Where a GPU repeats (one series per pod sharing it), the first usable value wins.
    """
    found: dict[str, GpuReading] = {}
    for series in iter_series(text, WANTED, source=source):
        labels = series.labels
        key = gpu_key(labels, default_host)
        if key is None or labels.get("GPU_I_ID"):
            continue
        reading = found.get(key) or GpuReading(
            key=key,
            gpu=labels.get("gpu", ""),
            uuid=labels.get("UUID", ""),
            hostname=_first(labels, _HOST_LABELS) or default_host,
            model_name=labels.get("modelName", ""),
            pod=_first(labels, _POD_LABELS),
            namespace=_first(labels, _NAMESPACE_LABELS),
        )
        if not selected(reading, gpu_filter):
            continue
        found[key] = _with_value(reading, series)
    return found


def _with_value(reading: GpuReading, series: Series) -> GpuReading:
    value = usable(series.name, series.value)
    simulated = reading.simulated or series.labels.get("simulated", "").lower() == "true"
    if series.name == ENERGY_METRIC and reading.energy_mj is None:
        return replace(reading, energy_mj=value, simulated=simulated)
    if series.name == POWER_METRIC and reading.power_w is None:
        return replace(reading, power_w=value, simulated=simulated)
    return replace(reading, simulated=simulated)


def _counter_observations(key: str, snapshots: Sequence[Snapshot]) -> list[tuple[float, float]]:
    return [
        (s.t, r.energy_mj)
        for s in snapshots
        if (r := s.gpus.get(key)) is not None and r.energy_mj is not None
    ]


def counter_estimate(key: str, snapshots: Sequence[Snapshot]) -> tuple[float, float] | None:
    """(mean power W, energy J) from the energy counter over ``snapshots`` (begin ... end), or None.

    None when the counter is missing at either end, did not advance, or went backwards (a GPU
    reset). With at least two observed counter changes the mean is taken between the first and
    the last change, which cancels the exporter's collect-interval quantisation, and the energy
    is that mean times the window; with fewer, both come from the plain delta over the window.
    """
    first, last = snapshots[0].gpus.get(key), snapshots[-1].gpus.get(key)
    duration = snapshots[-1].t - snapshots[0].t
    if first is None or last is None or first.energy_mj is None or last.energy_mj is None or duration <= 0:
        return None
    obs = _counter_observations(key, snapshots)
    pairs = list(itertools.pairwise(obs))
    if last.energy_mj <= first.energy_mj or any(b < a for (_, a), (_, b) in pairs):
        return None
    changes = [(t, e) for (_, prev), (t, e) in pairs if e != prev]
    if len(changes) >= 2 and changes[-1][0] > changes[0][0]:
        (t0, e0), (t1, e1) = changes[0], changes[-1]
        mean = (e1 - e0) / 1000.0 / (t1 - t0)
        return mean, mean * duration
    energy_j = (last.energy_mj - first.energy_mj) / 1000.0
    return energy_j / duration, energy_j


def sampled_mean_power(key: str, snapshots: Sequence[Snapshot]) -> float | None:
    """Mean of the GPU's usable power readings over ``snapshots``; None when there are none."""
    values = [r.power_w for s in snapshots if (r := s.gpus.get(key)) is not None and r.power_w is not None]
    return math.fsum(values) / len(values) if values else None


def gpu_window_power(key: str, snapshots: Sequence[Snapshot]) -> GpuWindowPower | None:
    """One GPU's mean power and energy over the window; None when nothing usable was read."""
    reading = snapshots[-1].gpus.get(key) or snapshots[0].gpus[key]
    estimate = counter_estimate(key, snapshots)
    if estimate is not None:
        return GpuWindowPower(reading, estimate[0], estimate[1], METHOD_ENERGY)
    mean = sampled_mean_power(key, snapshots)
    if mean is None:
        return None
    return GpuWindowPower(reading, mean, mean * (snapshots[-1].t - snapshots[0].t), METHOD_SAMPLES)


def window_power(begin: Snapshot, samples: Sequence[Snapshot], end: Snapshot) -> WindowPower:
    """Power over the window from ``begin`` to ``end`` with the background ``samples`` between.

    Only GPUs seen at ``begin`` count (a GPU that appears later was not part of the window);
    samples outside (begin.t, end.t) are ignored.
    """
    inside = [s for s in samples if begin.t < s.t < end.t]
    snapshots = [begin, *sorted(inside, key=lambda s: s.t), end]
    gpus = tuple(p for key in sorted(begin.gpus) if (p := gpu_window_power(key, snapshots)) is not None)
    return WindowPower(
        duration_s=end.t - begin.t,
        gpus=gpus,
        total_mean_power_w=math.fsum(g.mean_power_w for g in gpus),
        simulated=any(g.reading.simulated for g in gpus) or any(r.simulated for r in begin.gpus.values()),
    )
