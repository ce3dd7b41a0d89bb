"""gRPC face of the judge: protobuf <-> core objects, metrics, and the Service object."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import grpc
from prometheus_client import Counter

from agentperf.errors import InputError, LimitExceededError
from agentperf.runtime.grpc_errors import grpc_method
from agentperf.services.judge import core
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.store import MemoryRecordStore, RecordLedger, RecordStore
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

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
    "agentperf_judge_tier_evaluations", "Tier verdicts given by Evaluate, by verdict.", ["verdict"]
)

_STATUSES = {int(s) for s in core.Status}


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
    )


def tier_from_proto(msg: common_pb2.SloTier) -> core.Tier:
    return core.Tier(msg.name, msg.min_output_speed, msg.max_ttft_s)


def tier_to_proto(tier: core.Tier) -> common_pb2.SloTier:
    return common_pb2.SloTier(
        name=tier.name, min_output_speed=tier.min_output_speed, max_ttft_s=tier.max_ttft_s
    )


def level_to_proto(result: core.LevelResult) -> common_pb2.LevelVerdict:
    return common_pb2.LevelVerdict(
        run_id=result.run_id,
        level=result.level,
        tiers=[
            common_pb2.TierVerdict(
                tier=tier_to_proto(t.tier),
                verdict=int(t.verdict),  # type: ignore[arg-type]
                p95_ttft_s=t.p95_ttft_s,
                p25_output_speed=t.p25_output_speed,
                ttft_samples=t.ttft_samples,
                speed_samples=t.speed_samples,
                reason=t.reason,
            )
            for t in result.tiers
        ],
        records_total=result.records_total,
        records_window=result.records_window,
        failed=result.failed,
        censored=result.censored,
        output_tokens_per_s=result.output_tokens_per_s,
    )


class JudgeServicer(judge_pb2_grpc.JudgeServicer):
    """IngestRecords, Evaluate and GetRunStats over one :class:`RecordLedger`."""

    def __init__(self, config: JudgeConfig, ledger: RecordLedger) -> None:
        self._config = config
        self._ledger = ledger
        self._rules = core.Rules(min_samples=config.min_samples, min_speed_tokens=config.min_speed_tokens)
        self._tiers = tuple(core.Tier(t.name, t.min_output_speed, t.max_ttft_s) for t in config.tiers)

    @grpc_method
    async def IngestRecords(  # noqa: N802 -- gRPC method name
        self, request_iterator: AsyncIterator[common_pb2.RequestRecord], context: grpc.aio.ServicerContext
    ) -> judge_pb2.IngestSummary:
        # Each valid record is held as soon as it is read, so a malformed one later in the stream
        # aborts the call without losing the records before it (the client may resend them all).
        accepted = duplicates = 0
        async for msg in request_iterator:
            record = record_from_proto(msg)
            problem = core.record_problem(record)
            if problem is not None:
                field, what = problem
                RECORDS_REJECTED.labels(field).inc()
                raise InputError(
                    f"{what} (record_id {record.record_id!r}); the {accepted + duplicates} records "
                    "before it in this stream were kept",
                    source="IngestRecords stream record",
                    line=accepted + duplicates + 1,
                    field=field,
                )
            if await self._ledger.add(record):
                accepted += 1
                RECORDS_INGESTED.labels(record.status.name).inc()
            else:
                duplicates += 1
                RECORDS_DUPLICATE.inc()
        return judge_pb2.IngestSummary(accepted=accepted, duplicates=duplicates)

    @grpc_method
    async def Evaluate(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.EvaluateRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.LevelVerdict:
        self._check_evaluate(request)
        tiers = tuple(tier_from_proto(t) for t in request.tiers) or self._tiers
        core.validate_tiers(tiers, source="EvaluateRequest")
        note = ""
        if request.expect_records > 0:
            timeout = request.wait_timeout_s or self._config.default_wait_timeout_s
            outcome = await self._ledger.wait_for(
                request.run_id, request.level, request.expect_records, timeout
            )
            if not outcome.complete:
                note = (
                    f"incomplete: {outcome.held} of {request.expect_records} expected records "
                    f"after waiting {timeout:g} s"
                )
        records = self._ledger.store.records(request.run_id, request.level)
        result = core.evaluate_level(
            request.run_id, request.level, records, tiers, self._rules, window_s=request.window_s, note=note
        )
        for tier in result.tiers:
            EVALUATIONS.labels(tier.verdict.name).inc()
        verdict = level_to_proto(result)
        verdict.complete = not note
        verdict.expected_records = request.expect_records
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
            value = getattr(request, field)
            if not math.isfinite(value) or value < 0:
                raise InputError(f"must be a finite number >= 0, got {value}", source=src, field=field)
        if request.wait_timeout_s > self._config.max_wait_timeout_s:
            raise LimitExceededError(
                f"{src}: wait_timeout_s {request.wait_timeout_s:g} exceeds max_wait_timeout_s "
                f"{self._config.max_wait_timeout_s:g}"
            )

    @grpc_method
    async def GetRunStats(  # noqa: N802 -- gRPC method name
        self, request: judge_pb2.GetRunStatsRequest, context: grpc.aio.ServicerContext
    ) -> judge_pb2.RunStats:
        if not request.run_id.strip():
            raise InputError("must not be empty", source="GetRunStatsRequest", field="run_id")
        counts = self._ledger.store.level_counts(request.run_id)
        return judge_pb2.RunStats(
            run_id=request.run_id,
            records=sum(counts.values()),
            levels=[judge_pb2.LevelCount(level=level, records=n) for level, n in counts.items()],
        )


class JudgeService:
    """The judge as the bootstrap sees it (see agentperf.runtime.server.Service)."""

    def __init__(self, config: JudgeConfig, store: RecordStore | None = None) -> None:
        self.config = config
        # asyncio primitives bind to the loop on first use, so building the ledger here is safe.
        self.ledger = RecordLedger(store if store is not None else MemoryRecordStore())

    def register(self, server: grpc.aio.Server) -> list[str]:
        judge_pb2_grpc.add_JudgeServicer_to_server(JudgeServicer(self.config, self.ledger), server)
        return [judge_pb2.DESCRIPTOR.services_by_name["Judge"].full_name]

    async def start(self) -> None:
        """Nothing to open: the in-memory store needs no set-up."""

    async def stop(self) -> None:
        """Nothing to flush: the in-memory store is lost by design (docs/measurement.md)."""
