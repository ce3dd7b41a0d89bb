"""The run report as one self-contained HTML page: tables and inline SVG plots from result.json.

``render_html`` takes the result.json dict (schema ``agentperf.run/v1`` or ``v2``; a missing key
takes its default) so a stored result can be rendered again at any time. The page loads
nothing: no script, font, stylesheet or image comes from anywhere, the plots are SVG drawn here,
and it needs no JavaScript. Every string taken from the result is escaped, so a dataset or tier
name cannot inject markup. Pure apart from ``write_html``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

# Okabe-Ito: distinguishable with every common colour-vision deficiency. Yellow is left out:
# it vanishes on white.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
GREY = "#8c8c8c"
INK = "#222222"

# One SVG canvas for every plot; the page scales it down on narrow screens.
WIDTH, HEIGHT = 640, 380
LEFT, RIGHT, TOP, BOTTOM = 70, 96, 44, 96
X0, X1, Y_TOP, Y_BOTTOM = LEFT, WIDTH - RIGHT, TOP, HEIGHT - BOTTOM
LOG_X_SPAN = 8.0  # levels spanning this factor or more get a log concurrency axis
LOG_Y_SPAN = 30.0  # TTFT values and limits spanning more than this get a log axis
MIN_TICK_GAP_PX = 28.0
LEGEND_ROW_PX = 17.0
DODGE_PX = 6.0  # tiers measured at the same level sit side by side, not on top of each other

VERDICTS = ("pass", "fail", "inconclusive", "insufficient", "invalid")
VERDICT_TEXT = {
    "pass": "pass",
    "fail": "fail",
    "inconclusive": "inconclusive",
    "insufficient": "too few samples",
    "invalid": "invalid level (client-limited)",
}


# ---------------------------------------------------------------- reading result.json leniently


def _num(value: Any) -> float | None:
    """A finite number, or None (null, a string, a bool or an infinity all read as 'no value')."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return None if number is None else int(number)


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Verdict:
    """One tier's verdict at one level, as the page shows it."""

    verdict: str
    p95: float | None
    p95_low: float | None
    p95_high: float | None
    p95_high_open: bool  # the upper bound is present but unbounded (null)
    p95_unbounded: bool  # P95 TTFT itself is infinite (too many failed requests): written as null
    p25: float | None
    p25_low: float | None
    p25_high: float | None
    ttft_samples: int | None
    speed_samples: int | None
    reason: str
    confidence: float | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Verdict:
        verdict = _text(raw.get("verdict")).lower() or "unknown"
        p95 = _num(raw.get("p95_ttft_s"))
        return cls(
            verdict=verdict,
            p95=p95,
            p95_low=_num(raw.get("p95_ttft_low_s")),
            p95_high=_num(raw.get("p95_ttft_high_s")),
            p95_high_open="p95_ttft_high_s" in raw and _num(raw.get("p95_ttft_high_s")) is None,
            p95_unbounded=p95 is None and "p95_ttft_s" in raw and verdict in ("fail", "inconclusive"),
            p25=_num(raw.get("p25_output_speed")),
            p25_low=_num(raw.get("p25_speed_low")),
            p25_high=_num(raw.get("p25_speed_high")),
            ttft_samples=_int(raw.get("ttft_samples")),
            speed_samples=_int(raw.get("speed_samples")),
            reason=_text(raw.get("reason")),
            confidence=_num(raw.get("confidence")),
        )


@dataclass(frozen=True)
class Level:
    """One measured concurrency level."""

    level: int
    verdicts: dict[str, Verdict]
    valid: bool
    invalid_reason: str
    requests_sent: int | None
    records_total: int | None
    records_window: int | None
    failed: int | None
    censored: int | None
    complete: bool
    window_s: float | None
    power_w: float | None
    power_simulated: bool
    throughput: float | None
    extensions: int  # doublings of the window past its minimum
    stopped_early: bool
    window_start: float | None  # seconds since the run started
    window_end: float | None
    gpu_seconds: float | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any], run_start: float | None) -> Level:
        def since_start(key: str) -> float | None:
            stamp = _num(raw.get(key))
            # 0.0 is the v2 default for "not recorded".
            return stamp - run_start if stamp and run_start else None

        return cls(
            level=_int(raw.get("level")) or 0,
            verdicts={str(k): Verdict.parse(_map(v)) for k, v in _map(raw.get("verdicts")).items()},
            valid=raw.get("valid", True) is not False,
            invalid_reason=_text(raw.get("invalid_reason")),
            requests_sent=_int(raw.get("requests_sent")),
            records_total=_int(raw.get("records_total")),
            records_window=_int(raw.get("records_window")),
            failed=_int(raw.get("failed")),
            censored=_int(raw.get("censored")),
            complete=raw.get("complete", True) is not False,
            window_s=_num(raw.get("window_s")),
            power_w=_num(raw.get("power_w")),
            power_simulated=raw.get("power_simulated") is True,
            throughput=_num(raw.get("output_tokens_per_s")),
            extensions=_int(raw.get("extensions")) or 0,
            stopped_early=raw.get("stopped_early") is True,
            window_start=since_start("window_start_unix_s"),
            window_end=since_start("window_end_unix_s"),
            gpu_seconds=_num(raw.get("gpu_seconds")) or None,
        )

    def mark(self, tier: str) -> str:
        """The verdict class a plot draws for ``tier`` here: an invalid level overrides the verdict."""
        if not self.valid:
            return "invalid"
        verdict = self.verdicts.get(tier)
        return verdict.verdict if verdict and verdict.verdict in VERDICTS else "unknown"


@dataclass(frozen=True)
class Tier:
    """One SLO tier's answer."""

    name: str
    min_speed: float | None
    max_ttft: float | None
    max_agents: int | None
    lowest_failing: int | None
    converged: bool
    non_monotone: bool
    client_limited: bool
    inconclusive: bool
    agents_per_gpu: float | None
    agents_per_mw: float | None
    p95: float | None
    p25: float | None
    power_w: float | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Tier:
        return cls(
            name=_text(raw.get("tier") or raw.get("name")),
            min_speed=_num(raw.get("min_output_speed")),
            max_ttft=_num(raw.get("max_ttft_s")),
            max_agents=_int(raw.get("max_agents")),
            lowest_failing=_int(raw.get("lowest_failing")),
            converged=raw.get("converged", True) is not False,
            non_monotone=raw.get("non_monotone") is True,
            client_limited=raw.get("client_limited") is True,
            inconclusive=raw.get("inconclusive") is True,
            agents_per_gpu=_num(raw.get("agents_per_gpu")),
            agents_per_mw=_num(raw.get("agents_per_mw")),
            p95=_num(raw.get("p95_ttft_s")),
            p25=_num(raw.get("p25_output_speed")),
            power_w=_num(raw.get("power_w")),
        )


@dataclass(frozen=True)
class Run:
    """The parts of result.json the page shows, with defaults for whatever is missing."""

    raw: Mapping[str, Any]
    tiers: list[Tier]
    levels: list[Level]
    tier_names: list[str]
    started: float | None
    finished: float | None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Run:
        started = _num(raw.get("started_unix_s")) or None
        tiers = [Tier.parse(t) for t in _maps(raw.get("tiers"))]
        known = {t.name for t in tiers}
        # A tier the run's config named but the summary lacks (an interrupted run) still gets its
        # thresholds drawn.
        for cfg in _maps(_map(raw.get("config")).get("tiers")):
            name = _text(cfg.get("name"))
            if name and name not in known:
                tiers.append(Tier.parse({**cfg, "tier": name, "max_agents": None, "converged": False}))
                known.add(name)
        levels = [Level.parse(lvl, started) for lvl in _maps(raw.get("levels"))]
        names = [t.name for t in tiers]
        for lvl in levels:
            names += [n for n in lvl.verdicts if n not in names]
        return cls(raw, tiers, levels, names, started, _num(raw.get("finished_unix_s")) or None)

    def get(self, key: str) -> Any:
        return self.raw.get(key)

    def colour(self, tier: str) -> str:
        index = self.tier_names.index(tier) if tier in self.tier_names else len(self.tier_names)
        return PALETTE[index % len(PALETTE)]

    def tier(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    @property
    def sorted_levels(self) -> list[Level]:
        return sorted(self.levels, key=lambda lvl: lvl.level)

    @property
    def power_simulated(self) -> bool:
        return any(lvl.power_simulated for lvl in self.levels)

    @property
    def gpu_seconds(self) -> float | None:
        total = _num(self.get("gpu_seconds"))
        if total:
            return total
        per_level = [lvl.gpu_seconds for lvl in self.levels if lvl.gpu_seconds]
        return sum(per_level) if per_level else None


# ---------------------------------------------------------------- formatting


def _fmt(value: float | None, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}g}{unit}"


def _fmt_fixed(value: float | None, unit: str = "", digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value:,.{digits}f}{unit}"


def _fmt_count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def _fmt_time(stamp: float | None) -> str:
    if stamp is None:
        return "–"
    return datetime.fromtimestamp(stamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None or seconds < 0:
        return "–"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min {secs} s"
    return f"{minutes} min {secs} s" if minutes else f"{seconds:.1f} s"


def _fmt_per_mw(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value / 1000:,.1f}K" if value >= 10_000 else f"{value:,.0f}"


def _tick_label(value: float) -> str:
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    return f"{value:.4g}"


def _bounds(low: float | None, high: float | None, open_high: bool, unit: str) -> str:
    if low is None and high is None and not open_high:
        return ""
    hi = "∞" if open_high else _fmt(high)
    return f" [{_fmt(low)}–{hi}{unit}]"


def _esc(value: Any) -> str:
    return escape(_text(value), quote=True)


# ---------------------------------------------------------------- SVG primitives


@dataclass(frozen=True)
class Scale:
    """Maps data values onto pixels along one axis, linearly or logarithmically."""

    lo: float
    hi: float
    start_px: float
    end_px: float
    log: bool = False
    fixed_ticks: tuple[tuple[float, str], ...] = ()

    def px(self, value: float) -> float:
        if self.log:
            value = max(value, self.lo)
            t = (math.log10(value) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (value - self.lo) / (self.hi - self.lo)
        return self.start_px + min(max(t, 0.0), 1.0) * (self.end_px - self.start_px)

    def ticks(self) -> list[tuple[float, str]]:
        if self.fixed_ticks:
            return list(self.fixed_ticks)
        values = _log_ticks(self.lo, self.hi) if self.log else _linear_ticks(self.lo, self.hi)
        return [(v, _tick_label(v)) for v in values]


def _nice_step(raw: float) -> float:
    exp = 10.0 ** math.floor(math.log10(raw))
    return next(m * exp for m in (1.0, 2.0, 2.5, 5.0, 10.0) if raw / exp <= m)


def _linear_ticks(lo: float, hi: float) -> list[float]:
    step = _nice_step((hi - lo) / 5)
    first = math.ceil(lo / step - 1e-9)
    count = math.floor(hi / step + 1e-9) - first + 1
    return [round((first + i) * step, 12) for i in range(max(count, 0))]


def _log_ticks(lo: float, hi: float) -> list[float]:
    found = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mult in (1, 2, 5):
            value = mult * 10.0**exp
            if lo <= value * (1 + 1e-9) and value <= hi * (1 + 1e-9):
                found.append(value)
    decades = [v for v in found if math.isclose(math.log10(v), round(math.log10(v)))]
    return decades if len(found) > 9 and len(decades) >= 2 else found


def linear_scale(values: Iterable[float | None], start_px: float, end_px: float, *, zero: bool) -> Scale:
    """A scale over ``values`` widened to round tick values (from zero when ``zero``)."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        hi = lo + (abs(lo) or 1.0)
    hi += (hi - lo) * 0.04  # a mark or limit at the maximum stays clear of the frame
    step = _nice_step((hi - lo) / 5)
    return Scale(math.floor(lo / step) * step, math.ceil(hi / step) * step, start_px, end_px)


def auto_scale(
    values: Iterable[float | None],
    start_px: float,
    end_px: float,
    *,
    span: float,
    zero: bool,
    inclusive: bool = False,
) -> Scale:
    """Logarithmic when every value is positive and they span more than (or ``inclusive``: at
    least) ``span`` times."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    ratio = max(finite) / min(finite) if finite and min(finite) > 0 else 0.0
    if ratio > span or (inclusive and ratio >= span):
        return Scale(min(finite) / 1.3, max(finite) * 1.3, start_px, end_px, log=True)
    return linear_scale(finite, start_px, end_px, zero=zero)


def _attrs(**values: Any) -> str:
    return "".join(
        f' {k.rstrip("_").replace("_", "-")}="{_esc(v)}"' for k, v in values.items() if v is not None
    )


def _tip(text: str) -> str:
    return f"<title>{_esc(text)}</title>"


def _line(x1: float, y1: float, x2: float, y2: float, **attrs: Any) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"{_attrs(**attrs)}/>'


def _label(x: float, y: float, text: str, **attrs: Any) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}"{_attrs(**attrs)}>{_esc(text)}</text>'


def marker(x: float, y: float, colour: str, kind: str, tip: str, *, cls: str = "mark") -> str:
    """A point whose shape says the verdict, so colour is never the only signal."""
    inner = _tip(tip) if tip else ""
    if kind == "pass":
        return f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="{colour}">{inner}</circle>'
    if kind == "fail":
        d = f"M{x - 4:.1f},{y - 4:.1f}L{x + 4:.1f},{y + 4:.1f}M{x - 4:.1f},{y + 4:.1f}L{x + 4:.1f},{y - 4:.1f}"
        return f'<path class="{cls}" d="{d}" stroke="{colour}" stroke-width="2.2" fill="none">{inner}</path>'
    if kind == "inconclusive":
        d = f"M{x:.1f},{y - 5.5:.1f}L{x + 5.5:.1f},{y:.1f}L{x:.1f},{y + 5.5:.1f}L{x - 5.5:.1f},{y:.1f}Z"
        return f'<path class="{cls}" d="{d}" stroke="{colour}" stroke-width="1.8" fill="#fff">{inner}</path>'
    if kind == "insufficient":
        return (
            f'<rect class="{cls}" x="{x - 4:.1f}" y="{y - 4:.1f}" width="8" height="8" '
            f'stroke="{colour}" stroke-width="1.8" fill="#fff">{inner}</rect>'
        )
    if kind == "unbounded":
        d = f"M{x:.1f},{y - 6:.1f}L{x + 5:.1f},{y + 3:.1f}L{x - 5:.1f},{y + 3:.1f}Z"
        return f'<path class="{cls}" d="{d}" fill="{colour}">{inner}</path>'
    stroke = GREY if kind == "invalid" else colour
    return (
        f'<circle class="{cls}" cx="{x:.1f}" cy="{y:.1f}" r="4.5" fill="#fff" stroke="{stroke}" '
        f'stroke-width="1.8" stroke-dasharray="2 1.5">{inner}</circle>'
    )


@dataclass
class Legend:
    """Legend entries laid out in rows under the plot."""

    entries: list[tuple[str, str, str]] = field(default_factory=list)  # (swatch kind, colour, label)

    def add(self, kind: str, colour: str, label: str) -> None:
        if (kind, colour, label) not in self.entries:
            self.entries.append((kind, colour, label))

    def render(self, top: float) -> tuple[str, float]:
        """The legend's SVG from baseline ``top`` down, and the y its last row ends at."""
        parts, x, y = ['<g class="legend">'], float(LEFT - 40), top
        for kind, colour, label in self.entries:
            width = 22 + 6.4 * len(label) + 14
            if x + width > WIDTH - 8 and x > LEFT - 40:
                x, y = float(LEFT - 40), y + LEGEND_ROW_PX
            parts.append(self._swatch(kind, colour, x + 8, y - 4))
            parts.append(_label(x + 20, y, label, class_="legend-text"))
            x += width
        parts.append("</g>")
        return "".join(parts), y + 8

    @staticmethod
    def _swatch(kind: str, colour: str, x: float, y: float) -> str:
        if kind in ("line", "dash"):
            dash = "5 3" if kind == "dash" else None
            return _line(x - 8, y, x + 8, y, stroke=colour, stroke_width=2, stroke_dasharray=dash)
        if kind in ("bound", "open-bound"):
            return _error_bar(x, y + 6, y - 6, colour, "", open_high=kind == "open-bound").replace(
                'class="bound"', 'class="swatch"'
            )
        if kind == "bar":
            return f'<rect x="{x - 7:.1f}" y="{y - 5:.1f}" width="14" height="10" fill="{colour}"/>'
        if kind == "bracket":
            return (
                f'<rect x="{x - 7:.1f}" y="{y - 5:.1f}" width="14" height="10" fill="{colour}" '
                'fill-opacity="0.18" stroke="#999" stroke-dasharray="2 2"/>'
            )
        return marker(x, y, colour, kind, "", cls="swatch")


class Plot:
    """One SVG plot: frame, axes with ticks and labels, data marks, legend."""

    def __init__(self, name: str, title: str, description: str) -> None:
        self.name, self.title, self.description = name, title, description
        self.parts: list[str] = []
        self.legend = Legend()

    def add(self, *parts: str) -> None:
        self.parts.extend(parts)

    def axes(self, xs: Scale, ys: Scale, xlabel: str, ylabel: str, *, y_grid: bool = True) -> None:
        grid, labels = ['<g class="grid">'], ['<g class="ticks">']
        for value, text in xs.ticks():
            x = xs.px(value)
            grid.append(_line(x, Y_TOP, x, Y_BOTTOM))
            labels.append(_line(x, Y_BOTTOM, x, Y_BOTTOM + 5, class_="tick"))
            labels.append(_label(x, Y_BOTTOM + 18, text, text_anchor="middle"))
        for value, text in ys.ticks():
            y = ys.px(value)
            if y_grid:
                grid.append(_line(X0, y, X1, y))
            labels.append(_line(X0 - 5, y, X0, y, class_="tick"))
            labels.append(_label(X0 - 8, y + 4, text, text_anchor="end"))
        self.parts[:0] = [*grid, "</g>", *labels, "</g>"]
        self.add(
            f'<rect class="frame" x="{X0}" y="{Y_TOP}" width="{X1 - X0}" height="{Y_BOTTOM - Y_TOP}" fill="none"/>',
            _label((X0 + X1) / 2, Y_BOTTOM + 36, xlabel, class_="axis-label", text_anchor="middle"),
            _label(
                16,
                (Y_TOP + Y_BOTTOM) / 2,
                ylabel,
                class_="axis-label",
                text_anchor="middle",
                transform=f"rotate(-90 16 {(Y_TOP + Y_BOTTOM) / 2:.1f})",
            ),
        )

    def empty(self, message: str) -> None:
        self.add(_label((X0 + X1) / 2, (Y_TOP + Y_BOTTOM) / 2, message, class_="empty", text_anchor="middle"))

    def render(self) -> str:
        legend, legend_end = self.legend.render(Y_BOTTOM + 60)
        # The canvas grows when the legend needs more rows than the default height holds.
        height = max(HEIGHT, math.ceil(legend_end))
        head = (
            f'<svg class="plot" data-plot="{_esc(self.name)}" role="img" aria-label="{_esc(self.description)}" '
            f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}">'
            f"<title>{_esc(self.title)}</title><desc>{_esc(self.description)}</desc>"
            f'<rect class="bg" x="0" y="0" width="{WIDTH}" height="{height}" fill="#fff"/>'
            + _label(WIDTH / 2, 24, self.title, class_="plot-title", text_anchor="middle")
        )
        return head + "".join(self.parts) + legend + "</svg>"


# ---------------------------------------------------------------- the five plots


def _concurrency_scale(run: Run) -> Scale:
    levels = sorted({float(lvl.level) for lvl in run.levels if lvl.level > 0})
    scale = auto_scale(levels, X0, X1, span=LOG_X_SPAN, zero=True, inclusive=True)
    if not scale.log:
        return scale
    # On a log axis the measured levels themselves are the most useful ticks (4, 8, 16, ...),
    # thinned so that their labels do not collide.
    ticks: list[tuple[float, str]] = []
    for value in levels:
        if not ticks or scale.px(value) - scale.px(ticks[-1][0]) >= MIN_TICK_GAP_PX:
            ticks.append((value, _tick_label(value)))
    return replace(scale, fixed_ticks=tuple(ticks))


def _dodge(run: Run, tier: str) -> float:
    names = [n for n in run.tier_names if any(n in lvl.verdicts for lvl in run.levels)]
    if len(names) < 2 or tier not in names:
        return 0.0
    return (names.index(tier) - (len(names) - 1) / 2) * DODGE_PX


def _verdict_legend(plot: Plot, run: Run, kinds: Iterable[str], bound_kinds: Iterable[str]) -> None:
    for name in run.tier_names:
        if any(name in lvl.verdicts for lvl in run.levels):
            plot.legend.add("pass", run.colour(name), name)
    for kind in VERDICTS:
        if kind in kinds:
            plot.legend.add(kind, GREY, VERDICT_TEXT[kind])
    if "bound" in bound_kinds:
        plot.legend.add("bound", GREY, "confidence bounds")
    if "open-bound" in bound_kinds:
        plot.legend.add("open-bound", GREY, "no upper bound (too few samples)")


def _thresholds(plot: Plot, run: Run, ys: Scale, key: Callable[[Tier], float | None], unit: str) -> None:
    """Dashed horizontal limit lines, one per distinct value, labelled with their tiers."""
    groups: dict[float, list[str]] = {}
    for tier in run.tiers:
        value = key(tier)
        if value is not None:
            groups.setdefault(value, []).append(tier.name)
    placed: list[float] = []
    for value, names in sorted(groups.items(), key=lambda item: -ys.px(item[0])):
        y = ys.px(value)
        colour = run.colour(names[0]) if len(names) == 1 else INK
        plot.add(
            _line(X0, y, X1, y, class_="threshold", stroke=colour, stroke_dasharray="6 4", stroke_width=1.5)
        )
        label_y = y + 4
        while any(abs(label_y - p) < 12 for p in placed):
            label_y -= 12
        placed.append(label_y)
        plot.add(
            _label(
                X1 + 4, label_y, f"{', '.join(names)} {value:g}{unit}", class_="threshold-label", fill=colour
            )
        )
    if groups:
        plot.legend.add("dash", INK, "tier limit")


def _error_bar(
    x: float, lo_px: float, hi_px: float, colour: str, tip: str, *, open_high: bool = False
) -> str:
    """A vertical bound from ``lo_px`` to ``hi_px``; an open (unbounded) top is dashed with an arrow."""
    low_cap = f"M{x - 3:.1f},{lo_px:.1f}H{x + 3:.1f}"
    if open_high:
        return (
            f'<path class="bound" d="M{x:.1f},{lo_px:.1f}V{hi_px:.1f}{low_cap}" stroke="{colour}" '
            f'stroke-width="1" stroke-dasharray="3 3" fill="none">{_tip(tip)}</path>'
            f'<path d="M{x - 3:.1f},{hi_px + 5:.1f}L{x:.1f},{hi_px:.1f}L{x + 3:.1f},{hi_px + 5:.1f}" '
            f'stroke="{colour}" stroke-width="1.2" fill="none"/>'
        )
    return (
        f'<path class="bound" d="M{x:.1f},{lo_px:.1f}V{hi_px:.1f}{low_cap}M{x - 3:.1f},{hi_px:.1f}H{x + 3:.1f}" '
        f'stroke="{colour}" stroke-width="1.2" fill="none">{_tip(tip)}</path>'
    )


def ttft_plot(run: Run) -> str:
    """P95 TTFT per level and tier, each tier's limit dashed, confidence bounds as error bars."""
    plot = Plot(
        "ttft",
        "P95 time to first token vs concurrency",
        "P95 TTFT of every measured level per tier, with each tier's TTFT limit as a dashed line",
    )
    xs = _concurrency_scale(run)
    values: list[float | None] = [t.max_ttft for t in run.tiers]
    for lvl in run.levels:
        for v in lvl.verdicts.values():
            values += [v.p95, v.p95_low, v.p95_high]
    # A lower bound that does not exist yet is reported as 0: it must not force a linear axis
    # (on a log axis it sits at the bottom edge).
    ys = auto_scale([v for v in values if v], Y_BOTTOM, Y_TOP, span=LOG_Y_SPAN, zero=True)
    plot.axes(xs, ys, "concurrent agents" + (" (log scale)" if xs.log else ""), "P95 TTFT (s)")
    _thresholds(plot, run, ys, lambda t: t.max_ttft, " s")
    kinds: set[str] = set()
    bound_kinds: set[str] = set()
    for lvl in run.sorted_levels:
        for name, v in lvl.verdicts.items():
            x = xs.px(lvl.level) + _dodge(run, name)
            colour, kind = run.colour(name), lvl.mark(name)
            bounds = _bounds(v.p95_low, v.p95_high, v.p95_high_open, " s")
            if v.p95 is None and not v.p95_unbounded:
                continue
            if v.p95_low is not None or v.p95_high is not None or v.p95_high_open:
                lo = ys.px(v.p95_low if v.p95_low is not None else v.p95 or ys.hi)
                open_high = v.p95_high_open or v.p95_high is None
                hi = Y_TOP if open_high else ys.px(v.p95_high or 0.0)
                tip = f"{name} @ {lvl.level}: P95 TTFT bounds{bounds}"
                plot.add(_error_bar(x, lo, hi, colour, tip, open_high=open_high))
                bound_kinds.add("open-bound" if open_high else "bound")
            shown = "unbounded" if v.p95_unbounded else kind
            if v.p95_unbounded and kind == "invalid":
                colour = GREY
            value = "∞ (too many failed requests)" if v.p95 is None else f"{v.p95:.4g} s"
            tip = f"{name} @ {lvl.level} agents: {VERDICT_TEXT.get(kind, kind)}, P95 TTFT {value}{bounds}"
            plot.add(marker(x, Y_TOP if v.p95 is None else ys.px(v.p95), colour, shown, tip))
            kinds.add(kind)
    _verdict_legend(plot, run, kinds, bound_kinds)
    if not any(lvl.verdicts for lvl in run.levels):
        plot.empty("no level measured")
    return plot.render()


def speed_plot(run: Run) -> str:
    """P25 output speed per level and tier, each tier's minimum dashed, bounds as error bars."""
    plot = Plot(
        "speed",
        "P25 output speed vs concurrency",
        "P25 output speed of every measured level per tier, with each tier's minimum speed as a dashed line",
    )
    xs = _concurrency_scale(run)
    values: list[float | None] = [t.min_speed for t in run.tiers]
    for lvl in run.levels:
        for v in lvl.verdicts.values():
            values += [v.p25, v.p25_low, v.p25_high]
    ys = linear_scale(values, Y_BOTTOM, Y_TOP, zero=True)
    plot.axes(xs, ys, "concurrent agents" + (" (log scale)" if xs.log else ""), "P25 output speed (tokens/s)")
    _thresholds(plot, run, ys, lambda t: t.min_speed, "")
    kinds: set[str] = set()
    bound_kinds: set[str] = set()
    for lvl in run.sorted_levels:
        for name, v in lvl.verdicts.items():
            if v.p25 is None:
                continue
            x = xs.px(lvl.level) + _dodge(run, name)
            colour, kind = run.colour(name), lvl.mark(name)
            bounds = _bounds(v.p25_low, v.p25_high, False, " tok/s")
            if v.p25_low is not None or v.p25_high is not None:
                lo = ys.px(v.p25_low if v.p25_low is not None else v.p25)
                hi = ys.px(v.p25_high if v.p25_high is not None else v.p25)
                plot.add(_error_bar(x, lo, hi, colour, f"{name} @ {lvl.level}: P25 speed bounds{bounds}"))
                bound_kinds.add("bound")
            tip = f"{name} @ {lvl.level} agents: {VERDICT_TEXT.get(kind, kind)}, P25 speed {v.p25:.4g} tok/s{bounds}"
            plot.add(marker(x, ys.px(v.p25), colour, kind, tip))
            kinds.add(kind)
    _verdict_legend(plot, run, kinds, bound_kinds)
    if not any(lvl.verdicts for lvl in run.levels):
        plot.empty("no level measured")
    return plot.render()


def _answer_text(tier: Tier) -> str:
    if tier.max_agents is None:
        return "no answer"
    text = f"≥{tier.max_agents}" if tier.lowest_failing is None else str(tier.max_agents)
    return text + ("?" if not tier.converged else "") + ("*" if tier.non_monotone else "")


def max_agents_plot(run: Run) -> str:
    """One horizontal bar per tier: its answer, and the bracket up to the lowest failing level."""
    plot = Plot(
        "max-agents",
        "Maximum concurrent agents per tier",
        "Horizontal bars: the highest concurrency that met each tier's SLO; "
        "the shaded bracket reaches the lowest level that failed",
    )
    tiers = run.tiers
    xs = linear_scale(
        [float(v) for t in tiers for v in (t.max_agents, t.lowest_failing) if v is not None],
        X0,
        X1,
        zero=True,
    )
    band = (Y_BOTTOM - Y_TOP) / max(len(tiers), 1)
    fixed = tuple((float(i), t.name if len(t.name) <= 10 else t.name[:9] + "…") for i, t in enumerate(tiers))
    ys = Scale(-0.5, max(len(tiers), 1) - 0.5, Y_TOP, Y_BOTTOM, fixed_ticks=fixed)
    plot.axes(xs, ys, "concurrent agents", "tier", y_grid=False)
    for i, tier in enumerate(tiers):
        y, colour, h = ys.px(i), run.colour(tier.name), min(band * 0.55, 34)
        x_end = xs.px(tier.max_agents or 0)
        if tier.lowest_failing is not None:
            x_fail = xs.px(tier.lowest_failing)
            plot.add(
                f'<rect class="bracket" x="{x_end:.1f}" y="{y - h / 2:.1f}" width="{max(x_fail - x_end, 0):.1f}" '
                f'height="{h:.1f}" fill="{colour}" fill-opacity="0.18" stroke="#999" stroke-dasharray="2 2"/>',
                f'<path class="mark failing" d="M{x_fail:.1f},{y - h / 2 - 4:.1f}V{y + h / 2 + 4:.1f}" '
                f'stroke="{INK}" stroke-width="2">{_tip(f"{tier.name}: {tier.lowest_failing} agents failed")}</path>',
            )
        if tier.max_agents:
            tip = f"{tier.name}: {_answer_text(tier)} agents"
            plot.add(
                f'<rect class="mark" x="{X0}" y="{y - h / 2:.1f}" width="{max(x_end - X0, 0):.1f}" '
                f'height="{h:.1f}" fill="{colour}">{_tip(tip)}</rect>'
            )
        label_x = max(x_end, xs.px(tier.lowest_failing or 0)) + 6
        plot.add(_label(label_x, y + 4, _answer_text(tier), class_="bar-label"))
    plot.legend.add("bar", PALETTE[0], "max agents meeting the tier")
    if any(t.lowest_failing is not None for t in tiers):
        plot.legend.add("bracket", PALETTE[0], "bracket up to the lowest failing level")
    if not tiers:
        plot.empty("no tier answered")
    return plot.render()


def _power_windows(run: Run) -> tuple[list[tuple[Level, float, float]], bool]:
    """Each level with power as (level, x from, x to): seconds since the start, else order."""
    with_power = [lvl for lvl in run.levels if lvl.power_w is not None]
    timed = all(
        lvl.window_start is not None and lvl.window_end is not None and lvl.window_end > lvl.window_start
        for lvl in with_power
    )
    if with_power and timed:
        return [(lvl, lvl.window_start or 0.0, lvl.window_end or 0.0) for lvl in with_power], True
    return [(lvl, i + 0.1, i + 0.9) for i, lvl in enumerate(run.levels) if lvl.power_w is not None], False


def power_plot(run: Run) -> str:
    """Mean GPU power of each level drawn across its measurement window."""
    simulated = " (simulated)" if run.power_simulated else ""
    plot = Plot(
        "power",
        f"GPU power over the run{simulated}",
        f"Mean GPU power of each level's measurement window over the run{simulated}",
    )
    windows, timed = _power_windows(run)
    if timed:
        xs = linear_scale([w[2] for w in windows], X0, X1, zero=True)
        xlabel = "seconds since the run started"
    else:
        fixed = tuple((i + 0.5, str(lvl.level)) for i, lvl in enumerate(run.levels))
        xs = Scale(0.0, float(max(len(run.levels), 1)), X0, X1, fixed_ticks=fixed)
        xlabel = "level, in measurement order (window times not recorded)"
    ys = linear_scale([w[0].power_w for w in windows], Y_BOTTOM, Y_TOP, zero=True)
    plot.axes(xs, ys, xlabel, "mean GPU power (W)")
    for lvl, start, end in windows:
        power = lvl.power_w or 0.0
        x0, x1, y = xs.px(start), xs.px(end), ys.px(power)
        tip = (
            f"{lvl.level} agents: {power:.1f} W mean"
            + (f" over {lvl.window_s:.1f} s" if lvl.window_s else "")
            + (" (simulated)" if lvl.power_simulated else "")
        )
        plot.add(
            f'<rect class="mark" x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0, 1.0):.1f}" '
            f'height="{max(Y_BOTTOM - y, 1.0):.1f}" fill="{PALETTE[0]}" fill-opacity="0.3" '
            f'stroke="{PALETTE[0]}" stroke-width="1.5">{_tip(tip)}</rect>'
        )
        if x1 - x0 >= 22:
            plot.add(_label((x0 + x1) / 2, y - 5, f"N={lvl.level}", class_="bar-label", text_anchor="middle"))
    plot.legend.add("bar", PALETTE[0], f"mean power over a level's window{simulated}")
    if not windows:
        plot.empty("no power measured")
    return plot.render()


def throughput_plot(run: Run) -> str:
    """Output tokens per second of the whole deployment at each level."""
    plot = Plot(
        "throughput",
        "Output token throughput vs concurrency",
        "Output tokens per second over each level's measurement window",
    )
    xs = _concurrency_scale(run)
    points = [lvl for lvl in run.sorted_levels if lvl.throughput is not None]
    ys = linear_scale([lvl.throughput for lvl in points], Y_BOTTOM, Y_TOP, zero=True)
    plot.axes(xs, ys, "concurrent agents" + (" (log scale)" if xs.log else ""), "output tokens/s")
    coords = [(xs.px(lvl.level), ys.px(lvl.throughput or 0.0)) for lvl in points]
    if len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        plot.add(
            f'<polyline class="series" points="{path}" fill="none" stroke="{PALETTE[0]}" stroke-width="1.5"/>'
        )
    for lvl, (x, y) in zip(points, coords, strict=True):
        kind = "pass" if lvl.valid else "invalid"
        plot.add(
            marker(x, y, PALETTE[0], kind, f"{lvl.level} agents: {lvl.throughput or 0:.1f} output tokens/s")
        )
    plot.legend.add("pass", PALETTE[0], "valid level")
    if any(not lvl.valid for lvl in points):
        plot.legend.add("invalid", GREY, VERDICT_TEXT["invalid"])
    if not points:
        plot.empty("no level measured")
    return plot.render()


# ---------------------------------------------------------------- HTML sections


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge badge-{_esc(kind)}">{_esc(text)}</span>'


def _table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str) -> str:
    """``rows`` cells are HTML already (escaped by the caller); ``head`` is plain text."""
    th = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def _header(run: Run) -> str:
    dataset = _map(run.get("dataset"))
    simulated = " (simulated power)" if run.power_simulated else ""
    duration = run.finished - run.started if run.started and run.finished else None
    confidence = _num(run.get("confidence"))
    facts = [
        ("target", f"{_text(run.get('target'))} ({_text(run.get('target_kind')) or 'unknown kind'})"),
        ("model", _text(run.get("model"))),
        ("GPUs", f"{_text(run.get('gpus'))}{simulated}"),
        (
            "dataset",
            f"{_text(dataset.get('name')) or '–'}: {_text(dataset.get('trajectories')) or '?'} trajectories, "
            f"{_text(dataset.get('turns')) or '?'} turns",
        ),
        ("started", _fmt_time(run.started)),
        ("finished", _fmt_time(run.finished)),
        ("duration", _fmt_duration(duration)),
        ("levels measured", str(len(run.levels))),
        ("GPU-seconds", _fmt_fixed(run.gpu_seconds, " GPU·s") if run.gpu_seconds else "not recorded"),
        ("bounds", f"{confidence:.0%} confidence" if confidence else "not recorded"),
    ]
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts)
    return (
        f"<header><h1>agentperf run {_esc(run.get('run_id') or '(no id)')} {_gate_badge(run)}</h1>"
        f'{_notices(run)}<table class="facts">{rows}</table></header>'
    )


def _gate_badge(run: Run) -> str:
    gate = _map(run.get("gate"))
    status = _text(gate.get("status")).lower()
    if not status:
        return ""
    kind = status if status in ("pass", "fail", "pending", "error") else "unknown"
    return _badge(f"gate: {status}", kind)


def _notices(run: Run) -> str:
    out = []
    if run.get("interrupted") is True:
        out.append("This run was interrupted: the levels and answers below are partial.")
    error = _text(run.get("error"))
    if error:
        out.append(f"The run failed: {error}")
    return "".join(f'<p class="notice" role="alert">{_esc(n)}</p>' for n in out)


def _gate_section(run: Run) -> str:
    gate = _map(run.get("gate"))
    if not gate:
        return ""
    rules = gate.get("rules") or []
    reasons = gate.get("reasons") or []
    items = "".join(
        f"<li>{_esc(r if isinstance(r, str) else json.dumps(r, sort_keys=True))}</li>"
        for r in [*rules, *reasons]
        if r is not None
    )
    return f'<section id="gate"><h2>Gate {_gate_badge(run)}</h2><ul>{items}</ul></section>'


def _tier_notes(tier: Tier) -> str:
    notes = []
    if tier.max_agents is not None and not tier.converged:
        notes.append(("not converged", "warn"))
    if tier.inconclusive:
        notes.append(("inconclusive", "warn"))
    if tier.client_limited:
        notes.append(("client-limited", "warn"))
    if tier.non_monotone:
        notes.append(("non-monotone", "warn"))
    if tier.max_agents is not None and tier.converged and not notes:
        notes.append(("converged", "pass"))
    return " ".join(_badge(text, kind) for text, kind in notes)


def _answers(run: Run) -> str:
    head = (
        "tier",
        "SLO",
        "max agents",
        "lowest failing",
        "agents/GPU",
        "agents/MW",
        "P95 TTFT",
        "P25 speed",
        "power",
        "notes",
    )
    rows = []
    for t in run.tiers:
        slo = f"P25 ≥ {_fmt(t.min_speed)} tok/s, P95 TTFT ≤ {_fmt(t.max_ttft)} s"
        rows.append(
            (
                f'<span class="swatch-dot" style="background:{run.colour(t.name)}"></span>{_esc(t.name)}',
                _esc(slo),
                f"<strong>{_esc(_answer_text(t))}</strong>",
                _esc(_fmt_count(t.lowest_failing)),
                _esc(_fmt_fixed(t.agents_per_gpu)),
                _esc(_fmt_per_mw(t.agents_per_mw)),
                _esc(_fmt(t.p95, " s")),
                _esc(_fmt_fixed(t.p25, " tok/s")),
                _esc(_fmt_fixed(t.power_w, " W")),
                _tier_notes(t),
            )
        )
    cost = run.gpu_seconds
    spent = (
        f"The answer cost {_esc(_fmt_fixed(cost))} GPU-seconds over {len(run.levels)} level(s)."
        if cost
        else f"{len(run.levels)} level(s) measured; GPU-seconds not recorded."
    )
    table = _table(head, rows, "answers") if rows else '<p class="empty">No tier answered.</p>'
    return (
        f'<section id="answers"><h2>Answer</h2>{table}<p class="legend-note">{spent} '
        "≥N: never failed up to N. ?: not converged to the resolution. *: a level above the first "
        "failure passed too. Inconclusive: a level in the bracket stayed undecided and counts as "
        "not passing (the answer is conservative).</p></section>"
    )


def _verdict_cell(v: Verdict | None, valid: bool) -> str:
    if v is None:
        return "–"
    kind = v.verdict if valid else "invalid"
    ttft = "∞" if v.p95_unbounded else _fmt(v.p95, " s")
    lines = [
        _badge(v.verdict, kind if kind in VERDICTS else "unknown"),
        f"TTFT {_esc(ttft)}{_esc(_bounds(v.p95_low, v.p95_high, v.p95_high_open, ' s'))}",
        f"P25 {_esc(_fmt(v.p25, ' tok/s'))}{_esc(_bounds(v.p25_low, v.p25_high, False, ' tok/s'))}",
    ]
    samples = f"n={_fmt_count(v.ttft_samples)}/{_fmt_count(v.speed_samples)}"
    return (
        f'<div title="{_esc(v.reason)}">' + "<br>".join(lines) + f"<br><small>{_esc(samples)}</small></div>"
    )


def _levels(run: Run) -> str:
    head = [
        "level",
        *run.tier_names,
        "requests (sent / judged / in window)",
        "failed",
        "censored",
        "window",
        "output tok/s",
        "power",
        "window extended",
        "stopped early",
        "valid",
    ]
    rows = []
    for lvl in run.levels:
        extended = f"{2**lvl.extensions}x" if lvl.extensions else "no"
        valid = "yes" if lvl.valid else f"no: {lvl.invalid_reason or 'client-limited'}"
        requests = " / ".join(
            _fmt_count(n) for n in (lvl.requests_sent, lvl.records_total, lvl.records_window)
        )
        rows.append(
            [
                f"<strong>{lvl.level}</strong>",
                *(_verdict_cell(lvl.verdicts.get(n), lvl.valid) for n in run.tier_names),
                _esc(requests + ("" if lvl.complete else " (incomplete)")),
                _esc(_fmt_count(lvl.failed)),
                _esc(_fmt_count(lvl.censored)),
                _esc(_fmt_fixed(lvl.window_s, " s")),
                _esc(_fmt_fixed(lvl.throughput)),
                _esc(_fmt_fixed(lvl.power_w, " W") + (" (sim)" if lvl.power_simulated else "")),
                _esc(extended),
                _esc("yes" if lvl.stopped_early else "no"),
                _esc(valid),
            ]
        )
    table = _table(head, rows, "levels") if rows else '<p class="empty">No level was measured.</p>'
    return (
        f'<section id="levels"><h2>Levels, in measurement order</h2>{table}'
        '<p class="legend-note">[low–high]: the confidence bounds of the percentile; a verdict is '
        "pass or fail only when the whole interval is on one side of the limit. Hover a verdict for "
        "the judge's reason; n = TTFT / speed samples.</p></section>"
    )


def _run_details(run: Run) -> str:
    versions = _map(run.get("versions"))
    dataset = _map(run.get("dataset"))
    facts = [
        ("seed", _text(run.get("seed"))),
        ("tool model", _text(run.get("tool_model"))),
        ("schema", _text(run.get("schema")) or "unknown"),
        *((f"dataset {k}", _text(v)) for k, v in dataset.items()),
        *((f"{k} version", _text(v)) for k, v in versions.items()),
    ]
    rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_esc(v)}</td></tr>" for k, v in facts)
    config = json.dumps(run.get("config") or {}, indent=2, sort_keys=True, default=str)
    return (
        f'<section id="run"><h2>Run</h2><table class="facts">{rows}</table>'
        f"<details><summary>Effective configuration</summary><pre>{_esc(config)}</pre></details></section>"
    )


CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0 auto;
max-width:1360px;padding:16px 24px;background:#fafafa}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;background:#fff}th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:top}td{overflow-wrap:anywhere}thead th{background:#f0f0f0}
table.facts th{background:#f6f6f6;font-weight:600;white-space:nowrap}
table.levels td{font-size:12.5px}.badge{display:inline-block;border-radius:4px;padding:1px 7px;
font-size:12px;font-weight:600;color:#fff;background:#666;vertical-align:middle}
.badge-pass{background:#00795a}.badge-fail{background:#b84a00}.badge-warn,.badge-pending,
.badge-inconclusive{background:#f2c15f;color:#222}.badge-insufficient{background:#ddd;color:#222}
.badge-error{background:#8c2d66}.badge-invalid{background:#8c8c8c}
.notice{background:#fff3e0;border-left:4px solid #D55E00;padding:8px 12px}
.legend-note{color:#555;font-size:12.5px;max-width:1000px}.swatch-dot{display:inline-block;width:10px;
height:10px;border-radius:50%;margin-right:6px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(560px,1fr));gap:16px}
.plots figure{margin:0;background:#fff;border:1px solid #ddd;padding:4px}
svg.plot{width:100%;height:auto;display:block}
svg .grid line{stroke:#eee}svg .frame{stroke:#999}svg .tick{stroke:#999}
svg text{font:12px system-ui,sans-serif;fill:#333}svg .plot-title{font-size:15px;font-weight:600}
svg .axis-label{font-size:13px}svg .threshold-label{font-size:11.5px}svg .empty{fill:#999;font-size:14px}
pre{background:#fff;border:1px solid #ddd;padding:8px;overflow:auto;max-height:480px}
@media print{.plots{grid-template-columns:1fr}}
"""


def render_html(result: Mapping[str, Any]) -> str:
    """The whole page for one result.json dict; missing keys take their defaults."""
    run = Run.parse(result)
    plots = (ttft_plot, speed_plot, max_agents_plot, power_plot, throughput_plot)
    figures = "".join(f"<figure>{draw(run)}</figure>" for draw in plots)
    title = f"agentperf run {_text(run.get('run_id'))}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{CSS}</style></head><body>"
        f"{_header(run)}{_answers(run)}{_gate_section(run)}"
        f'<section id="plots"><h2>Plots</h2><div class="plots">{figures}</div>'
        '<p class="legend-note">Shapes: ● pass, × fail, ◇ inconclusive, □ too few samples, '
        "dashed ○ invalid level, ▲ at the top edge an unbounded P95 TTFT. Error bars: confidence "
        "bounds of the percentile. Hover a mark for its values.</p></section>"
        f"{_levels(run)}{_run_details(run)}</body></html>\n"
    )


def write_html(result: Mapping[str, Any], path: Path) -> None:
    """Write the page atomically: a reader never sees half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render_html(result))
        os.chmod(tmp, 0o644)  # a report is for reading, also by a web server (mkstemp makes 0600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
