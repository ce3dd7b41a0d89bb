"""The conductor waits for a restarting judge: a verdict asked for while the judge is down is
answered once it is back on the same port and database, with every acknowledged record."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest

from agentperf.conductor import call_judge
from agentperf.errors import AgentperfError
from agentperf.runtime.server import channel
from agentperf.v1 import judge_pb2, judge_pb2_grpc
from tests.judge.test_judge_restart import RUN, free_port, kill, record, start_judge, stream


async def test_a_verdict_asked_while_the_judge_restarts_is_answered_after(tmp_path: Path) -> None:
    port = free_port()
    judge = await start_judge(tmp_path, port=port)
    ask = judge_pb2.EvaluateRequest(run_id=RUN, level=8, expect_records=300)
    async with channel(f"127.0.0.1:{port}") as ch:
        stub = judge_pb2_grpc.JudgeStub(ch)
        assert (await stub.IngestRecords(stream(record(i) for i in range(300)))).accepted == 300
        before = await stub.Evaluate(ask)
        await kill(judge)
        pending = asyncio.ensure_future(call_judge(lambda: stub.Evaluate(ask), retry_s=60))
        await asyncio.sleep(1.0)
        assert not pending.done(), "the call waits while the judge is down"
        judge = await start_judge(tmp_path)  # same config file: same port and database
        try:
            after = await asyncio.wait_for(pending, 60)
        finally:
            assert await judge.stop() == 0
    assert after == before and after.records_total == 300


async def test_other_errors_and_a_judge_that_stays_down_fail_with_a_message() -> None:
    async with channel(f"127.0.0.1:{free_port()}") as ch:
        stub = judge_pb2_grpc.JudgeStub(ch)
        with pytest.raises(AgentperfError, match="judge"):
            await call_judge(
                lambda: stub.Evaluate(judge_pb2.EvaluateRequest(run_id=RUN, level=1)), retry_s=1.0
            )

    async def invalid() -> None:
        raise grpc.aio.AioRpcError(
            grpc.StatusCode.INVALID_ARGUMENT, grpc.aio.Metadata(), grpc.aio.Metadata(), "bad"
        )

    calls = 0

    async def counted() -> None:
        nonlocal calls
        calls += 1
        await invalid()

    with pytest.raises(AgentperfError):
        await call_judge(counted, retry_s=30.0)
    assert calls == 1, "only unavailability is retried"
