"""What the concurrency search costs (GPU-seconds) and how close it lands, against a dense scan
and linear ramps, on the simulator's engine model in virtual time.

Not a test (pytest does not collect it). Run::

    nice .venv/bin/python bench/search_cost.py [--profile tiny] [--workload local] [--seeds 1 2 3]
        [--dense-window 300] [--ramp-step 4] [--out docs/bench/search_cost.json]

Every level is measured the way ``agentperf run`` measures it (``conductor.judge_level``), but
against :class:`agentperf.sim.calibrate.ClosedLoop` (N agents on the engine model; no real time
passes): the agents start spread over the first second; the warm-up lasts until every agent has
completed one request (at most ``warmup_timeout_s``); the window opens then and reaches its
minimum once it is ``window_s`` long and ``min_window_requests`` were sent in it (at most
``max_window_s``): call that length T0. Requests sent in the window are judged; those unfinished
at its close become CENSORED records. The records go to the judge's own pure core
(``services/judge/core.evaluate_level``); the verdicts go to the search through the conductor's
own ``record_verdicts`` (with ``tier_margin``). As the conductor's ``_Watch`` does, on previews
over the records of the requests completed so far (in-flight ones are not in a preview):

* early stop: every ``progress_interval_s`` of the window, once every tier the search needs at
  the level (``search.open_at(level)``) is a clear FAIL, the window closes;
* extension: at its minimum the window is held open (the agents keep running, no new warm-up)
  and closes at the first checkpoint, window lengths T0, 2 T0, 4 T0 ... up to
  T0 * 2**max_extensions (each at the first preview at or past it), where every needed tier is
  PASS or FAIL; at the last checkpoint it closes anyway (an undecided needed tier then counts as
  not passing, in ``record_verdicts``).

All policy figures are the conductor's ``RunConfig`` defaults. Cost of a level = its virtual
time (warm-up + the window's final length) x the profile's GPUs.

Strategies, each on the same profile, workload and seed (a given level replays the same
simulation whichever strategy asks for it):

* ``dense``: every level from 1 until every tier has failed, plus ``--dense-extra`` levels, each
  with a ``--dense-window`` window and no early stop: the ground truth;
* ``ramp1`` / ``ramp<step>``: 1, 1 + step, ... with the conductor's window policy (extensions
  included) and no early stop, until every tier has failed (what simple harnesses do);
* ``search``: agentperf's search with the conductor's defaults (resolution 10 %);
* ``search-res1``: the same with a resolution of 1 agent;
* ``search-no-margin``, ``search-no-early-stop``, ``search-plain``: without margin interpolation,
  without early stop, without both.

Per tier an answer is the highest passing level below the lowest failing one. It is "within"
when it differs from the dense scan's by at most the strategy's resolution at the truth
(``max(resolution_agents, ceil(resolution_pct % of it))``), for a ramp by at most its step.
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import platform
import shlex
import sys
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentperf.conductor import RunConfig, record_verdicts
from agentperf.search import ConcurrencySearch, SearchConfig
from agentperf.services.judge import core
from agentperf.sim.calibrate import WORKLOADS, ClosedLoop, Outcome, WorkloadSpec
from agentperf.sim.profile import SimProfile, load_profile

# Virtual seconds between looks at the warm-up (only the clock granularity of finding the moment
# the last agent finished; the moment itself comes from the outcomes' timestamps).
WARMUP_LOOK_S = 0.5
STRATEGIES = (
    "dense",
    "ramp1",
    "ramp-step",
    "search",
    "search-res1",
    "search-no-margin",
    "search-no-early-stop",
    "search-plain",
)


@dataclass(frozen=True)
class Setup:
    """What every strategy measures against: the engine model, the workload, the conductor's policy."""

    profile: SimProfile
    workload: WorkloadSpec
    seed: int
    cfg: RunConfig
    rules: core.Rules

    @property
    def tiers(self) -> list[core.Tier]:
        return [core.Tier(t.name, t.min_output_speed, t.max_ttft_s) for t in self.cfg.tiers]


def make_setup(
    profile: str = "tiny", workload: str = "local", seed: int = 1, cfg: RunConfig | None = None
) -> Setup:
    """The conductor's defaults unless ``cfg`` is given; the judge's sample rules follow ``cfg``."""
    cfg = cfg or RunConfig()
    rules = core.Rules(min_samples=cfg.min_samples, confidence=cfg.confidence)
    return Setup(load_profile(profile), WORKLOADS[workload], seed, cfg, rules)


@dataclass
class LevelRun:
    """A level as the conductor's ``judge_level`` leaves it: one warm-up, one window, the verdicts."""

    level: int
    warmup_s: float
    window_s: float
    # The window's length when it reached its minimum (window_s, min_window_requests, capped):
    # None when it closed before (early stop).
    min_window_s: float | None
    window_requests: int
    extensions: int
    stopped_early: bool
    warmup_timed_out: bool
    open_tiers: list[str] = field(default_factory=list)  # search.open_at(level) when measured
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def elapsed_s(self) -> float:
        return self.warmup_s + self.window_s

    @property
    def held_s(self) -> float:
        """Virtual seconds the window stayed open past its minimum, waiting for a verdict."""
        return 0.0 if self.min_window_s is None else self.window_s - self.min_window_s

    @property
    def undecided(self) -> list[str]:
        """Needed tiers the final verdict left INCONCLUSIVE or INSUFFICIENT (counted as not passing).

        After the last checkpoint, or where the preview had decided them: the preview leaves out
        the requests still in flight, which the final verdict counts as censored.
        """
        return [t for t in self.open_tiers if self.verdicts[t]["verdict"] not in ("pass", "fail")]


def _seed(seed: int, level: int) -> int:
    # One simulation per level: strategies that measure the same level see the same load, so
    # their differences are the strategies' and not the draw's. (The "/1" keeps the draws of
    # the bench's earlier versions, which measured a level again under a new seed.)
    return zlib.crc32(f"{seed}/{level}/1".encode())


def _warm_up(loop: ClosedLoop, agents: int, timeout_s: float) -> tuple[float, bool]:
    """(window opening time, timed out): when the last agent completed its first request."""
    firsts: dict[int, Outcome] = {}
    seen, t = 0, 0.0
    while True:
        t = min(t + WARMUP_LOOK_S, timeout_s)
        loop.advance(t)
        for o in loop.outcomes[seen:]:
            firsts.setdefault(o.agent, o)
        seen = len(loop.outcomes)
        done = [o.done_s for o in firsts.values() if o.done_s is not None]
        if len(done) == agents:
            return (max(done), False) if max(done) <= timeout_s else (timeout_s, True)
        if t >= timeout_s:
            return timeout_s, True


def _record(o: Outcome, i: int, key: tuple[str, int, float], close: float) -> core.Record:
    """The record the load generator would deliver for ``o`` when the window closes at ``close``.

    ``key`` is (run id, level, window opening time).
    """
    run_id, level, t_open = key
    common: dict[str, Any] = {
        "record_id": f"{run_id}/{level}/{i}",
        "run_id": run_id,
        "level": level,
        "in_window": o.arrival_s >= t_open,
        "send_unix_s": o.arrival_s,
        "first_chunk_tokens": 1,
    }
    if o.done_s is not None and o.done_s <= close and o.first_s is not None and o.last_s is not None:
        return core.Record(
            status=core.Status.OK,
            has_first_token=True,
            ttft_s=o.first_s - o.arrival_s,
            first_to_last_s=o.last_s - o.first_s,
            output_tokens=o.received,
            **common,
        )
    waited = close - o.arrival_s
    if o.first_s is None or o.first_s > close or o.last_s is None:
        return core.Record(status=core.Status.CENSORED, waited_s=waited, **common)
    tokens, span = o.received, o.last_s - o.first_s
    if o.last_s > close:
        # The clock ran a step past the close: tokens by the close, at the request's own pace.
        span = close - o.first_s
        tokens = 1 + math.floor((o.received - 1) * span / (o.last_s - o.first_s))
    return core.Record(
        status=core.Status.CENSORED,
        has_first_token=True,
        ttft_s=o.first_s - o.arrival_s,
        first_to_last_s=span,
        output_tokens=tokens,
        waited_s=waited,
        **common,
    )


def _delivered(
    outcomes: Sequence[Outcome], run_id: str, level: int, t_open: float, at: float
) -> list[core.Record]:
    """The window's records the judge holds at ``at``: requests completed by then."""
    return [
        _record(o, i, (run_id, level, t_open), at)
        for i, o in enumerate(outcomes)
        if o.arrival_s >= t_open and o.done_s is not None and o.done_s <= at
    ]


def _natural_close(loop: ClosedLoop, t_open: float, ends: tuple[float, float], need: int) -> float | None:
    """The load generator's own close (window_s, then min requests, capped), once the clock shows it."""
    base_end, longest = ends
    if loop.now < base_end:
        return None
    # Outcomes are appended in send order, so the window's requests are a suffix.
    first = bisect.bisect_left(loop.outcomes, t_open, key=lambda o: o.arrival_s)
    if len(loop.outcomes) - first >= need:
        return min(longest, max(base_end, loop.outcomes[first + need - 1].arrival_s))
    return longest if loop.now >= longest else None


def _needed(result: core.LevelResult, open_tiers: Sequence[str]) -> list[core.TierResult]:
    return [tr for tr in result.tiers if tr.tier.name in open_tiers]


def _clearly_failed(result: core.LevelResult, open_tiers: Sequence[str]) -> bool:
    # The conductor's early-stop test (_Watch), on the judge core's result.
    needed = _needed(result, open_tiers)
    return bool(needed) and all(tr.verdict is core.Verdict.FAIL for tr in needed)


def _decided(result: core.LevelResult, open_tiers: Sequence[str]) -> bool:
    return all(tr.verdict in (core.Verdict.PASS, core.Verdict.FAIL) for tr in _needed(result, open_tiers))


@dataclass
class _Window:
    """One level's window on the virtual clock, closed the way the conductor closes it."""

    setup: Setup
    cfg: RunConfig
    loop: ClosedLoop
    key: tuple[str, int, float]  # (run id, level, window opening time)
    open_tiers: Sequence[str]

    def preview(self, at: float) -> core.LevelResult:
        """The judge's preview at ``at``: records of the window's requests completed by then."""
        run_id, level, t_open = self.key
        held = _delivered(self.loop.outcomes, run_id, level, t_open, at)
        return core.evaluate_level(run_id, level, held, self.setup.tiers, self.setup.rules)

    def until_minimum(self) -> tuple[float, bool]:
        """(time, stopped early): the window's minimum, unless every needed tier failed first."""
        cfg, t_open = self.cfg, self.key[2]
        ends = (t_open + cfg.window_s, t_open + max(cfg.max_window_s, cfg.window_s))
        look = t_open
        while True:
            look += cfg.progress_interval_s
            self.loop.advance(min(look, ends[1]))
            minimum = _natural_close(self.loop, t_open, ends, cfg.min_window_requests)
            if minimum is not None and minimum <= look:
                return minimum, False
            if cfg.early_stop and _clearly_failed(self.preview(look), self.open_tiers):
                return look, True

    def hold(self, hold_at: float) -> tuple[float, int, bool]:
        """(close, extensions, stopped early) once the window is held at its minimum ``hold_at``.

        As ``_Watch`` does: a preview at the hold and every ``progress_interval_s`` after it; at
        the first one at or past each checkpoint (window lengths T0 * 2**k) the window closes if
        every needed tier is PASS or FAIL, or if ``max_extensions`` doublings are used up.
        """
        cfg = self.cfg
        base = max(hold_at - self.key[2], 1e-3)
        extensions, due, tick = 0, 0.0, 0
        while True:
            since = tick * cfg.progress_interval_s
            at = hold_at + since
            checkpoint = since >= due - 1e-9
            if cfg.early_stop or checkpoint:
                self.loop.advance(at)
                preview = self.preview(at)
                if cfg.early_stop and _clearly_failed(preview, self.open_tiers):
                    return at, extensions, True
                if checkpoint:
                    if _decided(preview, self.open_tiers) or extensions >= cfg.max_extensions:
                        return at, extensions, False
                    extensions += 1
                    due = base * (2**extensions - 1)
            tick += 1


def measure_window(
    setup: Setup, cfg: RunConfig, level: int, open_tiers: Sequence[str]
) -> tuple[LevelRun, list[core.Record]]:
    """The conductor's ``judge_level`` in virtual time: the level and every record the judge got.

    ``open_tiers`` (``search.open_at(level)``) decide when the window closes; without them, or
    with ``max_extensions`` 0, the load generator does not hold it and it closes at its minimum.
    """
    loop = ClosedLoop(
        setup.profile,
        level,
        setup.workload,
        _seed(setup.seed, level),
        start_random=cfg.agent_start == "random_turn",
    )
    t_open, timed_out = _warm_up(loop, level, cfg.warmup_timeout_s)
    window = _Window(setup, cfg, loop, ("bench", level, t_open), open_tiers)
    close, early = window.until_minimum()
    minimum: float | None = None if early else close - t_open
    extensions = 0
    if not early and open_tiers and cfg.max_extensions > 0:
        close, extensions, early = window.hold(close)
    records = [_record(o, i, window.key, close) for i, o in enumerate(loop.outcomes) if o.arrival_s <= close]
    result = core.evaluate_level("bench", level, records, setup.tiers, setup.rules, window_s=close - t_open)
    sent = sum(1 for r in records if r.in_window)
    run = LevelRun(
        level=level,
        warmup_s=t_open,
        window_s=close - t_open,
        min_window_s=minimum,
        window_requests=sent,
        extensions=extensions,
        stopped_early=early,
        warmup_timed_out=timed_out,
        open_tiers=list(open_tiers),
        verdicts=_verdicts(result),
    )
    return run, records


def measure_level(setup: Setup, cfg: RunConfig, level: int, open_tiers: Sequence[str]) -> LevelRun:
    """One level, measured and judged as the conductor does."""
    return measure_window(setup, cfg, level, open_tiers)[0]


def _verdicts(result: core.LevelResult) -> dict[str, dict[str, Any]]:
    """The judge's verdicts in the form the conductor's record_verdicts reads."""
    return {
        tr.tier.name: {
            "verdict": tr.verdict.name.lower(),
            "p95_ttft_s": tr.p95_ttft_s,
            "p25_output_speed": tr.p25_output_speed,
        }
        for tr in result.tiers
    }


class _NoMargins(ConcurrencySearch):
    """The search fed no margins: it bisects instead of interpolating."""

    def record(
        self,
        level: int,
        passed: Mapping[str, bool],
        inconclusive: Iterable[str] = (),
        margins: Mapping[str, float] | None = None,
    ) -> None:
        super().record(level, passed, inconclusive, None)


@dataclass
class StrategyRun:
    name: str
    description: str
    levels: list[LevelRun] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)
    converged: dict[str, bool] = field(default_factory=dict)
    tolerance: dict[str, int] = field(default_factory=dict)
    gpus: int = 1

    @property
    def warmup_s(self) -> float:
        return sum(lv.warmup_s for lv in self.levels)

    @property
    def window_s(self) -> float:
        return sum(lv.window_s for lv in self.levels)

    @property
    def gpu_s(self) -> float:
        return (self.warmup_s + self.window_s) * self.gpus

    @property
    def held_s(self) -> float:
        """Virtual seconds of windows held open past their minimum (the extensions' cost)."""
        return sum(lv.held_s for lv in self.levels)


def _run_search(setup: Setup, cfg: RunConfig, search: ConcurrencySearch, run: StrategyRun) -> StrategyRun:
    while (level := search.next_level()) is not None:
        lv = measure_level(setup, cfg, level, search.open_at(level))
        run.levels.append(lv)
        record_verdicts(search, level, lv.verdicts, cfg.tiers)
    for r in search.results():
        run.answers[r.tier] = r.max_level
        run.converged[r.tier] = r.converged
    return run


def _run_ramp(
    setup: Setup, cfg: RunConfig, step: int, run: StrategyRun, *, extra: int = 0, cap: int = 4096
) -> StrategyRun:
    """1, 1 + step, ... until every tier has clearly failed, then ``extra`` more levels.

    The answers follow the search's rules (a level still inconclusive counts as not passing),
    but only a FAIL verdict ends the ramp: one unsure level is not where a harness gives up.
    """
    book = ConcurrencySearch([t.name for t in cfg.tiers], SearchConfig(max_level=cap, max_levels=cap))
    level, last = 1, cap
    failed: set[str] = set()
    while level <= min(cap, last):
        lv = measure_level(setup, cfg, level, book.open_at(level))
        run.levels.append(lv)
        record_verdicts(book, level, lv.verdicts, cfg.tiers)
        failed |= {t for t, v in lv.verdicts.items() if v["verdict"] == "fail"}
        if last == cap and len(failed) == len(cfg.tiers):
            last = level + extra * step
        level += step
    for r in book.results():
        run.answers[r.tier] = r.max_level
        run.converged[r.tier] = r.lowest_failing is not None
    return run


def _resolution(cfg: SearchConfig, truth: int) -> int:
    return max(cfg.resolution_agents, math.ceil(cfg.resolution_pct / 100.0 * truth))


def run_strategy(
    setup: Setup, name: str, *, dense_window_s: float, ramp_step: int, dense_extra: int
) -> StrategyRun:
    """Run one strategy; ``tolerance`` is filled in against the truth by :func:`run_bench`."""
    cfg = setup.cfg
    tiers = [t.name for t in cfg.tiers]
    run = StrategyRun(name, "", gpus=setup.profile.gpus)
    if name == "dense":
        run.description = f"every level, {dense_window_s:g} s windows, no early stop"
        dense = cfg.model_copy(
            update={
                "window_s": dense_window_s,
                "max_window_s": max(dense_window_s, cfg.max_window_s),
                "early_stop": False,
            }
        )
        return _run_ramp(setup, dense, 1, run, extra=dense_extra, cap=cfg.search.max_level)
    if name in ("ramp1", "ramp-step"):
        step = 1 if name == "ramp1" else ramp_step
        run.name = f"ramp{step}"
        run.description = f"linear ramp +{step}, conductor windows, no early stop"
        return _run_ramp(
            setup, cfg.model_copy(update={"early_stop": False}), step, run, cap=cfg.search.max_level
        )
    search_cfg = cfg.search
    if name == "search-res1":
        search_cfg = search_cfg.model_copy(update={"resolution_agents": 1, "resolution_pct": 0.0})
    early = name not in ("search-no-early-stop", "search-plain")
    margins = name not in ("search-no-margin", "search-plain")
    res = f"resolution {search_cfg.resolution_pct:g} %" if search_cfg.resolution_pct else "resolution 1 agent"
    parts = [res, "margins" if margins else "bisection", "early stop" if early else "no early stop"]
    run.description = "agentperf search, " + ", ".join(parts)
    search = (ConcurrencySearch if margins else _NoMargins)(tiers, search_cfg)
    return _run_search(setup, cfg.model_copy(update={"early_stop": early}), search, run)


def _tolerance(run: StrategyRun, setup: Setup, ramp_step: int, truth: int) -> int:
    if run.name.startswith("ramp"):
        return 1 if run.name == "ramp1" else ramp_step
    if run.name == "dense":
        return 0
    search_cfg = setup.cfg.search
    if run.name == "search-res1":
        search_cfg = search_cfg.model_copy(update={"resolution_agents": 1, "resolution_pct": 0.0})
    return _resolution(search_cfg, truth)


def _finite(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def _summary(run: StrategyRun, truth: Mapping[str, int], ramp1_gpu_s: float | None) -> dict[str, Any]:
    within = {t: abs(run.answers[t] - truth[t]) <= run.tolerance[t] for t in truth}
    return {
        "strategy": run.name,
        "description": run.description,
        "levels_measured": len(run.levels),
        "levels": [lv.level for lv in run.levels],
        "extensions": sum(lv.extensions for lv in run.levels),
        "levels_extended": sum(1 for lv in run.levels if lv.extensions),
        "stopped_early": sum(1 for lv in run.levels if lv.stopped_early),
        "levels_undecided": sum(1 for lv in run.levels if lv.undecided),
        "warmup_s": round(run.warmup_s, 1),
        "window_s": round(run.window_s, 1),
        "held_s": round(run.held_s, 1),
        "gpus": run.gpus,
        "gpu_s": round(run.gpu_s, 1),
        "gpu_s_vs_ramp1": round(run.gpu_s / ramp1_gpu_s, 3) if ramp1_gpu_s else None,
        "answers": run.answers,
        "converged": run.converged,
        "tolerance": run.tolerance,
        "within": within,
        "all_within": all(within.values()),
        "per_level": [
            {
                "level": lv.level,
                "elapsed_s": round(lv.elapsed_s, 1),
                "verdicts": {t: v["verdict"] for t, v in lv.verdicts.items()},
                "p25_output_speed": {t: round(v["p25_output_speed"], 2) for t, v in lv.verdicts.items()},
                "p95_ttft_s": {t: _finite(v["p95_ttft_s"]) for t, v in lv.verdicts.items()},
                "warmup_s": round(lv.warmup_s, 2),
                "window_s": round(lv.window_s, 2),
                "min_window_s": None if lv.min_window_s is None else round(lv.min_window_s, 2),
                "window_requests": lv.window_requests,
                "extensions": lv.extensions,
                "stopped_early": lv.stopped_early,
                "warmup_timed_out": lv.warmup_timed_out,
                "open_tiers": lv.open_tiers,
                "undecided": lv.undecided,
            }
            for lv in run.levels
        ],
    }


def run_bench(
    setup: Setup,
    strategies: Sequence[str] = STRATEGIES,
    *,
    dense_window_s: float = 300.0,
    ramp_step: int = 4,
    dense_extra: int = 3,
    log: bool = False,
) -> dict[str, Any]:
    """Every strategy in ``strategies`` (the dense scan always runs: it is the truth)."""
    names = ["dense", *(s for s in strategies if s != "dense")]
    runs: list[StrategyRun] = []
    cpu: dict[str, float] = {}
    for name in names:
        t0 = time.process_time()
        runs.append(
            run_strategy(
                setup, name, dense_window_s=dense_window_s, ramp_step=ramp_step, dense_extra=dense_extra
            )
        )
        cpu[runs[-1].name] = round(time.process_time() - t0, 2)
        if log:
            print(
                f"  {runs[-1].name}: {len(runs[-1].levels)} levels, {cpu[runs[-1].name]} s CPU",
                file=sys.stderr,
            )
    truth = runs[0].answers
    for run in runs:
        run.tolerance = {t: _tolerance(run, setup, ramp_step, truth[t]) for t in truth}
    ramp1 = next((r.gpu_s for r in runs if r.name == "ramp1"), None)
    return {
        "bench": "search_cost",
        "profile": setup.profile.description,
        "gpus": setup.profile.gpus,
        "seed": setup.seed,
        "policy": {
            k: setup.cfg.model_dump()[k]
            for k in (
                "window_s",
                "min_window_requests",
                "max_window_s",
                "warmup_timeout_s",
                "progress_interval_s",
                "max_extensions",
                "confidence",
                "min_samples",
                "search",
                "tiers",
            )
        },
        "dense_window_s": dense_window_s,
        "ramp_step": ramp_step,
        "truth": truth,
        "strategies": [_summary(r, truth, ramp1) for r in runs],
        "cpu_s": cpu,
    }


def render(report: Mapping[str, Any]) -> str:
    """The table the bench prints."""
    tiers = list(report["truth"])
    head = f"{'strategy':<22}{'levels':>7}{'ext':>5}{'early':>6}{'undec':>6}{'warm-up s':>10}{'window s':>10}"
    head += f"{'held s':>9}{'GPU-s':>9}{'/ramp1':>8}"
    head += "".join(f"{t:>10}" for t in tiers)
    lines = [head]
    for s in report["strategies"]:
        ratio = "" if s["gpu_s_vs_ramp1"] is None else f"{s['gpu_s_vs_ramp1']:.2f}"
        row = (
            f"{s['strategy']:<22}{s['levels_measured']:>7}{s['extensions']:>5}{s['stopped_early']:>6}"
            f"{s['levels_undecided']:>6}"
            f"{s['warmup_s']:>10.1f}{s['window_s']:>10.1f}{s['held_s']:>9.1f}{s['gpu_s']:>9.1f}"
            f"{ratio:>8}"
        )
        for t in tiers:
            mark = "" if s["strategy"] == "dense" else ("" if s["within"][t] else "!")
            row += f"{str(s['answers'][t]) + mark:>10}"
        lines.append(row)
    lines.append("answers per tier; '!' marks one further from the dense scan than the strategy's resolution")
    lines.append(
        "ext: window doublings over all levels; early: levels stopped early; undec: levels closed with a "
        "needed tier undecided; held s: window seconds past the minimums"
    )
    for s in report["strategies"]:
        if s["strategy"] == "search":
            top = sorted(s["per_level"], key=lambda lv: -lv["elapsed_s"])[:3]
            costs = ", ".join(
                f"{lv['level']} ({lv['elapsed_s']:.1f} s, {lv['extensions']} ext)" for lv in top
            )
            lines.append(f"search's costliest levels: {costs} of {s['gpu_s'] / s['gpus']:.1f} s")
    return "\n".join(lines)


def summarise_seeds(runs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per strategy over every seed: GPU-seconds against ramp1 (mean, min, max), answers within."""
    out = []
    for name in [s["strategy"] for s in runs[0]["strategies"]]:
        rows = [next(s for s in r["strategies"] if s["strategy"] == name) for r in runs]
        ratios = [s["gpu_s_vs_ramp1"] for s in rows if s["gpu_s_vs_ramp1"] is not None]
        out.append(
            {
                "strategy": name,
                "levels_mean": round(sum(s["levels_measured"] for s in rows) / len(rows), 1),
                "gpu_s_mean": round(sum(s["gpu_s"] for s in rows) / len(rows), 1),
                "gpu_s_vs_ramp1_mean": round(sum(ratios) / len(ratios), 3) if ratios else None,
                "gpu_s_vs_ramp1_min": min(ratios) if ratios else None,
                "gpu_s_vs_ramp1_max": max(ratios) if ratios else None,
                "seeds_all_within": sum(1 for s in rows if s["all_within"]),
                "answers_within": sum(sum(s["within"].values()) for s in rows),
                "answers": sum(len(s["within"]) for s in rows),
            }
        )
    return out


def render_summary(summary: Sequence[Mapping[str, Any]], seeds: int) -> str:
    """The table over seeds."""
    lines = [
        f"{'strategy':<22}{'levels':>7}{'GPU-s':>9}{'/ramp1 mean':>12}{'min':>7}{'max':>7}"
        f"{'answers within':>16}"
    ]
    for s in summary:
        ratio = (
            ("", "", "")
            if s["gpu_s_vs_ramp1_mean"] is None
            else tuple(
                f"{s[k]:.2f}" for k in ("gpu_s_vs_ramp1_mean", "gpu_s_vs_ramp1_min", "gpu_s_vs_ramp1_max")
            )
        )
        lines.append(
            f"{s['strategy']:<22}{s['levels_mean']:>7}{s['gpu_s_mean']:>9.1f}{ratio[0]:>12}{ratio[1]:>7}"
            f"{ratio[2]:>7}{str(s['answers_within']) + '/' + str(s['answers']):>16}"
        )
    lines.append(f"mean over {seeds} seeds; answers within: tier answers within the strategy's resolution")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", default="tiny", help="simulator profile (bundled name or YAML path)")
    parser.add_argument("--workload", default="local", choices=sorted(WORKLOADS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--dense-window", type=float, default=300.0, help="virtual seconds per dense-scan level"
    )
    parser.add_argument(
        "--dense-extra", type=int, default=3, help="dense levels past the one where all tiers fail"
    )
    parser.add_argument("--ramp-step", type=int, default=4)
    parser.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/search_cost.json"))
    args = parser.parse_args(argv)
    started = time.monotonic()
    runs = []
    for seed in args.seeds:
        print(f"seed {seed}", file=sys.stderr)
        run = run_bench(
            make_setup(args.profile, args.workload, seed),
            args.strategies,
            dense_window_s=args.dense_window,
            ramp_step=args.ramp_step,
            dense_extra=args.dense_extra,
            log=True,
        )
        print(f"seed {seed}\n{render(run)}\n", flush=True)
        runs.append(run)
    summary = summarise_seeds(runs)
    print(render_summary(summary, len(runs)))
    report = {
        "bench": "search_cost",
        "command": shlex.join(["python", "bench/search_cost.py", *(sys.argv[1:] if argv is None else argv)]),
        "profile_name": args.profile,
        "workload": args.workload,
        "seeds": args.seeds,
        "summary": summary,
        "runs": runs,
        "wall_s": round(time.monotonic() - started, 1),
        "python": platform.python_version(),
        "cores_visible": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
