"""Where the judge holds records: a small store interface, its in-memory form, and the waiting ledger.

:class:`RecordStore` is the seam for persistence: an SQLite store can replace
:class:`MemoryRecordStore` without touching the servicer or the core. :class:`RecordLedger`
wraps a store with what the RPCs need on top: duplicate counting and a bounded wait until a
level holds a given number of records (an ``asyncio.Condition``, woken on every new record
while someone waits).
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass
from typing import Protocol

from agentperf.services.judge.core import Record


class RecordStore(Protocol):
    """Records held per run and level, idempotent on ``record_id``."""

    def add(self, record: Record) -> bool:
        """Hold ``record``; False (and nothing changes) when its record_id is already held."""
        ...

    def records(self, run_id: str, level: int) -> list[Record]:
        """Every record held for the run and level, in arrival order (a copy)."""
        ...

    def count(self, run_id: str, level: int) -> int:
        """How many records the run and level hold."""
        ...

    def level_counts(self, run_id: str) -> dict[int, int]:
        """Records per level of the run; empty for a run the store has never seen."""
        ...


class MemoryRecordStore:
    """The in-memory :class:`RecordStore` (lost when the process stops)."""

    def __init__(self) -> None:
        self._ids: set[str] = set()
        self._by_level: dict[str, dict[int, list[Record]]] = defaultdict(dict)

    def add(self, record: Record) -> bool:
        if record.record_id in self._ids:
            return False
        self._ids.add(record.record_id)
        self._by_level[record.run_id].setdefault(record.level, []).append(record)
        return True

    def records(self, run_id: str, level: int) -> list[Record]:
        return list(self._by_level.get(run_id, {}).get(level, ()))

    def count(self, run_id: str, level: int) -> int:
        return len(self._by_level.get(run_id, {}).get(level, ()))

    def level_counts(self, run_id: str) -> dict[int, int]:
        return {level: len(recs) for level, recs in sorted(self._by_level.get(run_id, {}).items())}


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    complete: bool
    held: int
    waited_s: float


class RecordLedger:
    """A :class:`RecordStore` plus waiting: Evaluate can block until a level holds enough records."""

    def __init__(self, store: RecordStore) -> None:
        self.store = store
        self._changed = asyncio.Condition()
        self._waiting = 0

    async def add(self, record: Record) -> bool:
        """Hold ``record`` (False for a duplicate) and wake waiters when it is new."""
        added = self.store.add(record)
        if added and self._waiting:
            async with self._changed:
                self._changed.notify_all()
        return added

    async def wait_for(self, run_id: str, level: int, expect: int, timeout_s: float) -> WaitOutcome:
        """Wait up to ``timeout_s`` until the level holds ``expect`` records; never raises on timeout."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        self._waiting += 1
        try:
            async with self._changed:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self.store.count(run_id, level) >= expect), timeout_s
                )
        except TimeoutError:
            pass
        finally:
            self._waiting -= 1
        held = self.store.count(run_id, level)
        return WaitOutcome(held >= expect, held, loop.time() - start)
