"""Dataset statistics: nearest-rank quantiles, request lengths and growth, tools; the RPC over batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agentperf.runtime.server import in_process
from agentperf.services.trajectory_store import synthetic
from agentperf.services.trajectory_store.config import TrajectoryStoreConfig
from agentperf.services.trajectory_store.core import DatasetInfo
from agentperf.services.trajectory_store.formats import dump_jsonl
from agentperf.services.trajectory_store.servicer import TrajectoryStoreService, stats_to_proto
from agentperf.services.trajectory_store.stats import Distribution, dataset_stats, distribution, nearest_rank
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn
from agentperf.v1 import trajectory_store_pb2 as pb
from agentperf.v1 import trajectory_store_pb2_grpc


def test_nearest_rank() -> None:
    values = list(range(1, 101))  # 1..100
    assert [nearest_rank(values, q) for q in (0.5, 0.9, 0.95, 0.99, 1.0)] == [50, 90, 95, 99, 100]
    assert nearest_rank([7], 0.5) == 7
    # ceil(0.5 * 3) = 2nd smallest; ceil(0.9 * 3) = 3rd.
    assert distribution([30, 10, 20]) == Distribution(3, 10, 20, 20, 30, 30, 30, 30)
    assert distribution([]) == Distribution()


TRAJ = Trajectory(
    id="a",
    phases=(
        Phase(
            preamble_tokens=1000,
            turns=(
                Turn(100, 50, 0, ToolCall("bash", "shell", 2.0)),
                Turn(30, 20, 1100, ToolCall("grep", "search", 0.0)),
                Turn(10, 5, 1180, None),
            ),
        ),
        Phase(preamble_tokens=0, turns=(Turn(400, 60, 0, ToolCall("bash", "shell", 4.0)),)),
    ),
)


def test_request_lengths_growth_and_tools() -> None:
    result = dataset_stats([TRAJ, Trajectory(id="b", phases=(Phase(turns=(Turn(5, 1),)),))])
    assert result.trajectories == 2
    assert result.turns_per_trajectory == distribution([4, 1])
    assert result.phases_per_trajectory == distribution([2, 1])
    # Requests: 1000+100; 1100+50+30; 1180+20+10; phase 2: 400; trajectory b: 5.
    assert result.request_tokens == distribution([1100, 1180, 1210, 400, 5])
    # Growth within a phase only: previous output + this input.
    assert result.context_growth_tokens == distribution([80, 30])
    assert result.input_tokens_per_turn == distribution([100, 30, 10, 400, 5])
    assert result.output_tokens_per_turn == distribution([50, 20, 5, 60, 1])
    assert result.cached_tokens_per_turn == distribution([0, 1100, 1180, 0, 0])
    assert result.tool_calls == 3
    assert result.tool_delay_s == distribution([2.0, 4.0])  # the grep call has no recorded duration
    by_class = {t.tool_class: t for t in result.tools}
    assert [t.tool_class for t in result.tools] == ["read", "search", "edit", "test", "shell", "other"]
    assert (by_class["shell"].calls, by_class["shell"].calls_with_duration) == (2, 2)
    assert by_class["shell"].duration_s == distribution([2.0, 4.0])
    assert (by_class["search"].calls, by_class["search"].calls_with_duration) == (1, 0)
    assert by_class["read"].calls == 0


@pytest.fixture
async def stub(tmp_path: Path) -> AsyncIterator[trajectory_store_pb2_grpc.TrajectoryStoreStub]:
    service = TrajectoryStoreService(TrajectoryStoreConfig(db_path=str(tmp_path / "t.db"), stream_batch=3))
    async with in_process(service) as ch:
        yield trajectory_store_pb2_grpc.TrajectoryStoreStub(ch)


async def test_rpc_equals_the_pure_computation(stub: trajectory_store_pb2_grpc.TrajectoryStoreStub) -> None:
    trajs = list(synthetic.generate("local", count=20, seed=5))

    async def chunks() -> AsyncIterator[pb.ImportChunk]:
        yield pb.ImportChunk(dataset="syn", format="jsonl", data=dump_jsonl(trajs))

    info = await stub.Import(chunks())
    got = await stub.GetDatasetStats(pb.GetDatasetStatsRequest(dataset="syn"))
    want = stats_to_proto(
        DatasetInfo(info.name, info.format, info.source, info.created_unix_s, 20, info.turns, 0, 0),
        dataset_stats(trajs),
    )
    want.info.CopyFrom(info)
    assert got == want
    assert got.turns_per_trajectory.count == 20 and got.tool_calls == info.turns - 20
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetDatasetStats(pb.GetDatasetStatsRequest(dataset="nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as empty:
        await stub.GetDatasetStats(pb.GetDatasetStatsRequest())
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
