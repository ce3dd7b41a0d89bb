"""SQLite persistence of datasets, off the event loop.

Two connections, each owned by its own single worker thread: one writes (imports run as one
``BEGIN IMMEDIATE`` transaction each, so a failed import leaves nothing behind), one reads.
WAL mode lets streams read while an import writes. Trajectories are keyed by an integer
dataset id rather than the name, so a stream that started before a ``replace`` can tell that
its dataset is gone instead of mixing old and new rows.

Each trajectory row holds the serialized ``agentperf.v1.Trajectory`` (with ``dataset`` and
``index`` cleared: they are set when streaming), meta included; the meta map is also kept as
JSON in its own column so it can be queried without decoding payloads.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from agentperf.errors import ConfigError, ConflictError, NotFoundError
from agentperf.services.trajectory_store.core import DatasetHeader, DatasetInfo, DatasetTally, Shard
from agentperf.services.trajectory_store.formats import meta_json
from agentperf.trajectory import Trajectory, to_proto

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  format TEXT NOT NULL,
  source TEXT NOT NULL,
  created_unix_s REAL NOT NULL,
  trajectories INTEGER NOT NULL DEFAULT 0,
  turns INTEGER NOT NULL DEFAULT 0,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  token_method TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS trajectories (
  dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  id TEXT NOT NULL,
  payload BLOB NOT NULL,
  meta TEXT,
  PRIMARY KEY (dataset_id, idx),
  UNIQUE (dataset_id, id)
);
"""
_INFO_COLUMNS = (
    "name, format, source, created_unix_s, trajectories, turns, input_tokens, output_tokens, token_method"
)
_INSERT_BATCH = 1000


def connect(path: str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, foreign keys on."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def _payload(traj: Trajectory) -> bytes:
    msg = to_proto(traj)
    msg.ClearField("dataset")
    msg.ClearField("index")
    return msg.SerializeToString()


class TrajectoryDB:
    """Synchronous operations on one connection; use it from one thread only."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def create_schema(self) -> None:
        self.conn.executescript(_SCHEMA)

    def datasets(self) -> list[DatasetInfo]:
        rows = self.conn.execute(f"SELECT {_INFO_COLUMNS} FROM datasets ORDER BY name").fetchall()
        return [DatasetInfo(*row) for row in rows]

    def dataset_id(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM datasets WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])

    def dataset(self, name: str) -> tuple[int, DatasetInfo] | None:
        """The id and info of one dataset, read together (None when it does not exist)."""
        row = self.conn.execute(
            f"SELECT id, {_INFO_COLUMNS} FROM datasets WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (int(row[0]), DatasetInfo(*row[1:]))

    def write_dataset(
        self, header: DatasetHeader, trajectories: Iterable[Trajectory], created_unix_s: float
    ) -> DatasetInfo:
        """Write a whole dataset in one transaction; any exception leaves the database untouched."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            info = self._write(header, trajectories, created_unix_s)
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")
        return info

    def _write(
        self, header: DatasetHeader, trajectories: Iterable[Trajectory], created: float
    ) -> DatasetInfo:
        old = self.dataset_id(header.name)
        if old is not None:
            if not header.replace:
                raise ConflictError(f"dataset {header.name!r} exists; set replace to overwrite it")
            self.conn.execute("DELETE FROM trajectories WHERE dataset_id = ?", (old,))
            self.conn.execute("DELETE FROM datasets WHERE id = ?", (old,))
        cur = self.conn.execute(
            "INSERT INTO datasets (name, format, source, created_unix_s, token_method) VALUES (?, ?, ?, ?, ?)",
            (header.name, header.format, header.source, created, header.token_method),
        )
        dataset_id = cur.lastrowid
        tally = DatasetTally()
        for batch in _batches(trajectories, _INSERT_BATCH):
            rows = []
            for traj in batch:
                tally.add(traj)
                meta = meta_json(traj.meta) if traj.meta else None
                rows.append((dataset_id, tally.trajectories - 1, traj.id, _payload(traj), meta))
            self.conn.executemany(
                "INSERT INTO trajectories (dataset_id, idx, id, payload, meta) VALUES (?, ?, ?, ?, ?)", rows
            )
        self.conn.execute(
            "UPDATE datasets SET trajectories = ?, turns = ?, input_tokens = ?, output_tokens = ? WHERE id = ?",
            (tally.trajectories, tally.turns, tally.input_tokens, tally.output_tokens, dataset_id),
        )
        return DatasetInfo(
            header.name,
            header.format,
            header.source,
            created,
            tally.trajectories,
            tally.turns,
            tally.input_tokens,
            tally.output_tokens,
            header.token_method,
        )

    def fetch_batch(
        self, dataset_id: int, after_idx: int, shard: Shard, size: int
    ) -> list[tuple[int, bytes]]:
        """Up to ``size`` rows of the shard with idx > after_idx (keyset pagination), in idx order.

        Raises ConflictError when the dataset was replaced or deleted since the stream began.
        """
        self.conn.execute("BEGIN")
        try:
            if self.conn.execute("SELECT 1 FROM datasets WHERE id = ?", (dataset_id,)).fetchone() is None:
                raise ConflictError("the dataset was replaced or deleted while it was being streamed")
            rows = self.conn.execute(
                "SELECT idx, payload FROM trajectories WHERE dataset_id = ? AND idx > ? AND idx % ? = ? "
                "ORDER BY idx LIMIT ?",
                (dataset_id, after_idx, shard.count, shard.index, size),
            ).fetchall()
        finally:
            self.conn.execute("COMMIT")
        return [(int(idx), bytes(payload)) for idx, payload in rows]

    def meta(self, dataset_id: int, idx: int) -> dict[str, str]:
        """The meta map stored for one trajectory (empty when it had none)."""
        row = self.conn.execute(
            "SELECT meta FROM trajectories WHERE dataset_id = ? AND idx = ?", (dataset_id, idx)
        ).fetchone()
        if row is None or row[0] is None:
            return {}
        return {str(k): str(v) for k, v in json.loads(row[0]).items()}


def _batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _fetch(
    dataset_id: int, after: int, shard: Shard, size: int
) -> Callable[[TrajectoryDB], list[tuple[int, bytes]]]:
    return lambda db: db.fetch_batch(dataset_id, after, shard, size)


class _DbThread:
    """One worker thread owning one connection: sqlite3 objects never cross threads."""

    def __init__(self, path: str, name: str) -> None:
        self._local = threading.local()
        self._path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def _db(self) -> TrajectoryDB:
        db: TrajectoryDB | None = getattr(self._local, "db", None)
        if db is None:
            db = TrajectoryDB(connect(self._path))
            self._local.db = db
        return db

    async def run(self, fn: Callable[[TrajectoryDB], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(self._db()))

    async def close(self) -> None:
        """Close the connection (if one was opened) on its own thread, then stop the thread."""

        def _close() -> None:
            db: TrajectoryDB | None = getattr(self._local, "db", None)
            if db is not None:
                db.conn.close()
                self._local.db = None

        await asyncio.get_running_loop().run_in_executor(self._executor, _close)
        self._executor.shutdown(wait=True)


class TrajectoryStore:
    """Async face of the database used by the servicer; every call runs on a DB thread."""

    def __init__(self, path: str, stream_batch: int) -> None:
        self.path = path
        self.stream_batch = stream_batch
        self._writer = _DbThread(path, "store-writer")
        self._reader = _DbThread(path, "store-reader")

    async def open(self) -> None:
        """Open the database file (creating the schema if new); an unusable path is a ConfigError."""
        try:
            await self._writer.run(lambda db: db.create_schema())
        except sqlite3.Error as exc:
            raise ConfigError(f"db_path {self.path!r}: cannot open the SQLite database: {exc}") from exc

    async def close(self) -> None:
        await self._writer.close()
        await self._reader.close()

    async def list_datasets(self) -> list[DatasetInfo]:
        return await self._reader.run(lambda db: db.datasets())

    async def exists(self, name: str) -> bool:
        return await self._reader.run(lambda db: db.dataset_id(name)) is not None

    async def write(
        self, header: DatasetHeader, trajectories: Iterable[Trajectory], created_unix_s: float
    ) -> DatasetInfo:
        """Write a dataset all-or-nothing; a lazy iterable is consumed on the writer thread."""
        return await self._writer.run(lambda db: db.write_dataset(header, trajectories, created_unix_s))

    async def meta(self, name: str, idx: int) -> dict[str, str]:
        dataset_id = await self._require(name)
        return await self._reader.run(lambda db: db.meta(dataset_id, idx))

    async def stream(self, name: str, shard: Shard) -> AsyncIterator[tuple[int, bytes]]:
        """Yield (idx, payload) of the shard, fetching ``stream_batch`` rows per query."""
        dataset_id = await self._require(name)
        async for rows in self.batches(dataset_id, shard):
            for row in rows:
                yield row

    async def describe(self, name: str) -> tuple[int, DatasetInfo]:
        """The id (for :meth:`batches`) and info of dataset ``name``; NotFoundError when absent."""
        found = await self._reader.run(lambda db: db.dataset(name))
        if found is None:
            raise NotFoundError(f"dataset {name!r} does not exist")
        return found

    async def batches(self, dataset_id: int, shard: Shard) -> AsyncIterator[list[tuple[int, bytes]]]:
        """Yield the shard's rows as lists of at most ``stream_batch`` (idx, payload), in idx order.

        Only one batch is in memory at a time; ConflictError if the dataset is replaced meanwhile.
        """
        after, sent = -1, 0
        while True:
            size = self.stream_batch if not shard.limit else min(self.stream_batch, shard.limit - sent)
            rows = await self._reader.run(_fetch(dataset_id, after, shard, size))
            if rows:
                yield rows
            sent += len(rows)
            if len(rows) < size or (shard.limit and sent >= shard.limit):
                return
            after = rows[-1][0]

    async def _require(self, name: str) -> int:
        dataset_id = await self._reader.run(lambda db: db.dataset_id(name))
        if dataset_id is None:
            raise NotFoundError(f"dataset {name!r} does not exist")
        return dataset_id
