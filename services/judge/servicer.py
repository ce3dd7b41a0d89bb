"""gRPC face of the judge: protobuf <-> core objects, metrics, and the Service object.

Ingest is batched: a stream's records are validated as they arrive and committed every
``ingest_batch`` records and at the stream's end (:mod:`.store`); the IngestSummary is sent
only after the last commit, so an acknowledged record is a durable one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import grpc
from prometheus_client import Counter, Gauge

from agentperf.errors import InputError, LimitExceededError, NotFoundError
from agentperf.gate import GateStatus
from agentperf.runtime.grpc_errors import grpc_method
from agentperf.services.judge import core, stats
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.http import HttpServer, gate_outcome
from agentperf.services.judge.store import BatchOutcome, JudgeDB, JudgeStore
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

log = logging.getLogger(__name__)

RECORDS_INGESTED = Counter(
    "agentperf_judge_records_ingested", "New records held by the judge, by request status.", ["status"]
)
RECORDS_DUPLICATE = Counter(
    "agentperf_judge_records_duplicate", "Records ignored because their record_id was already held."
)
RECORDS_REJECTED = Counter(
    "agentperf_judge_records_rejected",
    "Malformed records refused with INVALID_ARGUMENT, by field.",
    ["field"],
)
EVALUATIONS = Counter(
    "agentperf_judge_tier_evaluations",
    "Tier verdicts given by non-preview Evaluate, by verdict.",
    ["verdict"],
)
VERDICTS = Counter(
    "agentperf_judge_verdicts",
    "Tier verdicts given by non-preview Evaluate, by tier and verdict.",
    ["tier", "verdict"],
)
RUN_MAX_AGENTS = Gauge(
    "agentperf_run_max_agents",
    "Highest passing concurrency of a run's tier so far (PutRun).",
    ["run_id", "tier"],
)
RUN_GATE_PASS = Gauge(
    "agentperf_run_gate_pass",
    "Gate of a run under its stored rules: 1 pass, 0 fail, -1 pending or error (PutRun).",
    ["run_id"],
)
RUN_GPU_SECONDS = Gauge(
    "agentperf_run_gpu_seconds", "GPU-seconds a run has spent measuring (PutRun).", ["run_id"]
)
LEVEL_P95_TTFT = Gauge(
    "agentperf_level_p95_ttft_seconds",
    "P95 time to first token of a level's latest evaluation (preview included); NaN without samples.",
    ["run_id", "level", "tier"],
)
LEVEL_P25_SPEED = Gauge(
    "agentperf_level_p25_output_speed",
    "P25 output speed (tokens/s) of a level's latest evaluation (preview included); NaN without samples.",
    ["run_id", "level", "tier"],
)

_STATUSES = {int(s) for s in core.Status}
_GATE_VALUES = {GateStatus.PASS: 1.0, GateStatus.FAIL: 0.0}


def record_from_proto(msg: common_pb2.RequestRecord) -> core.Record:
    status = core.Status(msg.status) if msg.status in _STATUSES else core.Status.UNSPECIFIED
    return core.Record(
        record_id=msg.record_id,
        run_id=msg.run_id,
        level=msg.level,
        status=status,
        in_window=msg.in_window,
        send_unix_s=msg.send_unix_s,
        has_first_token=msg.has_first_token,
        ttft_s=msg.ttft_s,
        ttfa_s=msg.ttfa_s,
        first_to_last_s=msg.first_to_last_s,
        output_tokens=msg.output_tokens,
        first_chunk_tokens=msg.first_chunk_tokens,
        waited_s=msg.waited_s,
        shard=msg.shard,
    )


def tier_from_proto(msg: common_pb2.SloTier) -> core.Tier:
    return core.Tier(msg.name, msg.min_output_speed, msg.max_ttft_s)


def tier_to_proto(tier: core.Tier) -> common_pb2.SloTier:
    return common_pb2.SloTier(
        name=tier.name, min_output_speed=tier.min_output_speed, max_ttft_s=tier.max_ttft_s
    )


def tier_verdict_to_proto(t: core.TierResult) -> common_pb2.TierVerdict:
    return common_pb2.TierVerdict(
        tier=tier_to_proto(t.tier),
        verdict=int(t.verdict),  # type: ignore[arg-type]
        p95_ttft_s=t.p95_ttft_s,
        p25_output_speed=t.p25_output_speed,
        ttft_samples=t.ttft_samples,
        speed_samples=t.speed_samples,
        reason=t.reason,
        p95_ttft_low_s=t.p95_ttft_low_s,
        p95_ttft_high_s=t.p95_ttft_high_s,
        p25_speed_low=t.p25_speed_low,
        p25_speed_high=t.p25_speed_high,
        confidence=t.confidence,
    )


def level_to_proto(result: core.LevelResult) -> common_pb2.LevelVerdict:
    return common_pb2.LevelVerdict(
        run_id=result.run_id,
        level=result.level,
        tiers=[tier_verdict_to_proto(t) for t in result.tiers],
        records_total=result.records_total,
        records_window=result.records_window,
        failed=result.failed,
        censored=result.censored,
        output_tokens_per_s=result.output_tokens_per_s,
    )


def rules_from(config: JudgeConfig) -> core.Rules:
    return core.Rules(
        min_samples=config.min_samples,
        min_speed_tokens=config.min_speed_tokens,
        confidence=config.confidence,
        relative_accuracy=config.relative_accuracy,
    )


def count_batch(outcome: BatchOutcome) -> None:
    """Metrics of one committed batch."""
    for status, n in outcome.accepted_by_status.items():
        RECORDS_INGESTED.labels(status).inc(n)
    if outcome.duplicates:
        RECORDS_DUPLICATE.inc(outcome.duplicates)


def set_run_metrics(state: judge_pb2.RunState) -> None:
    for answer in state.tiers:
        RUN_MAX_AGENTS.labels(state.run_id, answer.tier.name).set(answer.max_agents)
    RUN_GPU_SECONDS.labels(state.run_id).set(state.gpu_seconds)
    RUN_GATE_PASS.labels(state.run_id).set(_GATE_VALUES.get(gate_outcome(state).status, -1.0))


def set_level_metrics(verdict: common_pb2.LevelVerdict) -> None:
    for t in verdict.tiers:
        labels = (verdict.run_id, str(verdict.level), t.tier.name)
        LEVEL_P95_TTFT.labels(*labels).set(t.p95_ttft_s if t.ttft_samples else math.nan)
        LEVEL_P25_SPEED.labels(*labels).set(t.p25_output_speed if t.speed_samples else math.nan)


def _check_finite(value: float, *, source: str, field: str) -> None:
    if not math.isfinite(value) or value < 0:
        raise InputError(f"must be a finite number >= 0, got {value}", source=source, field=field)


def check_run_state(state: judge_pb2.RunState) -> None:
    """Raise InputError naming the first invalid field of a PutRun request."""
    src = "RunState"
    if not state.run_id.strip():
        raise InputError("must not be empty", source=src, field="run_id")
    if state.phase not in (
        judge_pb2.RUN_PHASE_RUNNING,
        judge_pb2.RUN_PHASE_FINISHED,
        judge_pb2.RUN_PHASE_INTERRUPTED,
        judge_pb2.RUN_PHASE_ERROR,
    ):
        raise InputError(
            f"must be RUNNING, FINISHED, INTERRUPTED or ERROR, got {state.phase}", source=src, field="phase"
        )
    seen: set[str] = set()
    for i, answer in enumerate(state.tiers):
        name = answer.tier.name
        if not name.strip() or name in seen:
            what = "must not be empty" if not name.strip() else f"repeats tier {name!r}"
            raise InputError(what, source=src, field=f"tiers[{i}].tier.name")
        seen.add(name)
    for i, rule in enumerate(state.gate):
        if not rule.tier.strip():
            raise InputError("must name a tier", source=src, field=f"gate[{i}].tier")
        if rule.min_agents < 0:
            raise InputError(
                f"must be >= 0, got {rule.min_agents}", source=src, field=f"gate[{i}].min_agents"
            )
        for name in ("min_agents_per_gpu", "min_agents_per_mw"):
            _check_finite(getattr(rule, name), source=src, field=f"gate[{i}].{name}")
    _check_finite(state.gpu_seconds, source=src, field="gpu_seconds")


class JudgeServicer(judge_pb2_grpc.JudgeServicer):
    """IngestRecords, Evaluate, GetRunStats, PutRun and GetRun over one :class:`JudgeStore`."""

    def __init__(self, config: JudgeConfig, store: JudgeStore) -> None:
        self._config = config
        self._store = store
        self._rules = rules_from(config)
        self._tiers = tuple(core.Tier(t.name, t.min_output_speed, t.max_ttft_s) for t in config.tiers)

    @grpc_method
    async def IngestRecords(  # noqa: N802 -- gRPC method name
        self, request_iterator: AsyncIterator[common_pb2.RequestRecord], context: grpc.aio.ServicerContext
    ) -> judge_pb2.IngestSummary:
        accepted = duplicates = position = 0
        batch: list[core.Record] = []
        async for msg in request_iterator:
            position += 1
            record = record_from_proto(msg)
            problem = core.record_problem(record)
            if problem is not None:
                # What came before the malformed record is committed, so the message's count holds.
                await self._store.ingest(batch)
                field, what = problem
                RECORDS_REJECTED.labels(field).inc()
                raise InputError(
                    f"{what} (record_id {record.record_id!r}); the {position - 1} records "
                    "before it in this stream were kept",
                    source="IngestRecords stream record",
                    line=position,
                    field=field,
                )
            batch.append(record)
            if len(batch) >= self._config.ingest_batch:
                outcome = await self._store.ingest(batch)
                accepted, duplicates = accepted + outcome.accepted, duplicates + outcome.duplicates
                batch = []
        if batch:
            outcome = await self._store.ingest(batch)
            accepted, duplicates = accepted + outcome.accepted, duplicates + outcome.duplicates
        return judge_pb2.IngestSummary(accepted=accepted, duplicates=duplicates)

    @grpc_method
    async def Evaluate(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.LevelVerdict:
        self._check_evaluate(request)
        tiers = tuple(tier_from_proto(t) for t in request.tiers) or self._tiers
        core.validate_tiers(tiers, source="EvaluateRequest")
        run_ids = list(dict.fromkeys([request.run_id, *request.merge_run_ids]))
        note = ""
        if request.expect_records > 0 and not request.preview:
            timeout = request.wait_timeout_s or self._config.default_wait_timeout_s
            outcome = await self._store.wait_for(
                request.run_id, request.level, request.expect_records, timeout
            )
            if not outcome.complete:
                note = (
                    f"incomplete: {outcome.held} of {request.expect_records} expected records "
                    f"after waiting {timeout:g} s"
                )
        agg, shards = await self._store.merged(run_ids, request.level)
        rules = replace(self._rules, confidence=request.confidence or self._config.confidence)
        result = stats.evaluate_aggregate(
            request.run_id, request.level, agg, tiers, rules, window_s=request.window_s, note=note
        )
        verdict = level_to_proto(result)
        verdict.complete = self._store.count(request.run_id, request.level) >= request.expect_records
        verdict.expected_records = request.expect_records
        verdict.shards = shards
        verdict.preview = request.preview
        verdict.run_ids.extend(run_ids)
        set_level_metrics(verdict)
        if not request.preview:
            await self._store.add_verdict(verdict, time.time())
            for tier in result.tiers:
                EVALUATIONS.labels(tier.verdict.name).inc()
                VERDICTS.labels(tier.tier.name, tier.verdict.name).inc()
        return verdict

    def _check_evaluate(self, request: judge_pb2.EvaluateRequest) -> None:
        src = "EvaluateRequest"
        if not request.run_id.strip():
            raise InputError("must not be empty", source=src, field="run_id")
        if request.level <= 0:
            raise InputError(f"must be > 0, got {request.level}", source=src, field="level")
        if request.expect_records < 0:
            raise InputError(
                f"must be >= 0, got {request.expect_records}", source=src, field="expect_records"
            )
        for field in ("wait_timeout_s", "window_s"):
            _check_finite(getattr(request, field), source=src, field=field)
        if request.wait_timeout_s > self._config.max_wait_timeout_s:
            raise LimitExceededError(
                f"{src}: wait_timeout_s {request.wait_timeout_s:g} exceeds max_wait_timeout_s "
                f"{self._config.max_wait_timeout_s:g}"
            )
        confidence = request.confidence
        if confidence != 0 and not 0.5 < confidence < 1:
            raise InputError(
                f"must be 0 (the judge's default) or in (0.5, 1), got {confidence}",
                source=src,
                field="confidence",
            )
        for i, run_id in enumerate(request.merge_run_ids):
            if not run_id.strip():
                raise InputError("must not be empty", source=src, field=f"merge_run_ids[{i}]")

    @grpc_method
    async def GetRunStats(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.GetRunStatsRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.RunStats:
        if not request.run_id.strip():
            raise InputError("must not be empty", source="GetRunStatsRequest", field="run_id")
        counts = self._store.level_counts(request.run_id)
        return judge_pb2.RunStats(
            run_id=request.run_id,
            records=sum(counts.values()),
            levels=[judge_pb2.LevelCount(level=level, records=n) for level, n in counts.items()],
        )

    @grpc_method
    async def PutRun(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.RunState, context: grpc.aio.ServicerContext
    ) -> judge_pb2.PutRunResponse:
        check_run_state(request)
        state = judge_pb2.RunState()
        state.CopyFrom(request)
        state.updated_unix_s = time.time()
        await self._store.put_run(state)
        set_run_metrics(state)
        return judge_pb2.PutRunResponse()

    @grpc_method
    async def GetRun(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.GetRunRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.RunState:
        if not request.run_id.strip():
            raise InputError("must not be empty", source="GetRunRequest", field="run_id")
        state = await self._store.get_run(request.run_id)
        if state is None:
            raise NotFoundError(
                f"run {request.run_id!r} is not known to the judge (never reported with PutRun)"
            )
        return state


class JudgeService:
    """The judge as the bootstrap sees it (see agentperf.runtime.server.Service).

    ``start`` opens the database (loading every aggregate) and the HTTP gate API; ``stop``
    closes both. Nothing needs flushing: every acknowledged batch was committed already.
    """

    def __init__(self, config: JudgeConfig, db: JudgeDB | None = None) -> None:
        self.config = config
        self.store = JudgeStore(
            db if db is not None else JudgeDB(config.db_path, rules_from(config)), count_batch
        )
        self._http = HttpServer(self.store)

    @property
    def http_port(self) -> int:
        """The bound HTTP port once started; -1 when disabled or not started."""
        return self._http.port

    def ready_fields(self) -> dict[str, int]:
        """Extra ports for the ready line (for a bootstrap that reports them)."""
        return {"http_port": self.http_port}

    def register(self, server: grpc.aio.Server) -> list[str]:
        judge_pb2_grpc.add_JudgeServicer_to_server(JudgeServicer(self.config, self.store), server)
        return [judge_pb2.DESCRIPTOR.services_by_name["Judge"].full_name]

    async def start(self) -> None:
        await self.store.open()
        try:
            for state in await self.store.runs():
                set_run_metrics(state)
            if self.config.http_port >= 0:
                host = self.config.http_host or self.config.host
                port = await self._http.start(host, self.config.http_port)
                log.info("judge HTTP gate API on %s:%d, database %s", host, port, self.config.db_path)
        except BaseException:
            await self.store.close()
            raise

    async def stop(self) -> None:
        await self._http.stop()
        await self.store.close()
