"""The real trajectory files through a real trajectory-store process: import over gRPC, stream back, compare."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, ImportResult, get_format
from agentperf.tokencount import TokenizerCounter
from agentperf.trajectory import from_proto
from agentperf.v1 import trajectory_store_pb2 as pb
from agentperf.v1 import trajectory_store_pb2_grpc

pytestmark = pytest.mark.e2e

DATA = Path(__file__).resolve().parents[3] / ".." / "shared" / "data"
TOKENIZER = DATA / "tokenizers" / "phi-3-mini"
TRAJECTORIES = DATA / "trajectories"
FILES = (
    [("mini-swe-agent", path) for path in sorted((TRAJECTORIES / "mini-swe-agent").glob("*.traj.json"))]
    + [("swe-agent", path) for path in sorted((TRAJECTORIES / "swe-agent").glob("*.traj"))]
    + [("openhands", TRAJECTORIES / "openhands" / "output.jsonl")]
)
PIECE = 64 * 1024


async def chunks(dataset: str, fmt: str, source: str, data: bytes) -> AsyncIterator[pb.ImportChunk]:
    yield pb.ImportChunk(dataset=dataset, format=fmt, source_name=source, data=data[:PIECE])
    for start in range(PIECE, len(data), PIECE):
        yield pb.ImportChunk(data=data[start : start + PIECE])


def direct(fmt: str, path: Path, counter: TokenizerCounter) -> ImportResult:
    parser = get_format(fmt, source="test").make(ImportContext(path.name, "test", StoreLimits(), counter))
    parser.feed(path.read_bytes())
    return parser.finish()


async def test_every_real_file_imports_and_streams_back_unchanged(tmp_path: Path) -> None:
    assert len(FILES) == 7
    args = ["--set", f"db_path={tmp_path / 't.db'}", "--set", f"tokenizer_path={TOKENIZER}"]
    child = await start_child(
        "trajectory-store", "agentperf.services.trajectory_store", args, log_dir=tmp_path
    )
    ch = channel(child.grpc_target)
    counter = TokenizerCounter(TOKENIZER)
    try:
        stub = trajectory_store_pb2_grpc.TrajectoryStoreStub(ch)
        for i, (fmt, path) in enumerate(FILES):
            name = f"{fmt}-{i}"
            expected = direct(fmt, path, counter)
            info = await stub.Import(chunks(name, fmt, path.name, path.read_bytes()))
            assert (info.format, info.source, info.token_method) == (fmt, path.name, expected.token_method)
            assert info.trajectories == len(expected.trajectories)
            assert info.turns == sum(t.turn_count for t in expected.trajectories)
            request = pb.StreamTrajectoriesRequest(dataset=name)
            streamed = [from_proto(msg) async for msg in stub.StreamTrajectories(request)]
            assert streamed == [dataclasses.replace(t, dataset=name) for t in expected.trajectories]

        broken = FILES[0][1].read_bytes().replace(b'"prompt_tokens": 1496', b'"prompt_tokens": "1496"', 1)
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.Import(chunks("broken", "mini-swe-agent", "broken.traj.json", broken))
        assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        details = bad.value.details() or ""
        assert details.startswith("broken.traj.json field 'messages[2].extra.response.usage.prompt_tokens'")
        listed = await stub.ListDatasets(pb.ListDatasetsRequest())
        assert len(listed.datasets) == len(FILES)
    finally:
        await ch.close()
        assert await child.stop() == 0
