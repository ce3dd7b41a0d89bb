"""Acknowledged = committed: the judge as a real process, SIGKILLed and started again on its file.

Also the load generator's sink across such a restart: records in a stream the kill broke are
re-sent, and the judge's ids make every one count exactly once.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import yaml

from agentperf.loadgen import JudgeSink
from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import CHANNEL_OPTIONS, channel
from agentperf.v1 import common_pb2, judge_pb2, judge_pb2_grpc

RUN = "restart"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def record(i: int, run: str = RUN, level: int = 8) -> common_pb2.RequestRecord:
    failed = i % 23 == 0
    return common_pb2.RequestRecord(
        record_id=f"{run}/{level}/{i}",
        run_id=run,
        level=level,
        shard=i % 3,
        status=common_pb2.REQUEST_STATUS_FAILED if failed else common_pb2.REQUEST_STATUS_OK,
        in_window=i % 10 != 0,
        send_unix_s=1000.0 + i * 0.01,
        has_first_token=not failed,
        ttft_s=0.0 if failed else 0.3 + (i % 29) * 0.05,
        first_to_last_s=0.0 if failed else 1.0 + (i % 7) * 0.2,
        output_tokens=0 if failed else 80,
        first_chunk_tokens=0 if failed else 1,
    )


async def stream(records: Iterable[common_pb2.RequestRecord]) -> AsyncIterator[common_pb2.RequestRecord]:
    for r in records:
        yield r


async def start_judge(tmp_path: Path, **values: Any) -> ChildProcess:
    config = tmp_path / "judge.yaml"
    if not config.exists():
        defaults = {"db_path": str(tmp_path / "judge.db"), "min_samples": 10, "http_port": -1}
        config.write_text(yaml.safe_dump({**defaults, **values}))
    return await start_child("judge", "agentperf.services.judge", ["--config", str(config)], log_dir=tmp_path)


async def kill(child: ChildProcess) -> None:
    child.process.kill()
    await child.process.wait()


async def test_acknowledged_records_and_run_state_survive_sigkill(tmp_path: Path) -> None:
    http_port = free_port()
    records = [record(i) for i in range(1200)]
    state = judge_pb2.RunState(run_id=RUN, phase=judge_pb2.RUN_PHASE_FINISHED, gpus=8, gpu_seconds=42.0)
    ask = judge_pb2.EvaluateRequest(run_id=RUN, level=8, expect_records=1200)
    judge = await start_judge(tmp_path, http_port=http_port)
    try:
        async with channel(judge.grpc_target) as ch:
            stub = judge_pb2_grpc.JudgeStub(ch)
            summary = await stub.IngestRecords(stream(records))
            assert (summary.accepted, summary.duplicates) == (1200, 0)
            await stub.PutRun(state)
            stored = await stub.GetRun(judge_pb2.GetRunRequest(run_id=RUN))
            before = await stub.Evaluate(ask)
    finally:
        await kill(judge)

    judge = await start_judge(tmp_path)
    try:
        async with channel(judge.grpc_target) as ch:
            stub = judge_pb2_grpc.JudgeStub(ch)
            after = await stub.Evaluate(ask)
            assert after == before
            assert after.complete and after.records_total == 1200 and after.shards == 3
            stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id=RUN))
            assert stats.records == 1200
            again = await stub.IngestRecords(stream(records))
            assert (again.accepted, again.duplicates) == (0, 1200)
            assert await stub.GetRun(judge_pb2.GetRunRequest(run_id=RUN)) == stored
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{http_port}/api/v1/runs/{RUN}/verdict") as resp,
        ):
            body = await resp.json()
        assert (resp.status, body["status"], body["gpu_seconds"]) == (200, "pass", 42.0)
    finally:
        assert await judge.stop() == 0


async def _until(predicate: Any, timeout_s: float = 20.0) -> None:
    """Poll an async predicate (a condition to reach, not a timing assumption)."""
    deadline = time.monotonic() + timeout_s
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def test_sink_delivers_across_a_judge_restart_exactly_once(tmp_path: Path) -> None:
    port = free_port()
    # The judge commits every 20 records, so the stream the kill breaks has 40 committed,
    # unacknowledged records (they come back as duplicates) and 10 uncommitted ones (lost, resent).
    judge = await start_judge(tmp_path, port=port, ingest_batch=20)
    fast_reconnect = (
        *CHANNEL_OPTIONS,
        ("grpc.initial_reconnect_backoff_ms", 50),
        ("grpc.min_reconnect_backoff_ms", 50),
        ("grpc.max_reconnect_backoff_ms", 200),
    )
    records = [record(i, run="sink") for i in range(400)]
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=fast_reconnect) as ch:
            stub = judge_pb2_grpc.JudgeStub(ch)

            async def held(n: int) -> bool:
                stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="sink"))
                return bool(stats.records >= n)

            sink = JudgeSink(
                ch, retries=200, backoff_s=0.05, max_backoff_s=0.2, batch_size=100, batch_max_s=60.0
            )
            sink.start()
            for r in records[:250]:
                sink.put(r)
            await _until(lambda: held(240))
            assert sink.delivered == 200  # the third batch's stream is still open
            await kill(judge)

            judge = await start_judge(tmp_path)
            for r in records[250:]:
                sink.put(r)
            delivery = await asyncio.wait_for(sink.close(), 30.0)
            assert delivery.error == ""
            assert (delivery.delivered, delivery.accepted, delivery.duplicates) == (400, 360, 40)
            assert sink.attempts > 4
            stats = await stub.GetRunStats(judge_pb2.GetRunStatsRequest(run_id="sink"))
            assert stats.records == 400
            verdict = await stub.Evaluate(judge_pb2.EvaluateRequest(run_id="sink", level=8))
            assert verdict.records_total == 400
            resent = await stub.IngestRecords(stream(records))
            assert (resent.accepted, resent.duplicates) == (0, 400)
    finally:
        await judge.stop()
