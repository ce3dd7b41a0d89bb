"""The cpu model over in-process gRPC with a real process pool: sizing, queueing, and nothing from the request."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agentperf.runtime.server import in_process
from agentperf.services.toolsim.calibrate import load_calibration
from agentperf.services.toolsim.config import ClassModel, ToolSimConfig
from agentperf.services.toolsim.servicer import ToolSimService
from agentperf.v1 import common_pb2, toolsim_pb2, toolsim_pb2_grpc

TARGET_S = 0.2


async def serve(config: ToolSimConfig) -> AsyncIterator[toolsim_pb2_grpc.ToolSimStub]:
    async with in_process(ToolSimService(config)) as ch:
        yield toolsim_pb2_grpc.ToolSimStub(ch)


@pytest.fixture
async def two_slots() -> AsyncIterator[toolsim_pb2_grpc.ToolSimStub]:
    """Every class runs a catalogue task sized for 0.2 s on the reference CPU; a pool of two."""
    config = ToolSimConfig(
        model="cpu",
        median_s=TARGET_S,
        sigma=0.0,
        max_concurrent=2,
        classes={"edit": ClassModel(cpu_task="compile")},
    )
    async for stub in serve(config):
        yield stub


def call(key: str, tool_class: str, name: str = "bash") -> toolsim_pb2.RunToolRequest:
    return toolsim_pb2.RunToolRequest(key=key, tool=common_pb2.ToolCall(name=name, tool_class=tool_class))


async def test_cpu_calls_queue_for_the_pool(two_slots: toolsim_pb2_grpc.ToolSimStub) -> None:
    start = time.monotonic()
    responses = await asyncio.gather(*(two_slots.RunTool(call(f"k{i}", "shell")) for i in range(6)))
    elapsed = time.monotonic() - start
    fastest, slowest = min(r.delay_s for r in responses), max(r.delay_s for r in responses)
    # Two workers, six tasks of about 0.2 s: three rounds, each a task's length.
    assert 3 * fastest <= elapsed <= 3 * slowest + 0.5
    queued = sorted(r.queued_s for r in responses)
    assert queued[1] < 0.05  # the first two find a free worker
    assert queued[2] >= 0.9 * fastest  # the next two wait for one task to finish
    assert queued[4] >= 1.9 * fastest  # the last two for two
    for r in responses:
        assert (r.cpu_task, r.tool_class, r.model) == (
            "shell",
            "shell",
            "cpu(task=shell,target=lognormal(median=0.2s,sigma=0.0))",
        )
        assert r.cpu_target_s == pytest.approx(TARGET_S) and r.modelled_delay_s == pytest.approx(TARGET_S)
        assert r.cpu_measured_s <= r.delay_s  # measured in the worker; delay adds the hand-off


async def test_work_is_sized_from_the_reference_calibration(two_slots: toolsim_pb2_grpc.ToolSimStub) -> None:
    reference = load_calibration()
    for tool_class, task in (
        ("read", "parse"),
        ("edit", "compile"),
        ("test", "test"),
        ("", "shell"),
        ("other", "shell"),
    ):
        response = await two_slots.RunTool(call(f"size-{tool_class}", tool_class))
        assert response.cpu_task == task
        assert response.cpu_work_units == round(TARGET_S / reference.seconds_per_unit(task))
        assert response.tool_class == (tool_class or "other")
    report = await two_slots.DescribeModel(toolsim_pb2.DescribeModelRequest())
    assert (report.max_concurrent, report.cpu_pool, report.calibration_cpu) == (2, 2, reference.cpu_model)
    assert {c.tool_class: c.cpu_task for c in report.classes} == {
        "read": "parse",
        "search": "search",
        "edit": "compile",
        "test": "test",
        "shell": "shell",
        "other": "shell",
    }
    assert f"cpu tasks sized on reference CPU {reference.cpu_model!r}" in report.summary
    assert "pool of 2 | cap 300s, max_concurrent 2" in report.summary


async def test_nothing_from_the_request_runs(two_slots: toolsim_pb2_grpc.ToolSimStub, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    hostile = f"touch {marker}; python -c 'import os; os.system(\"touch {marker}\")'"
    response = await two_slots.RunTool(call("evil", "shell", name=hostile))
    same_class = await two_slots.RunTool(call("evil", "shell", name="bash"))
    # The name changes nothing: same task, same work (the key alone fixes the draw).
    assert (response.cpu_task, response.cpu_work_units) == (same_class.cpu_task, same_class.cpu_work_units)
    assert not marker.exists()
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await two_slots.RunTool(call("k", hostile))
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "RunToolRequest field 'tool.tool_class': unknown tool class" in (bad.value.details() or "")


async def test_work_is_capped_by_max_delay_on_the_reference_cpu() -> None:
    config = ToolSimConfig(model="cpu", median_s=50.0, sigma=0.0, max_delay_s=0.05, max_concurrent=1)
    async for stub in serve(config):
        response = await stub.RunTool(call("k", "test"))
        assert response.capped and response.cpu_target_s == pytest.approx(0.05)
        assert response.cpu_work_units == round(0.05 / load_calibration().seconds_per_unit("test"))


async def test_a_killed_worker_fails_one_call_and_the_pool_recovers() -> None:
    async for stub in serve(ToolSimConfig(model="cpu", median_s=0.01, sigma=0.0, max_concurrent=1)):
        (worker,) = multiprocessing.active_children()  # the pool's one worker, started by this test
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        worker.join(5)
        with pytest.raises(grpc.aio.AioRpcError) as lost:
            await stub.RunTool(call("k1", "shell"))
        assert lost.value.code() == grpc.StatusCode.UNAVAILABLE
        assert (await stub.RunTool(call("k2", "shell"))).cpu_task == "shell"
