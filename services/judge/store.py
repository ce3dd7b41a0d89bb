"""The judge's durable state in SQLite, and the async face the servicer uses.

What is kept (the schema is documented in docs/judge.md):

* ``records``: every record id ever accepted, with its run, level and shard. ``INSERT OR
  IGNORE`` on the primary key is what makes ingest idempotent, across restarts too.
* ``aggregates``: one serialized ``agentperf.v1.LevelAggregate`` per (run, level, shard).
  Records themselves are not kept: their contribution lives in the aggregate.
* ``runs``: the latest ``RunState`` of each run (PutRun).
* ``verdicts``: every non-preview ``LevelVerdict``, appended.

Durability: a batch of records is applied in ONE transaction (ids and the aggregates they
changed); the caller acknowledges the batch only after :meth:`JudgeDB.ingest` returned, that
is after COMMIT. WAL with ``synchronous=FULL`` makes a commit survive a power loss as well
as a killed process. The in-memory aggregates are copies until the commit succeeded, so a
failed commit leaves them exactly as the database has them.

Threads: sqlite3 objects never cross threads. :class:`JudgeStore` runs every
:class:`JudgeDB` call on one dedicated worker thread (one writer, calls in order), which
also owns the in-memory aggregates; the event loop only keeps per-level record counts for
waiting.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from agentperf.errors import ConfigError, InputError
from agentperf.services.judge import stats
from agentperf.services.judge.core import Record, Rules
from agentperf.v1 import common_pb2, judge_pb2

T = TypeVar("T")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
  record_id TEXT PRIMARY KEY,
  run_id TEXT NOT NULL,
  level INTEGER NOT NULL,
  shard INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS aggregates (
  run_id TEXT NOT NULL,
  level INTEGER NOT NULL,
  shard INTEGER NOT NULL,
  aggregate BLOB NOT NULL,
  PRIMARY KEY (run_id, level, shard)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  state BLOB NOT NULL,
  updated_unix_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS verdicts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  level INTEGER NOT NULL,
  evaluated_unix_s REAL NOT NULL,
  verdict BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS verdicts_by_run ON verdicts (run_id, level, id);
"""

LevelKey = tuple[str, int]  # (run_id, level)


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What one committed batch did."""

    accepted: int = 0
    duplicates: int = 0
    # New records per status name (OK, FAILED, CENSORED), for metrics.
    accepted_by_status: dict[str, int] = field(default_factory=dict)
    # Records held after the commit, per (run, level) the batch touched (warm-up included).
    totals: dict[LevelKey, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WaitOutcome:
    complete: bool
    held: int
    waited_s: float


class JudgeDB:
    """The judge's SQLite database plus the aggregates it holds, on one connection.

    Not thread-safe: use an instance from one thread only (:class:`JudgeStore` does).
    ``rules`` gives ``min_speed_tokens`` and ``relative_accuracy``, applied as records are
    folded into aggregates.
    """

    def __init__(self, path: str, rules: Rules) -> None:
        self.path = path
        self.rules = rules
        self._conn: sqlite3.Connection | None = None
        self._levels: dict[LevelKey, dict[int, stats.LevelAggregate]] = {}

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("JudgeDB is not open")
        return self._conn

    def open(self) -> None:
        """Open (or create) the database and load every aggregate; unusable files are a ConfigError."""
        try:
            conn = sqlite3.connect(self.path, isolation_level=None)
        except sqlite3.Error as exc:
            raise ConfigError(f"db_path {self.path!r}: cannot open the SQLite database: {exc}") from exc
        try:
            self._prepare(conn)
            self._conn = conn
            self._load()
        except sqlite3.Error as exc:
            conn.close()
            self._conn = None
            raise ConfigError(f"db_path {self.path!r}: cannot use the SQLite database: {exc}") from exc
        except BaseException:
            conn.close()
            self._conn = None
            raise

    def _prepare(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk (WAL fsynced) before the batch is acknowledged, so an
        # acknowledged record survives a power loss, not only a killed process.
        conn.execute("PRAGMA synchronous=FULL")
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version not in (0, SCHEMA_VERSION):
            raise ConfigError(
                f"db_path {self.path!r}: schema version {version}, this judge knows {SCHEMA_VERSION}"
            )
        conn.executescript(_SCHEMA)
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def _load(self) -> None:
        self._levels = {}
        rows = self.conn.execute("SELECT run_id, level, shard, aggregate FROM aggregates").fetchall()
        for run_id, level, shard, blob in rows:
            msg = judge_pb2.LevelAggregate.FromString(blob)
            accuracy = msg.ttft.relative_accuracy
            if accuracy and abs(accuracy - self.rules.relative_accuracy) > 1e-12:
                raise ConfigError(
                    f"db_path {self.path!r}: its sketches use relative_accuracy {accuracy:g}, the "
                    f"configuration says {self.rules.relative_accuracy:g}; sketches of different "
                    "accuracies cannot merge (use the same value or a new db_path)"
                )
            try:
                agg = stats.LevelAggregate.from_proto(msg)
            except InputError as exc:
                where = f"run {run_id!r} level {level} shard {shard}"
                raise ConfigError(f"db_path {self.path!r}: aggregate of {where} is damaged: {exc}") from exc
            self._levels.setdefault((run_id, level), {})[shard] = agg

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    # -- records ---------------------------------------------------------------------------

    def ingest(self, records: Sequence[Record]) -> BatchOutcome:
        """Apply ``records`` (already validated) in one transaction; duplicates are skipped.

        Either everything is committed and the in-memory aggregates include the new records,
        or (on any error, raised to the caller) nothing is and they do not.
        """
        conn = self.conn
        touched: dict[tuple[str, int, int], stats.LevelAggregate] = {}
        accepted = duplicates = 0
        statuses: Counter[str] = Counter()
        conn.execute("BEGIN IMMEDIATE")
        try:
            for record in records:
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO records (record_id, run_id, level, shard) VALUES (?, ?, ?, ?)",
                    (record.record_id, record.run_id, record.level, record.shard),
                )
                if cursor.rowcount != 1:
                    duplicates += 1
                    continue
                key = (record.run_id, record.level, record.shard)
                agg = touched.get(key)
                if agg is None:
                    agg = touched[key] = self._working_copy(key)
                agg.add(record, self.rules)
                accepted += 1
                statuses[record.status.name] += 1
            conn.executemany(
                "INSERT OR REPLACE INTO aggregates (run_id, level, shard, aggregate) VALUES (?, ?, ?, ?)",
                [(r, lv, s, agg.to_proto().SerializeToString()) for (r, lv, s), agg in touched.items()],
            )
            self._commit()
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        for (run_id, level, shard), agg in touched.items():
            self._levels.setdefault((run_id, level), {})[shard] = agg
        totals = {(r, lv): self.count(r, lv) for r, lv, _ in touched}
        return BatchOutcome(accepted, duplicates, dict(statuses), totals)

    def _working_copy(self, key: tuple[str, int, int]) -> stats.LevelAggregate:
        run_id, level, shard = key
        held = self._levels.get((run_id, level), {}).get(shard)
        if held is None:
            return stats.LevelAggregate.empty(self.rules.relative_accuracy)
        return held.copy()

    def _commit(self) -> None:
        """COMMIT the open transaction (a seam: tests make it fail)."""
        self.conn.execute("COMMIT")

    def count(self, run_id: str, level: int) -> int:
        """Records held for the run and level (warm-up included)."""
        return sum(a.records_total for a in self._levels.get((run_id, level), {}).values())

    def totals(self) -> dict[LevelKey, int]:
        """Records held per (run, level)."""
        return {key: self.count(*key) for key in self._levels}

    def shards(self, run_id: str, level: int) -> list[int]:
        return sorted(self._levels.get((run_id, level), {}))

    def aggregate(self, run_id: str, level: int, shard: int) -> stats.LevelAggregate | None:
        """A copy of one shard's aggregate, or None."""
        held = self._levels.get((run_id, level), {}).get(shard)
        return None if held is None else held.copy()

    def merged(self, run_ids: Sequence[str], level: int) -> tuple[stats.LevelAggregate, int]:
        """Every shard of every run in ``run_ids`` at ``level`` merged, and how many distinct shards."""
        aggs: list[stats.LevelAggregate] = []
        shards: set[int] = set()
        for run_id in dict.fromkeys(run_ids):
            for shard, agg in self._levels.get((run_id, level), {}).items():
                aggs.append(agg)
                shards.add(shard)
        return stats.merged(aggs, self.rules.relative_accuracy), len(shards)

    def held_ids(self, run_id: str) -> int:
        """Record ids held for the run (from the table: what a restart would recognise)."""
        row = self.conn.execute("SELECT COUNT(*) FROM records WHERE run_id = ?", (run_id,)).fetchone()
        return int(row[0])

    # -- runs and verdicts ----------------------------------------------------------------

    def put_run(self, state: judge_pb2.RunState) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO runs (run_id, state, updated_unix_s) VALUES (?, ?, ?)",
            (state.run_id, state.SerializeToString(), state.updated_unix_s),
        )

    def get_run(self, run_id: str) -> judge_pb2.RunState | None:
        row = self.conn.execute("SELECT state FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else judge_pb2.RunState.FromString(row[0])

    def runs(self) -> list[judge_pb2.RunState]:
        """Every run's latest state, most recently updated first."""
        rows = self.conn.execute("SELECT state FROM runs ORDER BY updated_unix_s DESC, run_id").fetchall()
        return [judge_pb2.RunState.FromString(blob) for (blob,) in rows]

    def add_verdict(self, verdict: common_pb2.LevelVerdict, evaluated_unix_s: float) -> None:
        self.conn.execute(
            "INSERT INTO verdicts (run_id, level, evaluated_unix_s, verdict) VALUES (?, ?, ?, ?)",
            (verdict.run_id, verdict.level, evaluated_unix_s, verdict.SerializeToString()),
        )

    def latest_verdicts(self, run_id: str) -> list[common_pb2.LevelVerdict]:
        """The last stored verdict of each level of the run, by level."""
        rows = self.conn.execute(
            "SELECT verdict FROM verdicts WHERE id IN "
            "(SELECT MAX(id) FROM verdicts WHERE run_id = ? GROUP BY level) ORDER BY level",
            (run_id,),
        ).fetchall()
        return [common_pb2.LevelVerdict.FromString(blob) for (blob,) in rows]


class JudgeStore:
    """Async face of :class:`JudgeDB`: every call on one worker thread, plus bounded waiting.

    ``observer`` is called on the event loop with each committed batch's outcome (metrics),
    also when the RPC that sent it was cancelled meanwhile.
    """

    def __init__(self, db: JudgeDB, observer: Callable[[BatchOutcome], None] | None = None) -> None:
        self.db = db
        self._observer = observer
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="judge-db")
        self._counts: dict[LevelKey, int] = {}
        self._waiters: dict[LevelKey, list[tuple[int, asyncio.Event]]] = {}

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def open(self) -> None:
        await self._run(self.db.open)
        self._counts = await self._run(self.db.totals)

    async def close(self) -> None:
        await self._run(self.db.close)
        self._executor.shutdown(wait=True)

    async def ingest(self, records: Sequence[Record]) -> BatchOutcome:
        """Commit one batch; returns once it is durable (the caller may acknowledge it then)."""
        batch = list(records)
        if not batch:
            return BatchOutcome()
        future = asyncio.get_running_loop().run_in_executor(self._executor, self.db.ingest, batch)
        # Counts and metrics follow the commit even if the caller is cancelled meanwhile.
        future.add_done_callback(self._committed)
        return await asyncio.shield(future)

    def _committed(self, future: asyncio.Future[BatchOutcome]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        outcome = future.result()
        for key, total in outcome.totals.items():
            self._counts[key] = max(total, self._counts.get(key, 0))
            for expect, event in self._waiters.get(key, ()):
                if total >= expect:
                    event.set()
        if self._observer is not None:
            self._observer(outcome)

    def count(self, run_id: str, level: int) -> int:
        """Records held for the run and level (committed ones)."""
        return self._counts.get((run_id, level), 0)

    def level_counts(self, run_id: str) -> dict[int, int]:
        """Records per level of the run; empty for a run never seen."""
        return {lv: n for (r, lv), n in sorted(self._counts.items()) if r == run_id}

    async def wait_for(self, run_id: str, level: int, expect: int, timeout_s: float) -> WaitOutcome:
        """Wait up to ``timeout_s`` until the level holds ``expect`` records; never raises on timeout."""
        start = time.monotonic()
        key = (run_id, level)
        if self.count(run_id, level) < expect:
            entry = (expect, asyncio.Event())
            waiters = self._waiters.setdefault(key, [])
            waiters.append(entry)
            try:
                async with asyncio.timeout(timeout_s):
                    await entry[1].wait()
            except TimeoutError:
                pass
            finally:
                waiters.remove(entry)
                if not waiters:
                    del self._waiters[key]
        held = self.count(run_id, level)
        return WaitOutcome(held >= expect, held, time.monotonic() - start)

    async def merged(self, run_ids: Sequence[str], level: int) -> tuple[stats.LevelAggregate, int]:
        ids = list(run_ids)
        return await self._run(lambda: self.db.merged(ids, level))

    async def put_run(self, state: judge_pb2.RunState) -> None:
        await self._run(lambda: self.db.put_run(state))

    async def get_run(self, run_id: str) -> judge_pb2.RunState | None:
        return await self._run(lambda: self.db.get_run(run_id))

    async def runs(self) -> list[judge_pb2.RunState]:
        return await self._run(self.db.runs)

    async def add_verdict(self, verdict: common_pb2.LevelVerdict, evaluated_unix_s: float) -> None:
        await self._run(lambda: self.db.add_verdict(verdict, evaluated_unix_s))

    async def latest_verdicts(self, run_id: str) -> list[common_pb2.LevelVerdict]:
        return await self._run(lambda: self.db.latest_verdicts(run_id))
