"""trajectory-store as a real process on loopback: import, synthetic, list, sharded streams, bad input."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.v1 import trajectory_store_pb2 as pb
from agentperf.v1 import trajectory_store_pb2_grpc

pytestmark = pytest.mark.e2e


def jsonl(count: int, bad_line: int = 0) -> bytes:
    lines = []
    for i in range(count):
        turn = {"input_tokens": 10 + i, "output_tokens": 5, "tool": {"name": "grep", "class": "search"}}
        if i + 1 == bad_line:
            turn["tool"] = {"name": "grep", "class": "network"}
        lines.append(json.dumps({"id": f"t-{i}", "phases": [{"preamble_tokens": 3, "turns": [turn]}]}))
    return ("\n".join(lines) + "\n").encode()


async def chunks(dataset: str, data: bytes, size: int = 13) -> AsyncIterator[pb.ImportChunk]:
    yield pb.ImportChunk(dataset=dataset, format="jsonl", source_name=f"{dataset}.jsonl", data=data[:size])
    for start in range(size, len(data), size):
        yield pb.ImportChunk(data=data[start : start + size])


async def test_store_process_serves_over_grpc(tmp_path: Path) -> None:
    args = ["--set", f"db_path={tmp_path / 'trajectories.db'}", "--set", "stream_batch=4"]
    child = await start_child(
        "trajectory-store", "agentperf.services.trajectory_store", args, log_dir=tmp_path
    )
    ch = channel(child.grpc_target)
    try:
        stub = trajectory_store_pb2_grpc.TrajectoryStoreStub(ch)
        info = await stub.Import(chunks("mine", jsonl(9)))
        assert (info.trajectories, info.turns, info.source) == (9, 9, "mine.jsonl")
        synth = await stub.GenerateSynthetic(
            pb.GenerateSyntheticRequest(dataset="syn", spec=pb.SyntheticSpec(count=10, seed=3))
        )
        assert synth.trajectories == 10
        listed = await stub.ListDatasets(pb.ListDatasetsRequest())
        assert [(d.name, d.format) for d in listed.datasets] == [("mine", "jsonl"), ("syn", "synthetic")]

        shards = []
        for index in range(3):
            request = pb.StreamTrajectoriesRequest(dataset="mine", shard_index=index, shard_count=3)
            shards.append([(t.index, t.id, t.dataset) async for t in stub.StreamTrajectories(request)])
        assert sorted(row for shard in shards for row in shard) == [(i, f"t-{i}", "mine") for i in range(9)]
        assert all(idx % 3 == k for k, shard in enumerate(shards) for idx, _, _ in shard)

        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.Import(chunks("broken", jsonl(5, bad_line=4)))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (bad.value.details() or "").startswith("broken.jsonl:4 field 'phases[0].turns[0].tool.class'")

        listed = await stub.ListDatasets(pb.ListDatasetsRequest())
        assert [d.name for d in listed.datasets] == ["mine", "syn"]
        health = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        url = f"http://127.0.0.1:{child.port('metrics_port')}/metrics"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            text = await response.text()
        assert 'agentperf_store_imports_total{kind="import",outcome="rejected"} 1.0' in text
        assert "agentperf_store_trajectories_streamed_total 9.0" in text
    finally:
        await ch.close()
        assert await child.stop() == 0
