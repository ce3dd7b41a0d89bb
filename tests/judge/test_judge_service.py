"""The judge as a real process on loopback: streamed ingest, waiting Evaluate, stats, bad records."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import aiohttp
import grpc
import pytest

from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import channel
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
    child = await start_child(
        "judge", "agentperf.services.judge", ["--set", "min_samples=10"], log_dir=tmp_path
    )
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
        await stub.IngestRecords(stream([record(i, run="run-b") for i in range(10)]))
        tiers = [common_pb2.SloTier(name="easy", min_output_speed=1.0, max_ttft_s=60.0)]
        verdict = await stub.Evaluate(
            judge_pb2.EvaluateRequest(
                run_id="run-b", level=4, tiers=tiers, expect_records=11, wait_timeout_s=0.2
            )
        )
        (tier,) = verdict.tiers
        assert tier.verdict == common_pb2.VERDICT_PASS
        assert tier.reason.startswith("incomplete: 10 of 11 expected records after waiting 0.2 s; ")


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
