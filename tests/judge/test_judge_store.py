"""Record store and ledger: idempotent on record_id, counts per level, bounded waiting."""

from __future__ import annotations

import asyncio

from agentperf.services.judge.core import Record, Status
from agentperf.services.judge.store import MemoryRecordStore, RecordLedger


def rec(rid: str, level: int = 1, run: str = "run", in_window: bool = True) -> Record:
    return Record(rid, run, level, Status.OK, in_window, has_first_token=True, ttft_s=0.1)


def test_same_record_twice_is_held_once() -> None:
    store = MemoryRecordStore()
    assert store.add(rec("a")) is True
    assert store.add(rec("a")) is False
    assert store.count("run", 1) == 1
    assert store.records("run", 1) == [rec("a")]


def test_records_are_held_per_run_and_level() -> None:
    store = MemoryRecordStore()
    for rid, level, run in [("a", 2, "x"), ("b", 1, "x"), ("c", 2, "x"), ("d", 2, "y")]:
        store.add(rec(rid, level, run))
    assert store.level_counts("x") == {1: 1, 2: 2}
    assert store.level_counts("y") == {2: 1}
    assert store.level_counts("nope") == {}
    assert [r.record_id for r in store.records("x", 2)] == ["a", "c"]
    assert store.records("x", 9) == []


def test_warmup_records_are_held_too() -> None:
    store = MemoryRecordStore()
    store.add(rec("w", in_window=False))
    store.add(rec("m"))
    assert store.count("run", 1) == 2


def test_records_returns_a_copy() -> None:
    store = MemoryRecordStore()
    store.add(rec("a"))
    store.records("run", 1).clear()
    assert store.count("run", 1) == 1


async def test_wait_for_returns_when_the_level_holds_enough() -> None:
    ledger = RecordLedger(MemoryRecordStore())
    await ledger.add(rec("a"))
    waiter = asyncio.create_task(ledger.wait_for("run", 1, 3, timeout_s=30.0))
    await asyncio.sleep(0)
    assert not waiter.done()
    await ledger.add(rec("b"))
    await ledger.add(rec("b"))  # a duplicate does not count
    await ledger.add(rec("c", level=2))  # another level does not count
    await asyncio.sleep(0)
    assert not waiter.done()
    await ledger.add(rec("d"))
    outcome = await asyncio.wait_for(waiter, 5.0)
    assert outcome.complete and outcome.held == 3


async def test_wait_for_times_out_without_raising() -> None:
    ledger = RecordLedger(MemoryRecordStore())
    await ledger.add(rec("a"))
    outcome = await ledger.wait_for("run", 1, 5, timeout_s=0.05)
    assert (outcome.complete, outcome.held) == (False, 1)
    assert outcome.waited_s >= 0.05


async def test_wait_for_already_satisfied_returns_at_once() -> None:
    ledger = RecordLedger(MemoryRecordStore())
    await ledger.add(rec("a"))
    outcome = await ledger.wait_for("run", 1, 1, timeout_s=30.0)
    assert outcome.complete and outcome.waited_s < 1.0
