"""The judge over real gRPC: as a process (ingest, waiting Evaluate, stats, bad records, metrics) and
in-process (batched commits, preview, merged runs and shards, confidence, PutRun / GetRun, validation)."""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest
from prometheus_client import REGISTRY

from agentperf.errors import UnavailableError
from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import channel, in_process
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.servicer import JudgeService
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

OK = common_pb2.REQUEST_STATUS_OK
FAILED = common_pb2.REQUEST_STATUS_FAILED


def record(i: int, *, level: int = 4, run: str = "run-a", **kw: object) -> common_pb2.RequestRecord:
    fields: dict[str, object] = {
        "record_id": f"{run}/{level}/{i}",
        "run_id": run,
        "level": level,
        "status": OK,
        "in_window": True,
        "send_unix_s": 1000.0 + i,
        "has_first_token": True,
        "ttft_s": 0.5,
        "first_to_last_s": 1.0,
        "output_tokens": 51,
        "first_chunk_tokens": 1,
    }
    fields.update(kw)
    return common_pb2.RequestRecord(**fields)  # type: ignore[arg-type]


async def stream(records: Iterable[common_pb2.RequestRecord]) -> AsyncIterator[common_pb2.RequestRecord]:
    for r in records:
        yield r


@pytest.fixture
async def judge(tmp_path: Path) -> AsyncIterator[ChildProcess]:
    args = ["--set", "min_samples=10", "--set", f"db_path={tmp_path / 'judge.db'}", "--set", "http_port=0"]
    child = await start_child("judge", "agentperf.services.judge", args, log_dir=tmp_path)
    try:
        yield child
    finally:
        assert await child.stop() == 0


async def test_ingest_twice_wait_for_late_stream_and_stats(judge: ChildProcess) -> None:
    first = [record(i) for i in range(12)] + [record(100 + i, in_window=False, ttft_s=60.0) for i in range(3)]
    late = [
        record(
            200 + i, status=FAILED, has_first_token=False, ttft_s=0.0, first_to_last_s=0.0, output_tokens=0
        )
        for i in range(3)
    ]
    async with channel(judge.grpc_target) as ch:
        stub = judge_pb2_grpc.JudgeStub(ch)
        summary = await stub.IngestRecords(stream(first))
        assert (summary.accepted, summary.duplicates) == (15, 0)
        again = await stub.IngestRecords(stream(first))
        assert (again.accepted, again.duplicates) == (0, 15)

        evaluation = stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-a", level=4, expect_records=18))
        stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="run-a"))
        assert stats.records == 15
        assert not evaluation.done(), "Evaluate must wait for the expected records"
        await stub.IngestRecords(stream(late))
        verdict = await evaluation

        assert (verdict.records_total, verdict.records_window, verdict.failed) == (18, 15, 3)
        by_name = {t.tier.name: t for t in verdict.tiers}
        assert list(by_name) == ["slo1", "slo2", "slo3"]
        # 3 of 15 in-window requests failed: 20 % > 5 %, so P95 TTFT is infinite for every tier.
        assert all(
            t.verdict == common_pb2.VERDICT_FAIL and t.p95_ttft_s == float("inf") for t in verdict.tiers
        )
        assert by_name["slo1"].p25_output_speed == pytest.approx(50.0)
        assert "incomplete" not in by_name["slo1"].reason
        # 12 in-window OK records x 51 tokens over the explicit 30 s window.
        explicit = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-a", level=4, window_s=30.0))
        assert explicit.output_tokens_per_s == pytest.approx(12 * 51 / 30.0)

        await stub.IngestRecords(stream([record(0, level=8)]))
        stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="run-a"))
        assert stats.records == 19
        assert [(c.level, c.records) for c in stats.levels] == [(4, 18), (8, 1)]
        unknown = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="nobody"))
        assert (unknown.records, list(unknown.levels)) == (0, [])
    await _assert_metrics(judge)


async def _assert_metrics(judge: ChildProcess) -> None:
    url = f"http://127.0.0.1:{judge.port('metrics_port')}/metrics"
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        text = await resp.text()
    assert re.search(r'agentperf_judge_records_ingested_total\{status="OK"\} 16\.0', text)
    assert re.search(r'agentperf_judge_records_ingested_total\{status="FAILED"\} 3\.0', text)
    assert re.search(r"agentperf_judge_records_duplicate_total 15\.0", text)
    assert re.search(r'agentperf_judge_tier_evaluations_total\{verdict="FAIL"\} 6\.0', text)


async def test_evaluate_timeout_still_judges_and_says_incomplete(judge: ChildProcess) -> None:
    async with channel(judge.grpc_target) as ch:
        stub = judge_pb2_grpc.JudgeStub(ch)
        await stub.IngestRecords(stream([record(i, run="run-b") for i in range(60)]))
        tiers = [common_pb2.SloTier(name="easy", min_output_speed=1.0, max_ttft_s=60.0)]
        verdict = await stub.Evaluate(
            judge_pb2.EvaluateRequest(
                run_id="run-b", level=4, tiers=tiers, expect_records=61, wait_timeout_s=0.2
            )
        )
        (tier,) = verdict.tiers
        assert tier.verdict == common_pb2.VERDICT_PASS
        assert tier.reason.startswith("incomplete: 60 of 61 expected records after waiting 0.2 s; ")
        assert not verdict.complete


async def test_malformed_record_is_rejected_and_earlier_ones_kept(judge: ChildProcess) -> None:
    records = [
        record(0, run="run-c"),
        record(1, run="run-c"),
        record(2, run="run-c", level=0),
        record(3, run="run-c"),
    ]
    async with channel(judge.grpc_target) as ch:
        stub = judge_pb2_grpc.JudgeStub(ch)
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.IngestRecords(stream(records))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = info.value.details() or ""
        assert "record:3 field 'level'" in details and "must be > 0, got 0" in details
        assert "the 2 records before it in this stream were kept" in details

        stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="run-c"))
        assert [(c.level, c.records) for c in stats.levels] == [(4, 2)]

        for bad, field in [
            (record(9, run="run-c", record_id=""), "record_id"),
            (record(9, run="run-c", ttft_s=-1.0), "ttft_s"),
        ]:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.IngestRecords(stream([bad]))
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert f"field '{field}'" in (info.value.details() or "")

        # Bad Evaluate requests are refused too, and the service keeps serving.
        bad_tiers = [common_pb2.SloTier(name="x", min_output_speed=0.0, max_ttft_s=1.0)]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-c", level=4, tiers=bad_tiers))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "tiers[0].min_output_speed" in (info.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-c", level=0))
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-c", level=4, wait_timeout_s=1e6))
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED

        verdict = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="run-c", level=4))
        assert verdict.records_total == 2
        assert all(t.verdict == common_pb2.VERDICT_INSUFFICIENT for t in verdict.tiers)


# -- in-process: the same servicer over real gRPC on loopback ------------------------------------


@pytest.fixture
async def service() -> AsyncIterator[tuple[JudgeService, judge_pb2_grpc.JudgeStub]]:
    judge = JudgeService(JudgeConfig(db_path=":memory:", http_port=-1, min_samples=10, ingest_batch=7))
    async with in_process(judge) as ch:
        yield judge, judge_pb2_grpc.JudgeStub(ch)


async def _invalid(call: Any) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    return info.value.details() or ""


def varied(i: int, **kw: Any) -> common_pb2.RequestRecord:
    """Records whose TTFT and speed vary, so the bounds are not all one value."""
    return record(i, ttft_s=0.2 + (i % 17) * 0.1, first_to_last_s=0.5 + (i % 13) * 0.1, **kw)


async def test_batches_commit_before_a_malformed_record(
    service: tuple[JudgeService, judge_pb2_grpc.JudgeStub],
) -> None:
    _, stub = service
    first = [record(i, run="batch") for i in range(30)]
    summary = await stub.IngestRecords(stream(first + first[:5]))
    assert (summary.accepted, summary.duplicates) == (30, 5)
    # 19 good records span two full batches of 7 and a partial one: all of them are kept.
    bad = [record(100 + i, run="batch") for i in range(19)] + [record(200, run="batch", ttft_s=-1.0)]
    details = await _invalid(stub.IngestRecords(stream(bad)))
    assert "record:20 field 'ttft_s'" in details
    assert "the 19 records before it in this stream were kept" in details
    stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="batch"))
    assert stats.records == 49


async def test_preview_waits_for_nothing_and_stores_nothing(
    service: tuple[JudgeService, judge_pb2_grpc.JudgeStub],
) -> None:
    judge, stub = service
    await stub.IngestRecords(stream([varied(i, run="prev") for i in range(60)]))
    ask = judge_pb2.EvaluateRequest(run_id="prev", level=4, expect_records=100, wait_timeout_s=30.0)
    ask.preview = True
    preview = await asyncio.wait_for(stub.Evaluate(ask), 5.0)
    assert preview.preview and not preview.complete and preview.records_total == 60
    assert not any("incomplete" in t.reason for t in preview.tiers)
    assert await judge.store.latest_verdicts("prev") == []

    final = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="prev", level=4, expect_records=60))
    assert not final.preview and final.complete and final.shards == 1 and list(final.run_ids) == ["prev"]
    assert [t.verdict for t in final.tiers] == [t.verdict for t in preview.tiers]
    assert [t.p95_ttft_high_s for t in final.tiers] == [t.p95_ttft_high_s for t in preview.tiers]
    assert await judge.store.latest_verdicts("prev") == [final]


async def test_merge_run_ids_and_shards_equal_one_run_of_all_records(
    service: tuple[JudgeService, judge_pb2_grpc.JudgeStub],
) -> None:
    _, stub = service
    first = [varied(i, run="m", shard=i % 2) for i in range(40)]
    again = [varied(i, run="m~2", shard=i % 3) for i in range(40, 90)]
    whole = [varied(i, run="whole") for i in range(90)]
    await stub.IngestRecords(stream(first + again + whole))
    merged = await stub.Evaluate(
        judge_pb2.EvaluateRequest(run_id="m", level=4, merge_run_ids=["m~2", "m"], expect_records=40)
    )
    one = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="whole", level=4))
    assert (merged.records_total, merged.shards, list(merged.run_ids)) == (90, 3, ["m", "m~2"])
    assert merged.complete and merged.expected_records == 40
    for a, b in zip(merged.tiers, one.tiers, strict=True):
        assert (a.verdict, a.p95_ttft_s, a.p95_ttft_low_s, a.p95_ttft_high_s, a.p25_speed_low) == (
            b.verdict,
            b.p95_ttft_s,
            b.p95_ttft_low_s,
            b.p95_ttft_high_s,
            b.p25_speed_low,
        )
        assert a.confidence == pytest.approx(0.9)
    alone = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="m", level=4))
    assert alone.records_total == 40 and alone.shards == 2


async def test_confidence_of_the_request_sets_the_bounds(
    service: tuple[JudgeService, judge_pb2_grpc.JudgeStub],
) -> None:
    _, stub = service
    await stub.IngestRecords(stream([varied(i, run="conf") for i in range(200)]))
    default = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="conf", level=4))
    strict = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="conf", level=4, confidence=0.99))
    for d, s in zip(default.tiers, strict.tiers, strict=True):
        assert (d.confidence, s.confidence) == (pytest.approx(0.9), pytest.approx(0.99))
        assert s.p95_ttft_low_s <= d.p95_ttft_low_s <= d.p95_ttft_s <= d.p95_ttft_high_s <= s.p95_ttft_high_s


async def test_put_run_and_get_run(service: tuple[JudgeService, judge_pb2_grpc.JudgeStub]) -> None:
    _, stub = service
    tier = common_pb2.SloTier(name="slo1", min_output_speed=30.0, max_ttft_s=10.0)
    state = judge_pb2.RunState(
        run_id="r1",
        phase=judge_pb2.RUN_PHASE_RUNNING,
        tiers=[judge_pb2.TierAnswer(tier=tier, max_agents=16)],
        gate=[judge_pb2.GateRule(tier="slo1", min_agents=8)],
        gpus=8,
        gpu_seconds=120.0,
        updated_unix_s=1.0,
    )
    before = time.time()
    await stub.PutRun(state)
    got = await stub.GetRun(judge_pb2.GetRunRequest(run_id="r1"))
    assert got.updated_unix_s >= before and got.tiers[0].max_agents == 16 and got.gpus == 8
    assert _sample("agentperf_run_gate_pass", run_id="r1") == -1.0  # still running: pending
    state.phase = judge_pb2.RUN_PHASE_FINISHED
    await stub.PutRun(state)
    got = await stub.GetRun(judge_pb2.GetRunRequest(run_id="r1"))
    assert got.phase == judge_pb2.RUN_PHASE_FINISHED
    assert _sample("agentperf_run_gate_pass", run_id="r1") == 1.0
    assert _sample("agentperf_run_max_agents", run_id="r1", tier="slo1") == 16.0
    assert _sample("agentperf_run_gpu_seconds", run_id="r1") == 120.0

    with pytest.raises(grpc.aio.AioRpcError) as info:
        await stub.GetRun(judge_pb2.GetRunRequest(run_id="never"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert "field 'run_id'" in await _invalid(stub.GetRun(judge_pb2.GetRunRequest(run_id=" ")))
    for bad, field in [
        (judge_pb2.RunState(phase=judge_pb2.RUN_PHASE_RUNNING), "run_id"),
        (judge_pb2.RunState(run_id="x"), "phase"),
        (
            judge_pb2.RunState(run_id="x", phase=judge_pb2.RUN_PHASE_RUNNING, gate=[judge_pb2.GateRule()]),
            "gate[0].tier",
        ),
        (
            judge_pb2.RunState(
                run_id="x",
                phase=judge_pb2.RUN_PHASE_RUNNING,
                gate=[judge_pb2.GateRule(tier="a", min_agents_per_gpu=float("nan"))],
            ),
            "gate[0].min_agents_per_gpu",
        ),
        (
            judge_pb2.RunState(
                run_id="x", phase=judge_pb2.RUN_PHASE_RUNNING, tiers=[judge_pb2.TierAnswer(tier=tier)] * 2
            ),
            "tiers[1].tier.name",
        ),
    ]:
        assert f"field '{field}'" in await _invalid(stub.PutRun(bad))


async def test_evaluate_validation_names_the_field_and_metrics_follow(
    service: tuple[JudgeService, judge_pb2_grpc.JudgeStub],
) -> None:
    _, stub = service
    for kw, field in [
        ({"confidence": 0.3}, "confidence"),
        ({"confidence": 1.0}, "confidence"),
        ({"confidence": float("nan")}, "confidence"),
        ({"merge_run_ids": ["ok", " "]}, "merge_run_ids[1]"),
        ({"window_s": float("inf")}, "window_s"),
    ]:
        request = judge_pb2.EvaluateRequest(run_id="v", level=1, **kw)  # type: ignore[arg-type]
        assert f"field '{field}'" in await _invalid(stub.Evaluate(request))

    await stub.IngestRecords(stream([record(i, run="v", level=2, ttft_s=20.0) for i in range(40)]))
    before = _sample("agentperf_judge_verdicts_total", tier="slo1", verdict="FAIL") or 0.0
    ask = judge_pb2.EvaluateRequest(run_id="v", level=2, preview=True)
    await stub.Evaluate(ask)
    assert (_sample("agentperf_judge_verdicts_total", tier="slo1", verdict="FAIL") or 0.0) == before
    assert _sample("agentperf_level_p95_ttft_seconds", run_id="v", level="2", tier="slo1") == pytest.approx(
        20.0, rel=0.01
    )
    await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="v", level=2))
    assert _sample("agentperf_judge_verdicts_total", tier="slo1", verdict="FAIL") == before + 1
    assert _sample("agentperf_level_p25_output_speed", run_id="v", level="2", tier="slo1") == pytest.approx(
        50.0, rel=0.01
    )
    empty = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="v", level=3, preview=True))
    assert all(t.verdict == common_pb2.VERDICT_INSUFFICIENT for t in empty.tiers)
    assert math.isnan(_sample("agentperf_level_p95_ttft_seconds", run_id="v", level="3", tier="slo1") or 0.0)


def _sample(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_an_unusable_database_stops_the_judge_at_start(tmp_path: Path) -> None:
    args = ["--set", f"db_path={tmp_path / 'missing' / 'judge.db'}", "--set", "http_port=-1"]
    with pytest.raises(UnavailableError, match="exited with code 2"):
        await start_child("judge", "agentperf.services.judge", args, log_dir=tmp_path)
    assert "cannot open the SQLite database" in (tmp_path / "judge.log").read_text()
