"""The run conductor behind ``agentperf run``: the whole suite on loopback, one search, one table.

It starts each service as a real process (free ports learned from ready lines), loads the
trajectory dataset, then measures concurrency levels chosen by :mod:`agentperf.search`. For
each level the load generator warms up and opens a measurement window; the conductor brackets
that window with the power collector, asks the judge for every tier's verdict, and moves on.
Everything is stopped in reverse order at the end, on error and on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import grpc
import yaml
from pydantic import Field, field_validator, model_validator

import agentperf
from agentperf.config import StrictModel
from agentperf.errors import AgentperfError, InputError
from agentperf.gate import GateRule, TierFigures, evaluate_gate, parse_rule
from agentperf.htmlreport import write_html
from agentperf.importing import expand_paths, import_chunks
from agentperf.report import LevelSummary, RunReport, TierSummary, render_table, write_json
from agentperf.runtime.grpc_errors import error_from_rpc
from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import channel
from agentperf.search import ConcurrencySearch, SearchConfig
from agentperf.tiers import TierConfig, check_unique, default_tiers
from agentperf.v1 import (
    common_pb2,
    judge_pb2,
    judge_pb2_grpc,
    loadgen_pb2,
    loadgen_pb2_grpc,
    power_pb2,
    power_pb2_grpc,
    toolsim_pb2,
    toolsim_pb2_grpc,
    trajectory_store_pb2,
    trajectory_store_pb2_grpc,
)

log = logging.getLogger(__name__)


class RunConfig(StrictModel):
    """Everything one ``agentperf run`` does; the file form of the CLI flags."""

    target_url: str | None = Field(
        None, description="OpenAI-compatible server to measure; unset: start the built-in simulator."
    )
    model: str = Field("agentperf-sim", description="Model name sent in every request.")
    engine_profile: str = Field(
        "vllm",
        description="Request-body profile of the load generator: vllm, sglang, trtllm, dynamo, openai (strict), "
        "openai-legacy (docs/loadgen.md).",
    )
    prompt_mode: Literal["words", "tokenizer", "calibrated"] = Field(
        "words",
        description="How the load generator sizes new input: words (one word = one token, the simulator's rule), "
        "tokenizer (exact with tokenizer_path), calibrated (from the server's usage).",
    )
    history_text: Literal["generated", "recorded"] = Field(
        "generated",
        description="What each turn appends to the history: the server's text or the recorded one.",
    )
    loadgen_workers: int = Field(1, ge=0, description="Load generator worker processes; 0: one per core.")
    agent_start: Literal["random_turn", "beginning"] = Field(
        "random_turn",
        description="Where each agent's first trajectory starts: a seeded random turn with the turns before "
        "it prefilled into the history (contexts as long as a long-running fleet's), or turn 0 (contexts "
        "start short at every level).",
    )
    sim_profile: str = Field("tiny", description="Simulator profile when no target_url is given.")
    sim_faults: dict[str, float] = Field(
        default_factory=dict,
        description="Simulator fault injection (docs/simulator.md), e.g. {http_5xx_rate: 0.01}; the "
        "simulator validates the keys.",
    )
    dcgm_endpoints: list[str] = Field(
        default_factory=list, description="DCGM exporter /metrics URLs (the simulator's own when unset)."
    )
    gpus: int | None = Field(
        None, ge=1, description="GPUs serving the target; default: as many as DCGM reports."
    )
    dataset_files: list[Path] = Field(
        default_factory=list,
        description="Trajectory files (or folders of them) to import as one dataset instead of synthetic ones.",
    )
    dataset_format: str = Field(
        "jsonl", description="Import format of dataset_files (see docs/importers.md for the list)."
    )
    dataset_name: str | None = Field(
        None, description="Name of the imported dataset; default: the first file's stem."
    )
    tokenizer_path: str | None = Field(
        None,
        description="tokenizer.json (or folder) the store counts text-only formats with; unset: approximate.",
    )
    synthetic_preset: str = Field(
        "local", description="Synthetic generator preset when no dataset_files are given."
    )
    synthetic_count: int = Field(64, ge=1, description="Synthetic trajectories to generate.")
    tiers: list[TierConfig] = Field(
        default_factory=default_tiers, min_length=1, description="SLO tiers; the public ones by default."
    )
    search: SearchConfig = Field(
        default_factory=lambda: SearchConfig(resolution_pct=10.0), description="Search."
    )
    window_s: float = Field(10.0, gt=0, description="Minimum measurement window per level (seconds).")
    min_window_requests: int = Field(
        50,
        ge=1,
        description="The window lasts until this many requests were sent. A pass needs 45 TTFT samples at the "
        "default confidence 0.9 (the P95's upper bound), so fewer mostly end inconclusive and are measured again.",
    )
    min_samples: int = Field(
        20,
        ge=1,
        description="Fewest TTFT samples the judge needs for a verdict; fewer: measured again, longer.",
    )
    max_window_s: float = Field(60.0, gt=0, description="Upper bound on a window (seconds).")
    confidence: float = Field(
        0.9,
        gt=0.5,
        lt=1.0,
        description="One-sided confidence of the judge's bounds: a tier passes only when its P95 TTFT and "
        "P25 speed bounds clear the SLO at this confidence (docs/measurement.md).",
    )
    max_extensions: int = Field(
        2,
        ge=0,
        description="Times a level's window may double while a tier the search needs there is inconclusive "
        "(the agents keep running: no new warm-up). Still inconclusive: counted as not passing.",
    )
    early_stop: bool = Field(
        True,
        description="Stop a level's window early once every tier the search needs there has clearly failed.",
    )
    progress_interval_s: float = Field(
        2.0,
        gt=0,
        description="How often the judge is asked for the window's percentiles (live progress, early stop).",
    )
    gate: list[str] = Field(
        default_factory=list,
        description="Gate rules (agentperf.gate): TIER:N or TIER:agents=N,per_gpu=X,per_mw=Y; the run exits 1 "
        "when one does not hold. Also served by the judge's verdict API.",
    )
    warmup_timeout_s: float = Field(
        60.0, gt=0, description="Open the window anyway after this long warming up."
    )
    tool_model: Literal["lognormal", "recorded", "fitted", "cpu"] = Field(
        "lognormal",
        description="Tool-call model (docs/toolsim.md): seeded lognormal delays, the recorded durations, a "
        "distribution fitted to the dataset's recorded durations per tool class, or CPU tasks from the catalogue.",
    )
    tool_cpu_target: Literal["lognormal", "fitted"] = Field(
        "lognormal",
        description="With tool_model cpu: where each task's target time comes from (the lognormal, or the "
        "distribution fitted to the dataset's recorded durations).",
    )
    tool_max_concurrent: int = Field(
        0, ge=0, description="Tool calls at once (the CPU baseline); 0: unlimited (cpu model: one per core)."
    )
    tool_median_s: float = Field(1.0, gt=0, description="Median simulated tool-call delay (seconds).")
    tool_sigma: float = Field(0.8, ge=0, description="Lognormal sigma of tool-call delays.")
    seed: int = Field(1, description="Seed for the dataset, tool delays and prompts; written in the report.")
    out_dir: Path = Field(Path("runs"), description="Where run folders (result.json, logs, configs) go.")
    run_id: str | None = Field(None, description="Run id; default: time-based.")
    quiet: bool = Field(False, description="No live progress lines.")

    @model_validator(mode="after")
    def _window_can_yield_a_verdict(self) -> RunConfig:
        if self.min_window_requests < self.min_samples:
            raise ValueError(
                f"min_window_requests ({self.min_window_requests}) must be at least min_samples "
                f"({self.min_samples}): a shorter window could never be judged"
            )
        return self

    @field_validator("tiers")
    @classmethod
    def _unique_tiers(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        return check_unique(tiers)

    @model_validator(mode="after")
    def _gate_rules_name_tiers(self) -> RunConfig:
        names = {t.name for t in self.tiers}
        for i, text in enumerate(self.gate):
            try:
                tier = parse_rule(text, source=f"gate[{i}]").tier
            except InputError as exc:
                raise ValueError(str(exc)) from None
            if tier not in names:
                raise ValueError(f"gate[{i}] names tier {tier!r}; the tiers are {', '.join(sorted(names))}")
        return self

    def gate_rules(self) -> list[GateRule]:
        return [parse_rule(text, source=f"gate[{i}]") for i, text in enumerate(self.gate)]


@dataclass
class Suite:
    """The running services and the stubs to reach them."""

    children: list[ChildProcess]
    store: Any
    loadgen: Any
    judge: Any
    power: Any
    toolsim: Any
    channels: list[grpc.aio.Channel]
    target_url: str
    sim: ChildProcess | None
    judge_http_url: str = ""

    async def close(self) -> None:
        for ch in self.channels:
            await ch.close()
        for child in reversed(self.children):
            code = await child.stop()
            if code not in (0, -15):
                log.warning("%s exited with %s (log: %s)", child.name, code, child.log_path)


def _write_config(run_dir: Path, name: str, values: dict[str, Any]) -> str:
    path = run_dir / "config" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values, sort_keys=True), encoding="utf-8")
    return str(path)


@contextlib.asynccontextmanager
async def start_suite(cfg: RunConfig, run_dir: Path) -> AsyncIterator[Suite]:
    """Start every service on loopback; stop them all on exit, whatever happened."""
    logs = run_dir / "logs"
    children: list[ChildProcess] = []
    channels: list[grpc.aio.Channel] = []

    async def child(name: str, module: str, values: dict[str, Any]) -> ChildProcess:
        proc = await start_child(
            name, module, ["--config", _write_config(run_dir, name, values)], log_dir=logs
        )
        children.append(proc)
        return proc

    suite: Suite | None = None
    try:
        sim_task = None
        if cfg.target_url is None:
            sim_values = {
                "profile": cfg.sim_profile,
                "model": cfg.model,
                "seed": cfg.seed,
                "request_log": str(run_dir / "sim-requests.jsonl"),
                "faults": cfg.sim_faults,
            }
            sim_task = child("sim", "agentperf.sim", sim_values)
        first = await asyncio.gather(
            child(
                "trajectory-store",
                "agentperf.services.trajectory_store",
                {"db_path": str(run_dir / "trajectories.db"), "tokenizer_path": cfg.tokenizer_path},
            ),
            child(
                "judge",
                "agentperf.services.judge",
                {
                    "min_samples": cfg.min_samples,
                    "confidence": cfg.confidence,
                    "db_path": str(run_dir / "judge.db"),
                    "http_host": "127.0.0.1",
                    "http_port": 0,
                },
            ),
            *([sim_task] if sim_task is not None else []),
        )
        store, judge = first[:2]
        sim = first[2] if sim_task is not None else None
        target_url = cfg.target_url or f"http://127.0.0.1:{sim.port('http_port')}"  # type: ignore[union-attr]
        endpoints = cfg.dcgm_endpoints or (
            [f"http://127.0.0.1:{sim.port('dcgm_port')}/metrics"] if sim else []
        )
        toolsim_values = {
            "seed": cfg.seed,
            "model": cfg.tool_model,
            "cpu_target": cfg.tool_cpu_target,
            "median_s": cfg.tool_median_s,
            "sigma": cfg.tool_sigma,
            "max_concurrent": cfg.tool_max_concurrent,
            "trajectory_store": store.grpc_target,
        }
        toolsim, power = await asyncio.gather(
            child("toolsim", "agentperf.services.toolsim", toolsim_values),
            child("power-collector", "agentperf.services.power_collector", {"endpoints": endpoints}),
        )
        loadgen = await child(
            "loadgen",
            "agentperf.services.loadgen",
            {
                "target_url": target_url,
                "model": cfg.model,
                "engine_profile": cfg.engine_profile,
                "trajectory_store": store.grpc_target,
                "toolsim": toolsim.grpc_target,
                "judge": judge.grpc_target,
                "seed": cfg.seed,
                "prompt_mode": cfg.prompt_mode,
                "tokenizer_path": cfg.tokenizer_path or "",
                "history_text": cfg.history_text,
                "workers": cfg.loadgen_workers,
            },
        )

        def stub(make: Callable[[grpc.aio.Channel], Any], proc: ChildProcess) -> Any:
            ch = channel(proc.grpc_target)
            channels.append(ch)
            return make(ch)

        suite = Suite(
            children=children,
            store=stub(trajectory_store_pb2_grpc.TrajectoryStoreStub, store),
            loadgen=stub(loadgen_pb2_grpc.LoadGeneratorStub, loadgen),
            judge=stub(judge_pb2_grpc.JudgeStub, judge),
            power=stub(power_pb2_grpc.PowerCollectorStub, power),
            toolsim=stub(toolsim_pb2_grpc.ToolSimStub, toolsim),
            channels=channels,
            target_url=target_url,
            sim=sim,
            judge_http_url=f"http://127.0.0.1:{judge.port('http_port')}",
        )
        yield suite
    finally:
        if suite is not None:
            await suite.close()
        else:
            for ch in channels:
                await ch.close()
            for proc in reversed(children):
                await proc.stop()


async def _call(peer: str, awaitable: Any) -> Any:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc, peer) from exc


# A judge that restarts (a rescheduled pod) keeps every acknowledged record in its database:
# the conductor waits for it instead of failing the run. Its calls are idempotent.
JUDGE_RETRY_S = 60.0
_RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


async def call_judge(call: Callable[[], Any], *, retry_s: float = JUDGE_RETRY_S) -> Any:
    """``call()`` (a judge RPC), retried with backoff while the judge is unavailable."""
    deadline = time.monotonic() + retry_s
    delay = 0.2
    while True:
        try:
            return await call()
        except grpc.aio.AioRpcError as exc:
            if exc.code() not in _RETRYABLE or time.monotonic() + delay > deadline:
                raise error_from_rpc(exc, "judge") from exc
            log.warning("judge unavailable (%s); retrying in %.1f s", exc.details(), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def load_dataset(cfg: RunConfig, suite: Suite) -> trajectory_store_pb2.DatasetInfo:
    if cfg.dataset_files:
        files = expand_paths(cfg.dataset_files)
        name = cfg.dataset_name or files[0].stem.split(".")[0]
        stream = import_chunks(name, cfg.dataset_format, files, replace=True)
        info: trajectory_store_pb2.DatasetInfo = await _call("trajectory-store", suite.store.Import(stream))
        return info
    request = trajectory_store_pb2.GenerateSyntheticRequest(
        dataset=f"synthetic-{cfg.synthetic_preset}",
        spec=trajectory_store_pb2.SyntheticSpec(count=cfg.synthetic_count, seed=cfg.seed),
        replace=True,
        preset=cfg.synthetic_preset,
    )
    generated: trajectory_store_pb2.DatasetInfo = await _call(
        "trajectory-store", suite.store.GenerateSynthetic(request)
    )
    return generated


async def describe_tools(cfg: RunConfig, suite: Suite, dataset: str) -> str:
    """Fit the tool model to the dataset when asked; the one-line summary goes into the report."""
    if cfg.tool_model == "fitted" or (cfg.tool_model == "cpu" and cfg.tool_cpu_target == "fitted"):
        request = toolsim_pb2.FitRequest(dataset=dataset)
        report: toolsim_pb2.ToolModelReport = await _call("toolsim", suite.toolsim.FitFromDataset(request))
    else:
        report = await _call("toolsim", suite.toolsim.DescribeModel(toolsim_pb2.DescribeModelRequest()))
    return report.summary


def _progress(cfg: RunConfig, level: int, event: loadgen_pb2.LevelEvent) -> None:
    if cfg.quiet or event.kind == loadgen_pb2.LEVEL_EVENT_KIND_PROGRESS:
        return
    kind = loadgen_pb2.LevelEventKind.Name(event.kind).removeprefix("LEVEL_EVENT_KIND_").lower()
    line = (
        f"  level {level:>4}: {kind:<13} t={event.elapsed_s:6.1f}s requests={event.requests_sent:<6} "
        f"in-flight={event.agents_in_flight:<4} failed={event.failed:<4} delivered={event.records_delivered}"
    )
    if event.message:
        line += f"  ({event.message})"
    print(line, file=sys.stderr, flush=True)


def _verdict_name(value: int) -> str:
    return common_pb2.Verdict.Name(value).removeprefix("VERDICT_").lower()


def _fmt_s(value: float) -> str:
    return "inf" if value == float("inf") else f"{value:.3g}"


def _live_line(level: int, elapsed_s: float, preview: common_pb2.LevelVerdict) -> str:
    """One progress line from a preview: the window so far, per tier P95 TTFT, P25 speed, verdict."""
    tiers = "  ".join(
        f"{tv.tier.name} p95={_fmt_s(tv.p95_ttft_s)}s p25={tv.p25_output_speed:.0f}tok/s {_verdict_name(tv.verdict)}"
        if tv.ttft_samples
        else f"{tv.tier.name} -"
        for tv in preview.tiers
    )
    return f"  level {level:>4}: window t={elapsed_s:5.1f}s judged={preview.records_window:<5} {tiers}"


async def judge_level(
    cfg: RunConfig, suite: Suite, search: ConcurrencySearch, *, run_id: str, dataset: str, level: int
) -> LevelSummary:
    """Measure ``level`` until every tier the search needs from it is decided, or the window's cap.

    The window is extended, not measured again: once it reached its minimum the load generator
    holds it open, and the conductor checks the judge's preview at checkpoints (the minimum
    length, then twice and four times it, up to ``max_extensions`` doublings). It closes the
    window (``StopLevel``) at the first checkpoint where every tier the search still needs here
    (``search.open_at``) is PASS or FAIL, or at once when they have all clearly failed.
    """
    outcome = await measure_level(cfg, suite, run_id, dataset, level, open_tiers=search.open_at(level))
    return _level_summary(outcome, cfg.gpus)


@dataclass
class LevelOutcome:
    verdict: common_pb2.LevelVerdict
    power: common_pb2.PowerWindow | None
    done: loadgen_pb2.LevelEvent  # the load generator's last word: counts and its self-check
    requests_sent: int
    window_s: float
    elapsed_s: float
    started_unix_s: float = 0.0
    window_start_unix_s: float = 0.0
    window_end_unix_s: float = 0.0
    stopped_early: bool = False
    extensions: int = 0


def _evaluate_request(cfg: RunConfig, run_id: str, level: int, **extra: Any) -> judge_pb2.EvaluateRequest:
    tiers = [
        common_pb2.SloTier(name=t.name, min_output_speed=t.min_output_speed, max_ttft_s=t.max_ttft_s)
        for t in cfg.tiers
    ]
    return judge_pb2.EvaluateRequest(
        run_id=run_id, level=level, tiers=tiers, confidence=cfg.confidence, **extra
    )


_AGENT_START = {
    "random_turn": loadgen_pb2.AGENT_START_RANDOM_TURN,
    "beginning": loadgen_pb2.AGENT_START_BEGINNING,
}


def hold_cap_s(cfg: RunConfig) -> float:
    """How long the load generator may hold a window past its minimum: room for every doubling.

    The conductor closes it earlier; the cap only matters if the conductor goes away.
    """
    if cfg.max_extensions == 0:
        return 0.0
    doublings: float = 2**cfg.max_extensions - 1
    return cfg.max_window_s * doublings + 4 * cfg.progress_interval_s


class _Watch:
    """Looks at the judge's preview while a window is open: live progress, early stop, extension."""

    def __init__(self, cfg: RunConfig, suite: Suite, run_id: str, level: int, open_tiers: list[str]) -> None:
        self.cfg, self.suite, self.run_id, self.level = cfg, suite, run_id, level
        self.open_tiers = set(open_tiers)
        self.stopped_early = False
        self.extensions = 0
        self._task: asyncio.Task[None] | None = None
        self._opened = 0.0
        self._hold_at: float | None = None  # when the window reached its minimum
        self._base_s = 0.0  # the window's length then
        self._next_check = 0.0
        self._wake = asyncio.Event()

    def start(self) -> None:
        if self._task is None:
            self._opened = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._loop())

    def hold(self) -> None:
        """The load generator holds the window for us: the first checkpoint is now."""
        now = time.monotonic()
        self._hold_at, self._base_s, self._next_check = now, max(now - self._opened, 1e-3), now
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.cfg.progress_interval_s)
            self._wake.clear()
            try:
                preview = await self.suite.judge.Evaluate(
                    _evaluate_request(self.cfg, self.run_id, self.level, preview=True)
                )
            except grpc.aio.AioRpcError as exc:
                log.debug("level %d: preview failed: %s", self.level, exc.details())
                continue
            if not self.cfg.quiet:
                print(
                    _live_line(self.level, time.monotonic() - self._opened, preview),
                    file=sys.stderr,
                    flush=True,
                )
            needed = [tv for tv in preview.tiers if tv.tier.name in self.open_tiers]
            if self.cfg.early_stop and needed and all(tv.verdict == common_pb2.VERDICT_FAIL for tv in needed):
                self.stopped_early = True
                await self._close("every tier the search needs at this level has clearly failed")
                return
            if self._hold_at is None or time.monotonic() < self._next_check:
                continue
            decided = (common_pb2.VERDICT_PASS, common_pb2.VERDICT_FAIL)
            if all(tv.verdict in decided for tv in needed):
                await self._close("every tier the search needs at this level is decided")
                return
            if self.extensions >= self.cfg.max_extensions:
                await self._close(f"still undecided after {self.extensions} extension(s): the limit")
                return
            self.extensions += 1
            self._next_check = self._hold_at + self._base_s * (2**self.extensions - 1)
            if not self.cfg.quiet:
                unsure = ", ".join(tv.tier.name for tv in needed if tv.verdict not in decided)
                print(
                    f"  level {self.level:>4}: {unsure} undecided: window extended to "
                    f"{self._base_s * 2**self.extensions:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )

    async def _close(self, reason: str) -> None:
        request = loadgen_pb2.StopLevelRequest(run_id=self.run_id, level=self.level, reason=reason)
        await _call("loadgen", self.suite.loadgen.StopLevel(request))
        if not self.cfg.quiet:
            print(f"  level {self.level:>4}: window closed: {reason}", file=sys.stderr, flush=True)


async def measure_level(
    cfg: RunConfig,
    suite: Suite,
    run_id: str,
    dataset: str,
    level: int,
    *,
    open_tiers: list[str] | None = None,
) -> LevelOutcome:
    """One level: warm-up, window (bracketed by the power collector), verdicts for all tiers.

    ``open_tiers`` are the tiers whose verdict decides when the window closes (``_Watch``).
    """
    started, started_unix = time.monotonic(), time.time()
    request = loadgen_pb2.RunLevelRequest(
        run_id=run_id,
        level=level,
        dataset=dataset,
        window_s=cfg.window_s,
        warmup_timeout_s=cfg.warmup_timeout_s,
        seed=cfg.seed,
        shard_index=0,
        shard_count=1,
        min_window_requests=cfg.min_window_requests,
        max_window_s=cfg.max_window_s,
        hold_s=hold_cap_s(cfg) if open_tiers else 0.0,
        agent_start=_AGENT_START[cfg.agent_start],
    )
    window_id = f"{run_id}/{level}"
    power: common_pb2.PowerWindow | None = None
    window_opened = window_closed = 0.0
    window_open_unix = window_close_unix = 0.0
    done: loadgen_pb2.LevelEvent | None = None
    watch = _Watch(cfg, suite, run_id, level, open_tiers or [])
    try:
        async for event in suite.loadgen.RunLevel(request):
            _progress(cfg, level, event)
            if event.kind == loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_OPEN:
                window_opened, window_open_unix = time.monotonic(), time.time()
                await _call(
                    "power-collector",
                    suite.power.BeginWindow(power_pb2.BeginWindowRequest(window_id=window_id)),
                )
                watch.start()
            elif event.kind == loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_HOLD:
                watch.hold()
            elif event.kind == loadgen_pb2.LEVEL_EVENT_KIND_WINDOW_CLOSED:
                window_closed, window_close_unix = time.monotonic(), time.time()
                await watch.stop()
                power = await _call(
                    "power-collector", suite.power.EndWindow(power_pb2.EndWindowRequest(window_id=window_id))
                )
            elif event.kind == loadgen_pb2.LEVEL_EVENT_KIND_DONE:
                done = event
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc, "loadgen") from exc
    finally:
        await watch.stop()
    if done is None:
        raise AgentperfError(f"loadgen ended level {level} without a DONE event")
    if done.records_delivered != done.requests_sent:
        log.warning(
            "level %d: %d requests sent, %d records delivered",
            level,
            done.requests_sent,
            done.records_delivered,
        )
    window_s = window_closed - window_opened if window_closed > window_opened else 0.0
    evaluate = _evaluate_request(
        cfg, run_id, level, expect_records=done.requests_sent, wait_timeout_s=30.0, window_s=window_s
    )
    verdict = await call_judge(lambda: suite.judge.Evaluate(evaluate))
    if not verdict.complete:
        log.warning("level %d judged before all %d records arrived", level, done.requests_sent)
    return LevelOutcome(
        verdict,
        power,
        done,
        done.requests_sent,
        window_s,
        time.monotonic() - started,
        started_unix,
        window_open_unix,
        window_close_unix,
        watch.stopped_early,
        watch.extensions,
    )


def _level_summary(outcome: LevelOutcome, gpus_override: int | None) -> LevelSummary:
    v = outcome.verdict
    power = outcome.power
    gpus = gpus_override or (len(power.gpus) if power is not None else 0)
    return LevelSummary(
        level=v.level,
        verdicts={
            tv.tier.name: {
                "verdict": _verdict_name(tv.verdict),
                "p95_ttft_s": tv.p95_ttft_s,
                "p25_output_speed": tv.p25_output_speed,
                "ttft_samples": tv.ttft_samples,
                "speed_samples": tv.speed_samples,
                "reason": tv.reason,
                "p95_ttft_low_s": tv.p95_ttft_low_s,
                "p95_ttft_high_s": tv.p95_ttft_high_s,
                "p25_speed_low": tv.p25_speed_low,
                "p25_speed_high": tv.p25_speed_high,
                "confidence": tv.confidence,
            }
            for tv in v.tiers
        },
        requests_sent=outcome.requests_sent,
        records_total=v.records_total,
        records_window=v.records_window,
        failed=v.failed,
        censored=v.censored,
        complete=v.complete,
        run_id=v.run_id,
        output_tokens_per_s=v.output_tokens_per_s,
        window_s=outcome.window_s,
        power_w=power.total_mean_power_w if power is not None and power.gpus else None,
        gpus=gpus,
        power_simulated=bool(power is not None and power.simulated),
        elapsed_s=outcome.elapsed_s,
        valid=outcome.done.valid,
        invalid_reason=outcome.done.invalid_reason,
        client=_client_figures(outcome.done),
        extensions=outcome.extensions,
        stopped_early=outcome.stopped_early,
        window_start_unix_s=outcome.window_start_unix_s,
        window_end_unix_s=outcome.window_end_unix_s,
        started_unix_s=outcome.started_unix_s,
        gpu_seconds=outcome.elapsed_s * max(1, gpus),
    )


def _client_figures(done: loadgen_pb2.LevelEvent) -> dict[str, float]:
    return {
        "loop_lag_p99_s": done.loop_lag_p99_s,
        "cpu_fraction": done.cpu_fraction,
        "agents_active_mean": done.agents_active_mean,
        "workers": done.workers,
        "prompt_token_samples": done.prompt_token_samples,
        "prompt_token_error_mean": done.prompt_token_error_mean,
        "prompt_token_error_max": done.prompt_token_error_max,
    }


def summarise_tiers(
    cfg: RunConfig, search: ConcurrencySearch, levels: dict[int, LevelSummary], gpus: int
) -> list[TierSummary]:
    out = []
    by_name = {t.name: t for t in cfg.tiers}
    for result in search.results():
        tier = by_name[result.tier]
        at = levels.get(result.max_level)
        stats = at.verdicts.get(result.tier, {}) if at else {}
        power_w = at.power_w if at else None
        out.append(
            TierSummary(
                tier=result.tier,
                min_output_speed=tier.min_output_speed,
                max_ttft_s=tier.max_ttft_s,
                max_agents=result.max_level,
                lowest_failing=result.lowest_failing,
                converged=result.converged,
                non_monotone=result.non_monotone,
                client_limited=result.client_limited,
                agents_per_gpu=result.max_level / gpus if gpus else None,
                agents_per_mw=result.max_level / (power_w / 1e6) if power_w else None,
                p95_ttft_s=stats.get("p95_ttft_s"),
                p25_output_speed=stats.get("p25_output_speed"),
                power_w=power_w,
                inconclusive=result.inconclusive,
            )
        )
    return out


def tier_margin(verdict: Mapping[str, Any], tier: TierConfig) -> float:
    """How far a level sits inside (> 0) or outside (< 0) a tier's bounds, in log ratio.

    The smaller of log(max_ttft / P95 TTFT) and log(P25 speed / min speed); -inf when either
    percentile is unbounded (more violations than the percentile allows).
    """
    p95, p25 = verdict.get("p95_ttft_s"), verdict.get("p25_output_speed")
    if p95 is None or p25 is None or not (0 < p95 < math.inf) or not p25 > 0:
        return -math.inf
    return min(math.log(tier.max_ttft_s / p95), math.log(p25 / tier.min_output_speed))


def record_verdicts(
    search: ConcurrencySearch,
    level: int,
    verdicts: Mapping[str, Mapping[str, Any]],
    tiers: Sequence[TierConfig],
) -> None:
    """Feed a judged level to the search.

    A tier still inconclusive (or short of samples) after every attempt counts as not passing
    where the search needed it; where it did not, the answer it already has is implied.
    """
    passed: dict[str, bool] = {}
    unsure: list[str] = []
    open_tiers = set(search.open_at(level))
    for name, v in verdicts.items():
        if v["verdict"] in ("pass", "fail"):
            passed[name] = v["verdict"] == "pass"
        elif name in open_tiers:
            passed[name] = False
            unsure.append(name)
        else:
            passed[name] = level <= search.answer(name)
    margins = {t.name: tier_margin(verdicts[t.name], t) for t in tiers if t.name in verdicts}
    search.record(level, passed, unsure, margins)


def _tier_answers(tiers: list[TierSummary]) -> list[judge_pb2.TierAnswer]:
    return [
        judge_pb2.TierAnswer(
            tier=common_pb2.SloTier(
                name=t.tier, min_output_speed=t.min_output_speed, max_ttft_s=t.max_ttft_s
            ),
            max_agents=t.max_agents,
            lowest_failing=t.lowest_failing or 0,
            converged=t.converged,
            inconclusive=t.inconclusive,
            client_limited=t.client_limited,
            non_monotone=t.non_monotone,
            agents_per_gpu=t.agents_per_gpu or 0.0,
            agents_per_mw=t.agents_per_mw or 0.0,
            p95_ttft_s=t.p95_ttft_s if t.p95_ttft_s is not None else 0.0,
            p25_output_speed=t.p25_output_speed or 0.0,
        )
        for t in tiers
    ]


def gate_outcome(cfg: RunConfig, report: RunReport, phase: str) -> dict[str, Any]:
    """The gate's outcome for the report (the same rules the judge's verdict API applies)."""
    figures = {
        t.tier: TierFigures(t.max_agents, t.agents_per_gpu, t.agents_per_mw, t.converged)
        for t in report.tiers
    }
    outcome = evaluate_gate(phase, figures, cfg.gate_rules())
    return {"status": str(outcome.status), "rules": list(cfg.gate), "reasons": outcome.reasons}


async def _put_run(
    cfg: RunConfig, suite: Suite, report: RunReport, phase: int, *, level: int = 0, message: str = ""
) -> None:
    """Tell the judge where the run stands (its verdict API serves gates); never fails the run."""
    state = judge_pb2.RunState(
        run_id=report.run_id,
        phase=phase,  # type: ignore[arg-type]
        tiers=_tier_answers(report.tiers),
        gate=[
            judge_pb2.GateRule(
                tier=r.tier,
                min_agents=r.min_agents,
                min_agents_per_gpu=r.min_agents_per_gpu,
                min_agents_per_mw=r.min_agents_per_mw,
            )
            for r in cfg.gate_rules()
        ],
        gpus=report.gpus,
        gpu_seconds=report.gpu_seconds,
        started_unix_s=report.started_unix_s,
        message=message,
        levels_measured=len(report.levels),
        current_level=level,
        report_path=str(cfg.out_dir / report.run_id),
        target=report.target,
        dataset=str(report.dataset.get("name") or ""),
    )
    try:
        await call_judge(lambda: suite.judge.PutRun(state), retry_s=10.0)
    except AgentperfError as exc:
        log.warning("could not record the run's state with the judge: %s", exc)


def _refresh(
    cfg: RunConfig,
    report: RunReport,
    search: ConcurrencySearch,
    levels: dict[int, LevelSummary],
    phase: str = "running",
) -> None:
    """Bring the report's answer up to date: GPUs, tiers, cost and the gate's outcome."""
    report.gpus = cfg.gpus or max((lvl.gpus for lvl in report.levels), default=0)
    report.tiers = summarise_tiers(cfg, search, levels, report.gpus)
    report.gpu_seconds = sum(lvl.gpu_seconds for lvl in report.levels)
    report.gate = gate_outcome(cfg, report, phase)


_PHASES = {
    "finished": judge_pb2.RUN_PHASE_FINISHED,
    "interrupted": judge_pb2.RUN_PHASE_INTERRUPTED,
    "error": judge_pb2.RUN_PHASE_ERROR,
}


async def _measure_all(
    cfg: RunConfig,
    suite: Suite,
    report: RunReport,
    search: ConcurrencySearch,
    *,
    levels: dict[int, LevelSummary],
    run_dir: Path,
) -> None:
    """Load the dataset, then measure the levels the search asks for until it has its answers."""
    run_id = report.run_id
    if cfg.target_url is None:
        report.target = f"built-in simulator ({cfg.sim_profile}) at {suite.target_url}"
    if suite.judge_http_url and not cfg.quiet:
        print(f"judge verdict API: {suite.judge_http_url}/api/v1/runs/{run_id}/verdict", file=sys.stderr)
    info = await load_dataset(cfg, suite)
    report.tool_model = await describe_tools(cfg, suite, info.name)
    report.dataset = {
        "name": info.name,
        "trajectories": info.trajectories,
        "turns": info.turns,
        "source": info.source,
    }
    await _put_run(cfg, suite, report, judge_pb2.RUN_PHASE_RUNNING)
    while (level := search.next_level()) is not None:
        if not cfg.quiet:
            print(f"measuring {level} concurrent agents", file=sys.stderr, flush=True)
        await _put_run(cfg, suite, report, judge_pb2.RUN_PHASE_RUNNING, level=level)
        summary = await judge_level(cfg, suite, search, run_id=run_id, dataset=info.name, level=level)
        levels[level] = summary
        report.levels.append(summary)
        if not summary.valid:
            # The client was the bottleneck: neither a pass nor a fail, and nothing at or
            # above this level can be measured with this load generator.
            search.mark_invalid(level)
            if not cfg.quiet:
                print(f"  level {level:>4}: invalid ({summary.invalid_reason})", file=sys.stderr)
        else:
            record_verdicts(search, level, summary.verdicts, cfg.tiers)
            if not cfg.quiet:
                verdicts = ", ".join(f"{n}={v['verdict']}" for n, v in summary.verdicts.items())
                print(f"  level {level:>4}: {verdicts}", file=sys.stderr, flush=True)
        _refresh(cfg, report, search, levels)
        write_json(report, run_dir / "result.json")


async def run(cfg: RunConfig) -> RunReport:
    """Run the whole benchmark; returns the report (also written to ``<out_dir>/<run_id>/result.json``)."""
    run_id = cfg.run_id or time.strftime("r%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    run_dir = cfg.out_dir / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    _write_config(run_dir, "run", cfg.model_dump(mode="json"))
    started = time.time()
    search = ConcurrencySearch([t.name for t in cfg.tiers], cfg.search)
    levels: dict[int, LevelSummary] = {}
    report = RunReport(
        run_id=run_id,
        started_unix_s=started,
        finished_unix_s=started,
        target=cfg.target_url or "built-in simulator",
        target_kind="external" if cfg.target_url else "simulator",
        model=cfg.model,
        dataset={},
        tool_model=cfg.tool_model,
        seed=cfg.seed,
        gpus=cfg.gpus or 0,
        config=cfg.model_dump(mode="json"),
        versions={
            "agentperf": agentperf.__version__,
            "python": sys.version.split()[0],
            "grpcio": grpc.__version__,
        },
        confidence=cfg.confidence,
    )
    phase = "error"
    try:
        async with start_suite(cfg, run_dir) as suite:
            try:
                await _measure_all(cfg, suite, report, search, levels=levels, run_dir=run_dir)
                phase = "finished"
            except asyncio.CancelledError:
                phase = "interrupted"
                raise
            except AgentperfError as exc:
                report.error = str(exc)
                raise
            finally:
                # Still inside the suite: the judge records the final state for gates before it stops.
                _refresh(cfg, report, search, levels, phase)
                await _put_run(cfg, suite, report, _PHASES[phase], message=report.error)
    except asyncio.CancelledError:
        report.interrupted = True
    finally:
        _refresh(cfg, report, search, levels, phase)
        report.finished_unix_s = time.time()
        write_json(report, run_dir / "result.json")
        write_html(report.to_dict(), run_dir / "report.html")
    return report


def print_result(report: RunReport, run_dir: Path) -> None:
    print(render_table(report))
    if report.gate.get("rules"):
        print(f"\ngate: {report.gate['status']}")
        for reason in report.gate.get("reasons", []):
            print(f"  {reason}")
    print(f"\nresult: {run_dir / 'result.json'}\nreport: {run_dir / 'report.html'}")
