"""Where a level's records go: the :class:`RecordSink` interface and an in-memory sink.

The judge-backed sink is :class:`agentperf.loadgen.peers.JudgeSink`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from agentperf.v1 import common_pb2


@dataclass(frozen=True)
class Delivery:
    """Outcome of a level's record stream."""

    delivered: int = 0  # accepted + duplicates
    accepted: int = 0
    duplicates: int = 0
    error: str = ""  # non-empty: the records could not be delivered


class RecordSink(Protocol):
    """Takes every record of one level."""

    @property
    def written(self) -> int:
        """Records taken so far (handed to the transport, not necessarily acknowledged)."""
        ...

    def start(self) -> None: ...

    def put(self, record: common_pb2.RequestRecord) -> None:
        """Accept a record without blocking."""
        ...

    async def close(self) -> Delivery:
        """Deliver everything still pending and report."""
        ...


class MemorySink:
    """Keeps records in a list (CLI dry runs, tests)."""

    def __init__(self) -> None:
        self.records: list[common_pb2.RequestRecord] = []

    @property
    def written(self) -> int:
        return len(self.records)

    def start(self) -> None:
        pass

    def put(self, record: common_pb2.RequestRecord) -> None:
        self.records.append(record)

    async def close(self) -> Delivery:
        return Delivery(len(self.records), len(self.records), 0)
