"""The judge's SQLite store: idempotent batches, atomic commits, reopening, shards, waiting."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from agentperf.errors import ConfigError
from agentperf.services.judge import stats
from agentperf.services.judge.core import Record, Rules, Status, Tier
from agentperf.services.judge.store import BatchOutcome, JudgeDB, JudgeStore
from agentperf.v1 import common_pb2, judge_pb2

RULES = Rules(min_samples=20, min_speed_tokens=2)
TIERS = (Tier("slo1", 30.0, 10.0), Tier("slo2", 100.0, 5.0))


def rec(rid: str, *, level: int = 1, run: str = "run", shard: int = 0, ttft: float = 0.5) -> Record:
    return Record(
        rid,
        run,
        level,
        Status.OK,
        True,
        send_unix_s=1000.0,
        has_first_token=True,
        ttft_s=ttft,
        first_to_last_s=1.0,
        output_tokens=61,
        first_chunk_tokens=1,
        shard=shard,
    )


def mixed(rng: random.Random, n: int, run: str = "run") -> list[Record]:
    """OK, failed, censored and warm-up records with varied timings."""
    out = []
    for i in range(n):
        kind = rng.random()
        base = rec(f"{run}/{i}", run=run, ttft=rng.lognormvariate(0, 1))
        if kind < 0.05:
            base = Record(base.record_id, run, 1, Status.FAILED, True, send_unix_s=1000.0 + i)
        elif kind < 0.1:
            base = Record(
                base.record_id, run, 1, Status.CENSORED, True, send_unix_s=1000.0, waited_s=rng.uniform(0, 20)
            )
        elif kind < 0.15:
            base = Record(base.record_id, run, 1, Status.OK, False, has_first_token=True, ttft_s=50.0)
        out.append(base)
    return out


def open_db(path: Path | str, rules: Rules = RULES) -> JudgeDB:
    db = JudgeDB(str(path), rules)
    db.open()
    return db


class FailingCommit(JudgeDB):
    """A database whose COMMIT fails while ``fail`` is set (a full disk, an I/O error)."""

    fail = False

    def _commit(self) -> None:
        if self.fail:
            raise sqlite3.OperationalError("disk I/O error")
        super()._commit()


def test_ingest_is_idempotent_within_and_across_batches() -> None:
    db = open_db(":memory:")
    first = db.ingest([rec("a"), rec("b"), rec("b")])
    assert (first.accepted, first.duplicates) == (2, 1)
    second = db.ingest([rec("b"), rec("c"), rec("a", level=2, run="other")])
    assert (second.accepted, second.duplicates) == (1, 2)
    assert second.totals == {("run", 1): 3}
    assert db.count("run", 1) == 3
    assert db.totals() == {("run", 1): 3}
    assert first.accepted_by_status == {"OK": 2}


def test_reopening_the_file_keeps_ids_aggregates_runs_and_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "judge.db"
    records = mixed(random.Random(7), 300)
    db = open_db(path)
    for start in range(0, 300, 100):
        db.ingest(records[start : start + 100])
    before = db.merged(["run"], 1)
    db.put_run(judge_pb2.RunState(run_id="run", phase=judge_pb2.RUN_PHASE_FINISHED, updated_unix_s=5.0))
    db.add_verdict(common_pb2.LevelVerdict(run_id="run", level=1, records_total=300), 6.0)
    db.close()

    again = open_db(path)
    assert again.merged(["run"], 1) == before
    assert again.count("run", 1) == 300
    resent = again.ingest(records)
    assert (resent.accepted, resent.duplicates) == (0, 300)
    assert again.merged(["run"], 1) == before
    state = again.get_run("run")
    assert state is not None and state.phase == judge_pb2.RUN_PHASE_FINISHED
    assert [v.records_total for v in again.latest_verdicts("run")] == [300]
    again.close()


def test_a_failed_commit_leaves_memory_and_file_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "judge.db"
    db = FailingCommit(str(path), RULES)
    db.open()
    db.ingest([rec("a"), rec("b", shard=1)])
    before = (db.aggregate("run", 1, 0), db.aggregate("run", 1, 1), db.count("run", 1))

    db.fail = True
    batch = [rec("a"), rec("c"), rec("d", shard=1), rec("e", shard=2)]
    with pytest.raises(sqlite3.OperationalError):
        db.ingest(batch)
    assert (db.aggregate("run", 1, 0), db.aggregate("run", 1, 1), db.count("run", 1)) == before
    assert db.aggregate("run", 1, 2) is None
    assert db.held_ids("run") == 2

    # The ids were rolled back too: the resent batch is new, except the one acknowledged before.
    db.fail = False
    outcome = db.ingest(batch)
    assert (outcome.accepted, outcome.duplicates) == (3, 1)
    assert db.count("run", 1) == 5
    db.close()
    assert open_db(path).count("run", 1) == 5


def test_shards_merge_to_the_same_aggregate_and_verdict_as_one_shard() -> None:
    records = mixed(random.Random(11), 600)
    one, many = open_db(":memory:"), open_db(":memory:")
    one.ingest(records)
    many.ingest([replace(r, shard=i % 3) for i, r in enumerate(records)])
    assert many.shards("run", 1) == [0, 1, 2]
    (agg_one, shards_one), (agg_many, shards_many) = one.merged(["run"], 1), many.merged(["run"], 1)
    assert (shards_one, shards_many) == (1, 3)
    assert agg_one == agg_many
    assert stats.evaluate_aggregate("run", 1, agg_one, TIERS, RULES) == stats.evaluate_aggregate(
        "run", 1, agg_many, TIERS, RULES
    )


def test_merge_run_ids_equals_one_run_of_all_records() -> None:
    records = mixed(random.Random(3), 200)
    split, whole = open_db(":memory:"), open_db(":memory:")
    split.ingest([replace(r, run_id="a") for r in records[:120]])
    split.ingest([replace(r, run_id="a~2") for r in records[120:]])
    whole.ingest(records)
    assert split.merged(["a", "a~2", "a"], 1)[0] == whole.merged(["run"], 1)[0]
    assert split.merged(["a", "nothing"], 1)[0].records_total == 120


def test_unknown_run_merges_to_an_empty_aggregate() -> None:
    agg, shards = open_db(":memory:").merged(["nobody"], 3)
    assert (agg.records_total, shards) == (0, 0)


def test_runs_and_latest_verdicts() -> None:
    db = open_db(":memory:")
    assert db.get_run("x") is None and db.runs() == [] and db.latest_verdicts("x") == []
    db.put_run(judge_pb2.RunState(run_id="x", phase=judge_pb2.RUN_PHASE_RUNNING, updated_unix_s=1.0))
    db.put_run(judge_pb2.RunState(run_id="y", phase=judge_pb2.RUN_PHASE_RUNNING, updated_unix_s=2.0))
    db.put_run(judge_pb2.RunState(run_id="x", phase=judge_pb2.RUN_PHASE_FINISHED, updated_unix_s=3.0))
    assert [(s.run_id, s.phase) for s in db.runs()] == [("x", judge_pb2.RUN_PHASE_FINISHED), ("y", 1)]
    for level, total, at in [(8, 1, 1.0), (4, 2, 2.0), (8, 3, 3.0)]:
        db.add_verdict(common_pb2.LevelVerdict(run_id="x", level=level, records_total=total), at)
    assert [(v.level, v.records_total) for v in db.latest_verdicts("x")] == [(4, 2), (8, 3)]


def test_a_database_of_another_accuracy_or_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "judge.db"
    db = open_db(path)
    db.ingest([rec("a")])
    db.close()
    with pytest.raises(ConfigError, match=r"relative_accuracy 0\.01"):
        open_db(path, Rules(relative_accuracy=0.02))
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version=99")
    with pytest.raises(ConfigError, match="schema version 99"):
        open_db(path)


def test_a_damaged_aggregate_or_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "judge.db"
    db = open_db(path)
    db.ingest([rec("a")])
    db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "UPDATE aggregates SET aggregate = ?",
            (judge_pb2.LevelAggregate(records_total=1).SerializeToString(),),
        )
    with pytest.raises(ConfigError, match="run 'run' level 1 shard 0 is damaged"):
        open_db(path)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(ConfigError, match=r"garbage\.db"):
        open_db(garbage)


# -- the async face -------------------------------------------------------------------------


async def open_store(observed: list[BatchOutcome] | None = None) -> JudgeStore:
    store = JudgeStore(JudgeDB(":memory:", RULES), None if observed is None else observed.append)
    await store.open()
    return store


async def test_wait_for_returns_when_the_level_holds_enough() -> None:
    observed: list[BatchOutcome] = []
    store = await open_store(observed)
    await store.ingest([rec("a")])
    waiter = asyncio.create_task(store.wait_for("run", 1, 3, timeout_s=30.0))
    await asyncio.sleep(0)
    await store.ingest([rec("b"), rec("b"), rec("c", level=2)])  # a duplicate and another level
    await asyncio.sleep(0)
    assert not waiter.done()
    await store.ingest([rec("d")])
    outcome = await asyncio.wait_for(waiter, 5.0)
    assert outcome.complete and outcome.held == 3
    assert [(o.accepted, o.duplicates) for o in observed] == [(1, 0), (2, 1), (1, 0)]
    assert store.level_counts("run") == {1: 3, 2: 1}
    await store.close()


async def test_wait_for_times_out_without_raising_or_returns_at_once() -> None:
    store = await open_store()
    await store.ingest([rec("a")])
    outcome = await store.wait_for("run", 1, 5, timeout_s=0.05)
    assert (outcome.complete, outcome.held) == (False, 1)
    assert outcome.waited_s >= 0.05
    quick = await store.wait_for("run", 1, 1, timeout_s=30.0)
    assert quick.complete and quick.waited_s < 1.0
    await store.close()


async def test_a_cancelled_ingest_still_counts_what_it_committed() -> None:
    observed: list[BatchOutcome] = []
    store = await open_store(observed)
    task = asyncio.create_task(store.ingest([rec(str(i)) for i in range(50)]))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    waited = await store.wait_for("run", 1, 50, timeout_s=10.0)
    assert waited.complete
    assert [o.accepted for o in observed] == [50]
    await store.close()
