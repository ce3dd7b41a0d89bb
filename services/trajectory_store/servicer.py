"""gRPC face of the trajectory store: protobuf <-> domain objects; rules in ``core``, rows in ``store``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator

import grpc
from prometheus_client import Counter

from agentperf.errors import AgentperfError, ConflictError, InputError
from agentperf.runtime.grpc_errors import grpc_method
from agentperf.services.trajectory_store import stats, synthetic
from agentperf.services.trajectory_store.config import TrajectoryStoreConfig
from agentperf.services.trajectory_store.core import (
    DatasetHeader,
    DatasetInfo,
    ImportSession,
    Shard,
    check_dataset_name,
    check_shard,
    check_synthetic_limits,
)
from agentperf.services.trajectory_store.store import TrajectoryStore
from agentperf.tokencount import make_counter
from agentperf.trajectory import from_proto
from agentperf.v1 import common_pb2, trajectory_store_pb2, trajectory_store_pb2_grpc

IMPORTS = Counter(
    "agentperf_store_imports",
    "Dataset writes (imports and synthetic), by kind and outcome.",
    ["kind", "outcome"],
)
IMPORT_BYTES = Counter("agentperf_store_import_bytes", "Raw bytes received by Import.")
STREAMED = Counter("agentperf_store_trajectories_streamed", "Trajectories sent by StreamTrajectories.")


def info_to_proto(info: DatasetInfo) -> trajectory_store_pb2.DatasetInfo:
    return trajectory_store_pb2.DatasetInfo(
        name=info.name,
        format=info.format,
        trajectories=info.trajectories,
        turns=info.turns,
        input_tokens=info.input_tokens,
        output_tokens=info.output_tokens,
        created_unix_s=info.created_unix_s,
        source=info.source,
        token_method=info.token_method,
    )


def distribution_to_proto(d: stats.Distribution) -> trajectory_store_pb2.Distribution:
    return trajectory_store_pb2.Distribution(
        count=d.count, min=d.min, mean=d.mean, p50=d.p50, p90=d.p90, p95=d.p95, p99=d.p99, max=d.max
    )


def stats_to_proto(info: DatasetInfo, result: stats.DatasetStats) -> trajectory_store_pb2.DatasetStats:
    dist = distribution_to_proto
    return trajectory_store_pb2.DatasetStats(
        info=info_to_proto(info),
        turns_per_trajectory=dist(result.turns_per_trajectory),
        phases_per_trajectory=dist(result.phases_per_trajectory),
        input_tokens_per_turn=dist(result.input_tokens_per_turn),
        output_tokens_per_turn=dist(result.output_tokens_per_turn),
        cached_tokens_per_turn=dist(result.cached_tokens_per_turn),
        request_tokens=dist(result.request_tokens),
        context_growth_tokens=dist(result.context_growth_tokens),
        tool_delay_s=dist(result.tool_delay_s),
        tool_calls=result.tool_calls,
        tools=[
            trajectory_store_pb2.ToolClassStats(
                tool_class=t.tool_class,
                calls=t.calls,
                calls_with_duration=t.calls_with_duration,
                duration_s=dist(t.duration_s),
            )
            for t in result.tools
        ],
    )


def _add_payloads(builder: stats.StatsBuilder, rows: list[tuple[int, bytes]]) -> None:
    for _idx, payload in rows:
        builder.add(from_proto(common_pb2.Trajectory.FromString(payload)))


class TrajectoryStoreServicer(trajectory_store_pb2_grpc.TrajectoryStoreServicer):
    """Implements agentperf.v1.TrajectoryStore over a :class:`TrajectoryStore`."""

    def __init__(self, config: TrajectoryStoreConfig, store: TrajectoryStore) -> None:
        self._config = config
        self._store = store
        self._counter = make_counter(config.tokenizer_path)

    @grpc_method
    async def Import(  # noqa: N802 -- gRPC method name
        self, chunks: AsyncIterator[trajectory_store_pb2.ImportChunk], context: grpc.aio.ServicerContext
    ) -> trajectory_store_pb2.DatasetInfo:
        try:
            info = await self._import(chunks)
        except AgentperfError:
            IMPORTS.labels("import", "rejected").inc()
            raise
        IMPORTS.labels("import", "stored").inc()
        return info_to_proto(info)

    async def _import(self, chunks: AsyncIterator[trajectory_store_pb2.ImportChunk]) -> DatasetInfo:
        session = ImportSession(self._config.limits, self._counter)
        async for chunk in chunks:
            first = session.header is None
            session.add_chunk(
                dataset=chunk.dataset,
                format=chunk.format,
                replace=chunk.replace,
                source_name=chunk.source_name,
                data=chunk.data,
            )
            IMPORT_BYTES.inc(len(chunk.data))
            if first:
                await self._refuse_existing(session)
            if chunk.data:
                # JSON parsing is CPU work: keep it off the event loop.
                await asyncio.to_thread(session.feed, chunk.data)
        result = await asyncio.to_thread(session.finish)
        assert session.header is not None
        header = dataclasses.replace(session.header, token_method=result.token_method)
        return await self._store.write(header, result.trajectories, time.time())

    async def _refuse_existing(self, session: ImportSession) -> None:
        """Fail fast, before any data is parsed; the write checks again inside its transaction."""
        header = session.header
        if header is not None and not header.replace and await self._store.exists(header.name):
            raise ConflictError(f"dataset {header.name!r} exists; set replace to overwrite it")

    @grpc_method
    async def GenerateSynthetic(  # noqa: N802 -- gRPC method name
        self, request: trajectory_store_pb2.GenerateSyntheticRequest, context: grpc.aio.ServicerContext
    ) -> trajectory_store_pb2.DatasetInfo:
        name = check_dataset_name(request.dataset, "GenerateSyntheticRequest")
        overrides = {field.name: value for field, value in request.spec.ListFields()}
        preset = request.preset or synthetic.DEFAULT_PRESET
        params = synthetic.resolve(preset, overrides)
        check_synthetic_limits(params, self._config.limits)
        stated = json.dumps(dataclasses.asdict(params), separators=(",", ":"))
        header = DatasetHeader(
            name, synthetic.FORMAT_NAME, f"synthetic preset={preset} {stated}", request.replace, "declared"
        )
        info = await self._store.write(header, synthetic.generate_params(params), time.time())
        IMPORTS.labels("synthetic", "stored").inc()
        return info_to_proto(info)

    @grpc_method
    async def ListDatasets(  # noqa: N802 -- gRPC method name
        self, request: trajectory_store_pb2.ListDatasetsRequest, context: grpc.aio.ServicerContext
    ) -> trajectory_store_pb2.ListDatasetsResponse:
        datasets = await self._store.list_datasets()
        return trajectory_store_pb2.ListDatasetsResponse(datasets=[info_to_proto(d) for d in datasets])

    @grpc_method
    async def StreamTrajectories(  # noqa: N802 -- gRPC method name
        self, request: trajectory_store_pb2.StreamTrajectoriesRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[common_pb2.Trajectory]:
        if not request.dataset:
            raise InputError("must name a dataset", source="StreamTrajectoriesRequest", field="dataset")
        shard = check_shard(request.shard_index, request.shard_count, request.limit)
        async for idx, payload in self._store.stream(request.dataset, shard):
            msg = common_pb2.Trajectory.FromString(payload)
            msg.dataset = request.dataset
            msg.index = idx
            STREAMED.inc()
            yield msg

    @grpc_method
    async def GetDatasetStats(  # noqa: N802 -- gRPC method name
        self, request: trajectory_store_pb2.GetDatasetStatsRequest, context: grpc.aio.ServicerContext
    ) -> trajectory_store_pb2.DatasetStats:
        if not request.dataset:
            raise InputError("must name a dataset", source="GetDatasetStatsRequest", field="dataset")
        dataset_id, info = await self._store.describe(request.dataset)
        builder = stats.StatsBuilder()
        async for rows in self._store.batches(dataset_id, Shard(0, 1, 0)):
            # Decoding is CPU work: one batch at a time, off the event loop.
            await asyncio.to_thread(_add_payloads, builder, rows)
        result = await asyncio.to_thread(builder.result)
        return stats_to_proto(info, result)


class TrajectoryStoreService:
    """The trajectory-store service object for :func:`agentperf.runtime.server.service_main`."""

    def __init__(self, config: TrajectoryStoreConfig) -> None:
        self.config = config
        self.store = TrajectoryStore(config.db_path, config.stream_batch)
        self.servicer = TrajectoryStoreServicer(config, self.store)

    def register(self, server: grpc.aio.Server) -> list[str]:
        trajectory_store_pb2_grpc.add_TrajectoryStoreServicer_to_server(self.servicer, server)
        return [trajectory_store_pb2.DESCRIPTOR.services_by_name["TrajectoryStore"].full_name]

    async def start(self) -> None:
        """Open the database and create the schema if it is new."""
        await self.store.open()

    async def stop(self) -> None:
        """Close both connections; every acknowledged import was committed already."""
        await self.store.close()
