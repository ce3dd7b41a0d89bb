"""The engine's gRPC peers: toolsim for tool gaps, the judge for records.

:class:`ToolSimTools`: toolsim models a tool call's duration and waits it. If toolsim cannot
be reached the gap is slept locally (the recorded duration, else ``fallback_s``) so the agent
keeps its pace; such calls are counted in ``errors`` and the first one is logged.

:class:`JudgeSink` never blocks the agents: ``put`` appends to an unbounded queue that one
task streams to the judge's IngestRecords. Every record handed to a stream stays buffered
until the judge acknowledges the stream with its IngestSummary (it has no per-record acks),
so if the stream breaks, the next attempt re-sends all of them first; the judge is
idempotent on record_id, so re-sent records come back as duplicates, never as double
counts. records_delivered = accepted + duplicates of the stream that succeeded. Only
transient failures (UNAVAILABLE, DEADLINE_EXCEEDED, ...) are retried; a rejection such as
INVALID_ARGUMENT ends delivery at once.
"""

from __future__ import annotations

import asyncio
import logging
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
    """Streams records to the judge's IngestRecords, re-sending unacknowledged ones on failure."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        retries: int = 5,
        backoff_s: float = 0.25,
        max_backoff_s: float = 4.0,
    ) -> None:
        self._stub = judge_pb2_grpc.JudgeStub(channel)
        self._retries = retries
        self._backoff_s = backoff_s
        self._max_backoff_s = max_backoff_s
        self._queue: asyncio.Queue[common_pb2.RequestRecord | None] = asyncio.Queue()
        self._pending: list[common_pb2.RequestRecord] = []
        self._ended = False
        self._task: asyncio.Task[Delivery] | None = None
        self.attempts = 0

    @property
    def written(self) -> int:
        return len(self._pending)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._pump())

    def put(self, record: common_pb2.RequestRecord) -> None:
        self._queue.put_nowait(record)

    async def close(self) -> Delivery:
        self._queue.put_nowait(None)
        if self._task is None:
            self.start()
        assert self._task is not None
        return await self._task

    async def _pump(self) -> Delivery:
        failures = 0
        while True:
            self.attempts += 1
            try:
                summary = await self._stub.IngestRecords(self._requests())
            except grpc.aio.AioRpcError as exc:
                failures += 1
                error = f"judge IngestRecords: {exc.code().name}: {exc.details()}"
                if failures > self._retries or exc.code() in _FATAL:
                    log.error(
                        "%s; giving up after %d attempts, %d records undelivered",
                        error,
                        failures,
                        len(self._pending),
                    )
                    return Delivery(error=f"{error} (gave up after {failures} attempts)")
                delay = min(self._max_backoff_s, self._backoff_s * 2 ** (failures - 1))
                log.warning("%s; re-sending %d records in %.2f s", error, len(self._pending), delay)
                await asyncio.sleep(delay)
                continue
            return Delivery(summary.accepted + summary.duplicates, summary.accepted, summary.duplicates)

    async def _requests(self) -> AsyncIterator[common_pb2.RequestRecord]:
        # Re-send what an earlier stream may have lost: nothing is acknowledged before the summary.
        for i in range(len(self._pending)):
            yield self._pending[i]
        while not self._ended:
            record = await self._queue.get()
            if record is None:
                self._ended = True
                return
            self._pending.append(record)
            yield record
