"""FitFromDataset end to end: a real trajectory store process, a real toolsim process, real gRPC."""

from __future__ import annotations

import json
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.services.toolsim.fit import lognormal_mle
from agentperf.v1 import (
    common_pb2,
    toolsim_pb2,
    toolsim_pb2_grpc,
    trajectory_store_pb2,
    trajectory_store_pb2_grpc,
)

pytestmark = pytest.mark.e2e

rng = random.Random(4)
SHELL = [round(0.1 * rng.paretovariate(1.3), 3) for _ in range(30)]
READ = [0.01, 0.02, 0.03, 0.05, 0.08]


def dataset_jsonl() -> bytes:
    """Four trajectories: 30 shell calls, 5 read calls with durations, 3 edit calls without one."""
    tools = [{"name": "bash", "class": "shell", "duration_s": d} for d in SHELL]
    tools += [{"name": "cat", "class": "read", "duration_s": d} for d in READ]
    tools += [{"name": "str_replace", "class": "edit"} for _ in range(3)]
    lines = []
    for t in range(4):
        turns = [{"input_tokens": 10, "output_tokens": 5, "tool": tool} for tool in tools[t::4]]
        lines.append(json.dumps({"id": f"t{t}", "phases": [{"preamble_tokens": 3, "turns": turns}]}))
    return ("\n".join(lines) + "\n").encode()


async def chunks(data: bytes) -> AsyncIterator[trajectory_store_pb2.ImportChunk]:
    yield trajectory_store_pb2.ImportChunk(
        dataset="mine", format="jsonl", source_name="mine.jsonl", data=data
    )


def log_quantile(sample: list[float], q: float) -> float:
    """The fit's definition: log-linear between order statistics at position q * (n - 1)."""
    s = sorted(sample)
    pos = q * (len(s) - 1)
    i, frac = int(pos), pos - int(pos)
    return math.exp(math.log(s[i]) + frac * (math.log(s[i + 1]) - math.log(s[i])))


async def test_fit_from_dataset_over_real_grpc(tmp_path: Path) -> None:
    store = await start_child(
        "trajectory-store",
        "agentperf.services.trajectory_store",
        ["--set", f"db_path={tmp_path / 't.db'}"],
        log_dir=tmp_path,
    )
    toolsim_args = [
        *("--set", "model=fitted", "--set", f"trajectory_store={store.grpc_target}"),
        *("--set", "classes.test.model=cpu", "--set", "cpu_target=fitted", "--set", "time_scale=0.01"),
        *("--set", "max_concurrent=1"),
    ]
    toolsim = await start_child("toolsim", "agentperf.services.toolsim", toolsim_args, log_dir=tmp_path)
    store_ch, toolsim_ch = channel(store.grpc_target), channel(toolsim.grpc_target)
    try:
        info = await trajectory_store_pb2_grpc.TrajectoryStoreStub(store_ch).Import(chunks(dataset_jsonl()))
        assert info.trajectories == 4
        stub = toolsim_pb2_grpc.ToolSimStub(toolsim_ch)
        before = await stub.DescribeModel(toolsim_pb2.DescribeModelRequest())
        assert before.dataset == "" and {c.fit_source for c in before.classes} == {"none"}

        report = await stub.FitFromDataset(toolsim_pb2.FitRequest(dataset="mine"))
        assert (report.dataset, report.trajectories, report.tool_calls, report.recorded_durations) == (
            "mine",
            4,
            38,
            35,
        )
        classes = {c.tool_class: c for c in report.classes}
        shell, read, test = classes["shell"], classes["read"], classes["test"]
        assert (shell.model, shell.fit_source, shell.samples, shell.class_samples, shell.dataset) == (
            "fitted",
            "class",
            30,
            30,
            "mine",
        )
        assert shell.p50_s == pytest.approx(log_quantile(SHELL, 0.5), rel=1e-9)
        assert shell.p90_s == pytest.approx(log_quantile(SHELL, 0.9), rel=1e-9)
        mle = lognormal_mle(SHELL)
        assert mle is not None
        assert (shell.lognormal_mu, shell.lognormal_sigma) == (
            pytest.approx(mle.mu),
            pytest.approx(mle.sigma),
        )
        assert (read.fit_source, read.samples, read.class_samples) == ("pooled", 35, 5)
        assert (classes["edit"].fit_source, classes["edit"].class_samples) == ("pooled", 0)
        assert (test.model, test.cpu_task, test.distribution) == (
            "cpu",
            "test",
            "cpu(task=test,target=fitted(dataset=mine,pooled,n=35))",
        )
        assert "fitted to dataset 'mine': 35 recorded durations of 38 tool calls" in report.summary
        assert (await stub.DescribeModel(toolsim_pb2.DescribeModelRequest())).summary == report.summary

        shell_call = common_pb2.ToolCall(name="bash", tool_class="shell")
        drawn = [
            await stub.RunTool(toolsim_pb2.RunToolRequest(key=f"k{i}", tool=shell_call)) for i in range(20)
        ]
        assert {r.model for r in drawn} == {"fitted(dataset=mine,class=shell,n=30)"}
        assert all(min(SHELL) <= r.modelled_delay_s <= max(SHELL) for r in drawn)
        cpu = await stub.RunTool(
            toolsim_pb2.RunToolRequest(key="c", tool=common_pb2.ToolCall(tool_class="test"))
        )
        assert (cpu.cpu_task, cpu.model) == ("test", test.distribution)

        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await stub.FitFromDataset(toolsim_pb2.FitRequest(dataset="nope"))
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert "trajectory-store" in (missing.value.details() or "")
        with pytest.raises(grpc.aio.AioRpcError) as unnamed:
            await stub.FitFromDataset(toolsim_pb2.FitRequest())
        assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # A failed fit leaves the installed one in place.
        assert (await stub.DescribeModel(toolsim_pb2.DescribeModelRequest())).dataset == "mine"
    finally:
        await store_ch.close()
        await toolsim_ch.close()
        assert await toolsim.stop() == 0
        assert await store.stop() == 0
