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
    """Takes every record of one level.

    ``put`` never blocks and never drops a record. A sink that holds records in memory
    until they are acknowledged bounds that backlog by backpressure instead: while
    ``backlog_full`` is true, a producer that can afford to wait (an agent whose request
    has ended) awaits ``wait_room`` before its next request.
    """

    @property
    def written(self) -> int:
        """Records taken so far (handed to the transport, not necessarily acknowledged)."""
        ...

    @property
    def delivered(self) -> int:
        """Records acknowledged so far."""
        ...

    @property
    def backlog_full(self) -> bool:
        """True while the unacknowledged backlog is at its bound."""
        ...

    def start(self) -> None: ...

    def put(self, record: common_pb2.RequestRecord) -> None:
        """Accept a record without blocking."""
        ...

    async def wait_room(self) -> None:
        """Return once the backlog is below its bound (at once if it is, or if delivery failed)."""
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

    @property
    def delivered(self) -> int:
        return len(self.records)

    @property
    def backlog_full(self) -> bool:
        return False

    def start(self) -> None:
        pass

    def put(self, record: common_pb2.RequestRecord) -> None:
        self.records.append(record)

    async def wait_room(self) -> None:
        pass

    async def close(self) -> Delivery:
        return Delivery(len(self.records), len(self.records), 0)
