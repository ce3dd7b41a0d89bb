"""The engine's gRPC peers: toolsim for tool gaps, the judge for records.

:class:`ToolSimTools`: toolsim models a tool call's duration and waits it. If toolsim cannot
be reached the gap is slept locally (the recorded duration, else ``fallback_s``) so the agent
keeps its pace; such calls are counted in ``errors`` and the first one is logged.

:class:`JudgeSink` never blocks the agents: ``put`` appends to a queue that one task streams
to the judge's IngestRecords in batches: one client stream per batch, closed when it holds
``batch_size`` records or has been open ``batch_max_s``, so the judge's IngestSummary
acknowledges every batch. A batch stays in memory until acknowledged; if its stream breaks,
the next attempt re-sends it first. The judge is idempotent on record_id, so re-sent
records come back as duplicates, never as double counts; records_delivered = accepted +
duplicates over the acknowledged batches. Only transient failures (UNAVAILABLE,
DEADLINE_EXCEEDED, ...) are retried, ``retries`` times per batch with doubling backoff; a
rejection such as INVALID_ARGUMENT, or running out of retries, ends delivery for the level.

Memory is bounded by backpressure, not by dropping: records taken but not yet acknowledged
(the backlog) may reach ``max_backlog``; from then on ``backlog_full`` is true and a producer
awaits ``wait_room`` (the level runner makes an agent wait there after its request ended,
before its next one, so no measured interval is stretched) until a batch is acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator

import grpc

from agentperf.loadgen.sink import Delivery
from agentperf.trajectory import ToolCall
from agentperf.v1 import common_pb2, judge_pb2_grpc, toolsim_pb2, toolsim_pb2_grpc

log = logging.getLogger(__name__)

# Re-sending the same records cannot fix these: give up at once instead of retrying.
_FATAL = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
    }
)


class ToolSimTools:
    """Asks toolsim's RunTool, which waits the modelled delay before answering."""

    def __init__(self, channel: grpc.aio.Channel, fallback_s: float = 1.0) -> None:
        self._stub = toolsim_pb2_grpc.ToolSimStub(channel)
        self._fallback_s = fallback_s
        self._errors = 0

    @property
    def errors(self) -> int:
        return self._errors

    async def run_tool(self, tool: ToolCall, key: str) -> None:
        request = toolsim_pb2.RunToolRequest(
            tool=common_pb2.ToolCall(
                name=tool.name, tool_class=tool.tool_class, recorded_duration_s=tool.recorded_duration_s
            ),
            key=key,
        )
        try:
            await self._stub.RunTool(request)
        except grpc.aio.AioRpcError as exc:
            self._errors += 1
            if self._errors == 1:
                log.warning(
                    "toolsim RunTool failed (%s: %s); sleeping tool gaps locally",
                    exc.code().name,
                    exc.details(),
                )
            await asyncio.sleep(tool.recorded_duration_s or self._fallback_s)


class JudgeSink:
    """Streams records to the judge's IngestRecords in batches, re-sending unacknowledged ones."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        retries: int = 5,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
        batch_size: int = 1000,
        batch_max_s: float = 5.0,
        max_backlog: int = 50_000,
    ) -> None:
        self._stub = judge_pb2_grpc.JudgeStub(channel)
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._batch_size = max(1, batch_size)
        self._batch_max_s = batch_max_s
        self._max_backlog = max(1, max_backlog)
        self._queue: asyncio.Queue[common_pb2.RequestRecord | None] = asyncio.Queue()
        self._batch: list[common_pb2.RequestRecord] = []
        self._backlog = 0  # taken by put, not yet acknowledged
        self.backlog_peak = 0
        self._room = asyncio.Event()
        self._room.set()
        self._ended = False
        self._failed = False
        self._written = 0
        self._accepted = 0
        self._duplicates = 0
        self._task: asyncio.Task[Delivery] | None = None
        self.attempts = 0
        self.waits = 0  # times a producer had to wait for room

    @property
    def written(self) -> int:
        return self._written

    @property
    def delivered(self) -> int:
        """Records the judge has acknowledged so far (accepted + duplicates)."""
        return self._accepted + self._duplicates

    @property
    def backlog(self) -> int:
        return self._backlog

    @property
    def backlog_full(self) -> bool:
        return self._backlog >= self._max_backlog and not self._failed

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def put(self, record: common_pb2.RequestRecord) -> None:
        if self._failed:
            return  # counted as undelivered: requests_sent - records_delivered
        self._backlog += 1
        self.backlog_peak = max(self.backlog_peak, self._backlog)
        if self._backlog >= self._max_backlog:
            self._room.clear()
        self._queue.put_nowait(record)

    async def wait_room(self) -> None:
        if self.backlog_full:
            self.waits += 1
            await self._room.wait()

    async def close(self) -> Delivery:
        self._queue.put_nowait(None)
        if self._task is None:
            self.start()
        assert self._task is not None
        return await self._task

    async def _pump(self) -> Delivery:
        while True:
            first = await self._queue.get()
            if first is None:
                return Delivery(self.delivered, self._accepted, self._duplicates)
            self._batch = [first]
            self._written += 1
            error = await self._deliver_batch(time.monotonic() + self._batch_max_s)
            if error:
                self._fail()
                return Delivery(self.delivered, self._accepted, self._duplicates, error)
            if self._ended:
                return Delivery(self.delivered, self._accepted, self._duplicates)

    async def _deliver_batch(self, deadline: float) -> str:
        """One IngestRecords stream per batch, re-opened on transient failures; '' on success."""
        failures = 0
        while True:
            self.attempts += 1
            try:
                summary = await self._stub.IngestRecords(self._requests(deadline))
            except grpc.aio.AioRpcError as exc:
                failures += 1
                error = f"judge IngestRecords: {exc.code().name}: {exc.details()}"
                if failures > self._retries or exc.code() in _FATAL:
                    undelivered = self._backlog
                    log.error(
                        "%s; giving up after %d attempts, %d records undelivered",
                        error,
                        failures,
                        undelivered,
                    )
                    return f"{error} (gave up after {failures} attempts)"
                delay = min(self._max_backoff_s, self._backoff_s * 2 ** (failures - 1))
                log.warning("%s; re-sending %d records in %.2f s", error, len(self._batch), delay)
                await asyncio.sleep(delay)
                continue
            self._acknowledge(summary.accepted, summary.duplicates)
            return ""

    def _acknowledge(self, accepted: int, duplicates: int) -> None:
        self._accepted += accepted
        self._duplicates += duplicates
        self._backlog -= len(self._batch)
        self._batch = []
        if self._backlog < self._max_backlog:
            self._room.set()

    def _fail(self) -> None:
        # Nothing can be delivered any more: release waiting producers, drop the backlog.
        self._failed = True
        self._batch = []
        while not self._queue.empty():
            self._queue.get_nowait()
        self._room.set()

    async def _requests(self, deadline: float) -> AsyncIterator[common_pb2.RequestRecord]:
        # Re-send what an earlier stream of this batch may have lost: nothing is acknowledged
        # before the summary. Then fill the batch until it is full, due, or the sink closes.
        for i in range(len(self._batch)):
            yield self._batch[i]
        while len(self._batch) < self._batch_size and not self._ended:
            record = await self._take(deadline)
            if record is None:
                return
            self._batch.append(record)
            self._written += 1
            yield record

    async def _take(self, deadline: float) -> common_pb2.RequestRecord | None:
        """The next record, or None when the batch is due or the sink was closed."""
        try:
            record = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                async with asyncio.timeout(remaining):
                    record = await self._queue.get()
            except TimeoutError:
                return None
        if record is None:
            self._ended = True
        return record
