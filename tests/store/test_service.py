"""trajectory-store over in-process gRPC: imports (all-or-nothing), synthetic data, listing, sharded streams."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from agentperf.errors import ConfigError, ConflictError
from agentperf.runtime.server import in_process
from agentperf.services.trajectory_store.config import StoreLimits, TrajectoryStoreConfig
from agentperf.services.trajectory_store.core import DatasetHeader, Shard, check_shard
from agentperf.services.trajectory_store.formats import parse_jsonl
from agentperf.services.trajectory_store.servicer import TrajectoryStoreService
from agentperf.services.trajectory_store.store import TrajectoryDB
from agentperf.trajectory import from_proto
from agentperf.v1 import trajectory_store_pb2, trajectory_store_pb2_grpc


@dataclass
class StoreClient:
    service: TrajectoryStoreService
    stub: trajectory_store_pb2_grpc.TrajectoryStoreStub

    async def import_bytes(
        self, dataset: str, data: bytes, *, chunk: int = 7, replace: bool = False, source: str = "trajs.jsonl"
    ) -> trajectory_store_pb2.DatasetInfo:
        async def chunks() -> AsyncIterator[trajectory_store_pb2.ImportChunk]:
            yield trajectory_store_pb2.ImportChunk(
                dataset=dataset, format="jsonl", replace=replace, source_name=source, data=data[:chunk]
            )
            for start in range(chunk, len(data), chunk):
                yield trajectory_store_pb2.ImportChunk(data=data[start : start + chunk])

        info: trajectory_store_pb2.DatasetInfo = await self.stub.Import(chunks())
        return info

    async def ids(
        self, dataset: str, shard_index: int = 0, shard_count: int = 0, limit: int = 0
    ) -> list[str]:
        request = trajectory_store_pb2.StreamTrajectoriesRequest(
            dataset=dataset, shard_index=shard_index, shard_count=shard_count, limit=limit
        )
        return [t.id async for t in self.stub.StreamTrajectories(request)]


@pytest.fixture
def store_config(tmp_path: Path) -> TrajectoryStoreConfig:
    return TrajectoryStoreConfig(
        db_path=str(tmp_path / "trajectories.db"),
        stream_batch=3,
        limits=StoreLimits(max_import_bytes=1 << 20, max_turns_per_trajectory=50),
    )


@pytest.fixture
async def client(store_config: TrajectoryStoreConfig) -> AsyncIterator[StoreClient]:
    service = TrajectoryStoreService(store_config)
    async with in_process(service) as ch:
        yield StoreClient(service, trajectory_store_pb2_grpc.TrajectoryStoreStub(ch))


def traj_line(traj_id: str, turns: int = 2, **extra: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "id": traj_id,
        "phases": [
            {
                "preamble_tokens": 300,
                "turns": [
                    {"input_tokens": 100 + k, "output_tokens": 50, "tool": {"name": "bash", "class": "shell"}}
                    for k in range(turns)
                ],
            }
        ],
    }
    obj.update(extra)
    return obj


def jsonl(*objs: Any) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objs)


GOOD = jsonl(*(traj_line(f"t-{i:04d}", meta={"n": str(i)}) for i in range(10)))


async def rpc_error(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value


async def test_import_round_trip_with_lines_split_across_chunks(client: StoreClient) -> None:
    info = await client.import_bytes("ds", GOOD, chunk=5)
    assert (info.name, info.format, info.source) == ("ds", "jsonl", "trajs.jsonl")
    assert (info.trajectories, info.turns) == (10, 20)
    assert info.input_tokens == 10 * (300 + 100 + 101) and info.output_tokens == 10 * 100
    request = trajectory_store_pb2.StreamTrajectoriesRequest(dataset="ds")
    streamed = [from_proto(t) async for t in client.stub.StreamTrajectories(request)]
    expected = parse_jsonl(GOOD, source="x")
    assert [(t.dataset, t.index) for t in streamed] == [("ds", i) for i in range(10)]
    assert [t.phases for t in streamed] == [t.phases for t in expected]
    assert await client.service.store.meta("ds", 3) == {"n": "3"}
    listed = await client.stub.ListDatasets(trajectory_store_pb2.ListDatasetsRequest())
    assert [d.name for d in listed.datasets] == ["ds"]


async def test_existing_dataset_without_replace_conflicts(client: StoreClient) -> None:
    await client.import_bytes("ds", GOOD)
    err = await rpc_error(client.import_bytes("ds", GOOD))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    assert "set replace" in (err.details() or "")


async def test_bad_last_line_stores_nothing(client: StoreClient) -> None:
    bad = GOOD + b'{"id": "t-x", "phases": [{"turns": [{"input_tokens": 1, "output_tokens": -5}]}]}\n'
    err = await rpc_error(client.import_bytes("ds", bad))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == (
        "trajs.jsonl:11 field 'phases[0].turns[0].output_tokens': must be an integer >= 0, got -5"
    )
    listed = await client.stub.ListDatasets(trajectory_store_pb2.ListDatasetsRequest())
    assert list(listed.datasets) == []
    err = await rpc_error(client.ids("ds"))
    assert err.code() == grpc.StatusCode.NOT_FOUND


async def test_failed_replace_keeps_the_old_dataset(client: StoreClient) -> None:
    await client.import_bytes("ds", GOOD)
    bad = jsonl(traj_line("new-1"), traj_line("new-1"))
    err = await rpc_error(client.import_bytes("ds", bad, replace=True))
    assert "trajs.jsonl:2 field 'id': duplicate id" in (err.details() or "")
    assert await client.ids("ds") == [f"t-{i:04d}" for i in range(10)]
    info = await client.import_bytes("ds", jsonl(traj_line("new-1")), replace=True)
    assert info.trajectories == 1
    assert await client.ids("ds") == ["new-1"]


async def test_import_over_max_bytes_is_resource_exhausted(client: StoreClient) -> None:
    big = jsonl(*(traj_line(f"t-{i}", turns=40) for i in range(600)))
    assert len(big) > client.service.config.limits.max_import_bytes
    err = await rpc_error(client.import_bytes("big", big, chunk=64 * 1024))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "max_import_bytes" in (err.details() or "")


@pytest.mark.parametrize(
    ("chunks", "details"),
    [
        (
            [],
            "ImportChunk field 'dataset': empty import stream: the first chunk must name dataset and format",
        ),
        (
            [trajectory_store_pb2.ImportChunk(dataset="x", format="csv")],
            "ImportChunk field 'format': unknown format 'csv'; supported: ",
        ),
        ([trajectory_store_pb2.ImportChunk(dataset="a/b")], "ImportChunk field 'dataset': must be 1-200"),
        (
            [
                trajectory_store_pb2.ImportChunk(dataset="x", data=GOOD),
                trajectory_store_pb2.ImportChunk(dataset="x"),
            ],
            "ImportChunk field 'dataset': dataset, format and replace belong in the first chunk",
        ),
        ([trajectory_store_pb2.ImportChunk(dataset="x")], "x.jsonl: no trajectories"),
    ],
)
async def test_bad_import_streams_are_invalid_argument(
    client: StoreClient, chunks: list[trajectory_store_pb2.ImportChunk], details: str
) -> None:
    async def gen() -> AsyncIterator[trajectory_store_pb2.ImportChunk]:
        for c in chunks:
            yield c

    err = await rpc_error(client.stub.Import(gen()))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith(details)


async def test_synthetic_is_deterministic_and_states_its_distributions(client: StoreClient) -> None:
    spec = trajectory_store_pb2.SyntheticSpec(count=12, seed=5)
    first = await client.stub.GenerateSynthetic(
        trajectory_store_pb2.GenerateSyntheticRequest(dataset="a", spec=spec, preset="local")
    )
    await client.stub.GenerateSynthetic(
        trajectory_store_pb2.GenerateSyntheticRequest(dataset="b", spec=spec, preset="local")
    )
    assert (first.format, first.trajectories) == ("synthetic", 12)
    assert first.source.startswith("synthetic preset=local {")
    assert '"output_tokens_median":60.0' in first.source

    async def phases(name: str) -> list[Any]:
        request = trajectory_store_pb2.StreamTrajectoriesRequest(dataset=name)
        return [(t.id, list(t.phases)) async for t in client.stub.StreamTrajectories(request)]

    assert await phases("a") == await phases("b")
    assert (await phases("a"))[0][0] == "syn-5-0000"
    err = await rpc_error(
        client.stub.GenerateSynthetic(
            trajectory_store_pb2.GenerateSyntheticRequest(dataset="a", spec=spec, preset="local")
        )
    )
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS
    request = trajectory_store_pb2.GenerateSyntheticRequest(dataset="c", preset="agentperf", spec=spec)
    err = await rpc_error(client.stub.GenerateSynthetic(request))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED  # its 200 turns pass max_turns_per_trajectory=50
    request.spec.max_turns = 50
    info = await client.stub.GenerateSynthetic(request)
    assert info.trajectories == 12 and info.input_tokens > 12 * 5000


async def test_shards_are_disjoint_and_cover_everything(client: StoreClient) -> None:
    await client.stub.GenerateSynthetic(
        trajectory_store_pb2.GenerateSyntheticRequest(
            dataset="s", spec=trajectory_store_pb2.SyntheticSpec(count=17), preset="local"
        )
    )
    everything = await client.ids("s")
    assert len(everything) == 17
    for count in (1, 2, 3, 5, 20):
        shards = [await client.ids("s", i, count) for i in range(count)]
        union = list(itertools.chain.from_iterable(shards))
        assert sorted(union) == sorted(everything)
        assert len(set(union)) == 17
        for i, shard in enumerate(shards):
            assert shard == [everything[k] for k in range(i, 17, count)]
    assert await client.ids("s", 1, 3, limit=2) == [everything[1], everything[4]]
    assert await client.ids("s", limit=5) == everything[:5]


@pytest.mark.parametrize(
    ("index", "count", "limit", "field"),
    [(3, 3, 0, "shard_index"), (-1, 2, 0, "shard_index"), (0, -2, 0, "shard_count"), (0, 0, -1, "limit")],
)
async def test_bad_shard_arguments_are_invalid_argument(
    client: StoreClient, index: int, count: int, limit: int, field: str
) -> None:
    await client.import_bytes("ds", GOOD)
    err = await rpc_error(client.ids("ds", index, count, limit))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"StreamTrajectoriesRequest field '{field}'" in (err.details() or "")


async def test_stream_fetches_in_keyset_batches(client: StoreClient, monkeypatch: pytest.MonkeyPatch) -> None:
    await client.import_bytes("ds", GOOD)
    calls: list[tuple[int, int]] = []
    original = TrajectoryDB.fetch_batch

    def spy(
        self: TrajectoryDB, dataset_id: int, after_idx: int, shard: Shard, size: int
    ) -> list[tuple[int, bytes]]:
        rows = original(self, dataset_id, after_idx, shard, size)
        calls.append((after_idx, len(rows)))
        return rows

    monkeypatch.setattr(TrajectoryDB, "fetch_batch", spy)
    assert len(await client.ids("ds")) == 10
    assert calls == [(-1, 3), (2, 3), (5, 3), (8, 1)]  # stream_batch=3: never the whole dataset at once
    calls.clear()
    assert len(await client.ids("ds", 1, 2)) == 5
    assert calls == [(-1, 3), (5, 2)]


async def test_replace_during_a_stream_is_reported(client: StoreClient) -> None:
    await client.import_bytes("ds", GOOD)
    store = client.service.store
    stream = store.stream("ds", check_shard(0, 1, 0))
    assert (await anext(stream))[0] == 0
    header = DatasetHeader("ds", "jsonl", "again", replace=True)
    await store.write(header, parse_jsonl(GOOD, source="again"), 0.0)
    with pytest.raises(ConflictError, match="replaced or deleted while it was being streamed"):
        async for _row in stream:
            pass


async def test_database_survives_a_restart(store_config: TrajectoryStoreConfig) -> None:
    first = TrajectoryStoreService(store_config)
    await first.start()
    await first.store.write(DatasetHeader("ds", "jsonl", "f", False), parse_jsonl(GOOD, source="f"), 1.0)
    await first.stop()
    second = TrajectoryStoreService(store_config)
    await second.start()
    try:
        assert [d.trajectories for d in await second.store.list_datasets()] == [10]
    finally:
        await second.stop()


async def test_unusable_db_path_is_a_config_error(tmp_path: Path) -> None:
    service = TrajectoryStoreService(TrajectoryStoreConfig(db_path=str(tmp_path / "missing" / "x.db")))
    with pytest.raises(ConfigError, match="cannot open the SQLite database"):
        await service.start()
    await service.stop()


async def _import_files(client: StoreClient, dataset: str, files: list[tuple[str, bytes]]) -> Any:
    """One import carrying several files: a later chunk with only source_name starts the next file."""

    async def chunks() -> AsyncIterator[trajectory_store_pb2.ImportChunk]:
        for n, (name, data) in enumerate(files):
            if n == 0:
                yield trajectory_store_pb2.ImportChunk(
                    dataset=dataset, format="jsonl", source_name=name, data=data[:9]
                )
            else:
                yield trajectory_store_pb2.ImportChunk(source_name=name, data=data[:9])
            for start in range(9, len(data), 9):
                yield trajectory_store_pb2.ImportChunk(data=data[start : start + 9])

    return await client.stub.Import(chunks())


async def test_one_import_can_carry_several_files(client: StoreClient) -> None:
    first = jsonl(traj_line("a-1"), traj_line("a-2"))
    second = jsonl(traj_line("b-1", turns=3))
    info = await _import_files(client, "multi", [("a.jsonl", first), ("b.jsonl", second)])
    assert (info.trajectories, info.turns, info.token_method) == (3, 7, "declared")
    assert await client.ids("multi") == ["a-1", "a-2", "b-1"]


async def test_error_in_a_later_file_names_it_and_stores_nothing(client: StoreClient) -> None:
    first = jsonl(traj_line("a-1"))
    bad = jsonl(traj_line("b-1"), {"id": "b-2"})
    err = await rpc_error(_import_files(client, "multi", [("a.jsonl", first), ("b.jsonl", bad)]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.details() or "").startswith("b.jsonl:2 field 'phases'")
    dup = jsonl(traj_line("a-1"))
    err = await rpc_error(_import_files(client, "multi", [("a.jsonl", first), ("c.jsonl", dup)]))
    assert err.details() == "c.jsonl field 'id': duplicate trajectory id 'a-1' (also in a.jsonl)"
    listed = await client.stub.ListDatasets(trajectory_store_pb2.ListDatasetsRequest())
    assert list(listed.datasets) == []
