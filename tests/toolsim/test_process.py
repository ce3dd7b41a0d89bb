"""toolsim as a real process on loopback: deterministic delays, recorded mode, metrics, bad input."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import grpc
import pytest

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.v1 import common_pb2, toolsim_pb2, toolsim_pb2_grpc

pytestmark = pytest.mark.e2e


async def test_toolsim_process_serves_over_grpc(tmp_path: Path) -> None:
    args = ["--set", "seed=42", "--set", "time_scale=0.001", "--set", "model=recorded"]
    child = await start_child("toolsim", "agentperf.services.toolsim", args, log_dir=tmp_path)
    ch = channel(child.grpc_target)
    try:
        stub = toolsim_pb2_grpc.ToolSimStub(ch)
        shell = common_pb2.ToolCall(name="bash", tool_class="shell")
        first = await stub.RunTool(toolsim_pb2.RunToolRequest(key="run-1/agent-0/turn-3", tool=shell))
        again = await stub.RunTool(toolsim_pb2.RunToolRequest(key="run-1/agent-0/turn-3", tool=shell))
        assert first.modelled_delay_s == again.modelled_delay_s == pytest.approx(1.4993547625031962)
        assert first.delay_s == pytest.approx(first.modelled_delay_s * 0.001)
        recorded = common_pb2.ToolCall(name="pytest", tool_class="test", recorded_duration_s=3.0)
        response = await stub.RunTool(toolsim_pb2.RunToolRequest(key="x", tool=recorded))
        assert (response.model, response.modelled_delay_s) == ("recorded", 3.0)

        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.RunTool(
                toolsim_pb2.RunToolRequest(key="y", tool=common_pb2.ToolCall(tool_class="rm -rf"))
            )
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "RunToolRequest field 'tool.tool_class'" in (bad.value.details() or "")
        assert (await stub.RunTool(toolsim_pb2.RunToolRequest(key="z"))).tool_class == "other"

        url = f"http://127.0.0.1:{child.port('metrics_port')}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as reply:
            text = await reply.text()
        assert 'agentperf_toolsim_calls_total{tool_class="shell"} 2.0' in text
        assert 'agentperf_toolsim_delay_seconds_count{tool_class="test"} 1.0' in text
    finally:
        await ch.close()
        assert await child.stop() == 0
