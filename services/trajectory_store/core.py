"""Pure rules of the trajectory store: names, the import protocol, limits, sharding, dataset tallies.

No gRPC and no I/O: the servicer feeds this module plain values and the SQLite layer
(``store``) persists what it returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store import formats, synthetic
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import (
    ImportContext,
    ImportFormat,
    ImportResult,
    Parser,
    get_format,
)
from agentperf.tokencount import ApproxCounter, TokenCounter
from agentperf.trajectory import Trajectory

DATASET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+-]{0,199}")
_CHUNK = "ImportChunk"
_STREAM = "StreamTrajectoriesRequest"


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """What the store knows about one dataset; token counts are new tokens (preambles + turn inputs)."""

    name: str
    format: str
    source: str
    created_unix_s: float
    trajectories: int
    turns: int
    input_tokens: int
    output_tokens: int
    token_method: str = ""


@dataclass
class DatasetTally:
    """Running totals over the trajectories of a dataset as they are written."""

    trajectories: int = 0
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0

    def add(self, traj: Trajectory) -> None:
        self.trajectories += 1
        for phase in traj.phases:
            self.input_tokens += phase.preamble_tokens
            for turn in phase.turns:
                self.turns += 1
                self.input_tokens += turn.input_tokens
                self.output_tokens += turn.output_tokens


@dataclass(frozen=True, slots=True)
class DatasetHeader:
    """Name and provenance of a dataset about to be written."""

    name: str
    format: str
    source: str
    replace: bool
    token_method: str = ""


def check_dataset_name(name: str, source: str) -> str:
    if not DATASET_NAME.fullmatch(name):
        raise InputError(
            f"must be 1-200 characters of letters, digits and . _ : @ + -, starting with a letter or digit; "
            f"got {name!r}",
            source=source,
            field="dataset",
        )
    return name


@dataclass(frozen=True, slots=True)
class Shard:
    """Which trajectories a stream returns: index % count == index_in, at most ``limit`` (0: all)."""

    index: int
    count: int
    limit: int


def check_shard(shard_index: int, shard_count: int, limit: int) -> Shard:
    """Validate stream arguments; a shard_count of 0 or 1 means everything."""
    if shard_count < 0:
        raise InputError(f"must be >= 0, got {shard_count}", source=_STREAM, field="shard_count")
    count = max(shard_count, 1)
    if not 0 <= shard_index < count:
        raise InputError(
            f"must be in [0, {count - 1}] for shard_count {shard_count}, got {shard_index}",
            source=_STREAM,
            field="shard_index",
        )
    if limit < 0:
        raise InputError(f"must be >= 0 (0: no limit), got {limit}", source=_STREAM, field="limit")
    return Shard(shard_index, count, limit)


def check_synthetic_limits(params: synthetic.SyntheticParams, limits: StoreLimits) -> None:
    """A synthetic request may not produce what an import could not."""
    checks = (
        ("count", params.count, limits.max_trajectories, "max_trajectories"),
        ("max_turns", params.max_turns, limits.max_turns_per_trajectory, "max_turns_per_trajectory"),
        ("max_input_tokens", params.max_input_tokens, limits.max_tokens_per_turn, "max_tokens_per_turn"),
        ("max_output_tokens", params.max_output_tokens, limits.max_tokens_per_turn, "max_tokens_per_turn"),
        ("preamble_tokens", params.preamble_tokens, limits.max_tokens_per_turn, "max_tokens_per_turn"),
    )
    for name, value, limit, limit_name in checks:
        if value > limit:
            raise LimitExceededError(f"spec.{name}: {value} exceeds the configured {limit_name} ({limit})")


class ImportSession:
    """The client-streaming import protocol: a header in the first chunk, then data in any split.

    One import may carry several files of the same format (a folder of ``.traj`` files becomes
    one dataset): a later chunk that sets only ``source_name`` starts the next file. The import
    stays all-or-nothing across files, and trajectory ids must be unique across them.
    Parsing happens as chunks arrive, so only what a parser must buffer is held as raw bytes.
    """

    def __init__(self, limits: StoreLimits, counter: TokenCounter | None = None) -> None:
        self._limits = limits
        self._counter = counter or ApproxCounter()
        self._chunks = 0
        self._bytes = 0
        self._parser: Parser | None = None
        self._format: ImportFormat | None = None
        self._done: list[ImportResult] = []
        self._sources: list[str] = []
        self.header: DatasetHeader | None = None

    def add_chunk(self, *, dataset: str, format: str, replace: bool, source_name: str, data: bytes) -> None:
        """Take one chunk; the header fields are read from the first chunk and refused later."""
        self._chunks += 1
        if self._chunks == 1:
            self._start(dataset, format, replace, source_name)
        elif dataset or format or replace:
            raise InputError(
                f"dataset, format and replace belong in the first chunk only (chunk {self._chunks})",
                source=_CHUNK,
                field="dataset",
            )
        elif source_name:
            self._next_file(source_name)
        self._bytes += len(data)
        if self._bytes > self._limits.max_import_bytes:
            raise LimitExceededError(
                f"import larger than max_import_bytes ({self._limits.max_import_bytes} bytes)"
            )

    def feed(self, data: bytes) -> None:
        """Parse what ``data`` completes (call after :meth:`add_chunk`; CPU work, run off the loop)."""
        assert self._parser is not None, "add_chunk() first"
        self._parser.feed(data)

    def finish(self) -> ImportResult:
        """Every file's trajectories in order, or InputError; ids are unique across files."""
        if self._parser is None:
            raise InputError(
                "empty import stream: the first chunk must name dataset and format",
                source=_CHUNK,
                field="dataset",
            )
        self._done.append(self._parser.finish())
        self._parser = None
        trajectories: list[Trajectory] = []
        first_source: dict[str, str] = {}
        for source, result in zip(self._sources, self._done, strict=True):
            for traj in result.trajectories:
                seen = first_source.setdefault(traj.id, source)
                if seen != source:
                    raise InputError(
                        f"duplicate trajectory id {traj.id!r} (also in {seen})", source=source, field="id"
                    )
                trajectories.append(traj)
        methods = sorted({r.token_method for r in self._done})
        return ImportResult(trajectories, "+".join(methods))

    def _next_file(self, source_name: str) -> None:
        assert self._parser is not None and self._format is not None and self.header is not None
        if len(self._sources) >= self._limits.max_trajectories:
            raise LimitExceededError(f"more than {self._limits.max_trajectories} files in one import")
        self._done.append(self._parser.finish())
        self._sources.append(source_name)
        self._parser = self._format.make(
            ImportContext(source_name, self.header.name, self._limits, self._counter)
        )

    def _start(self, dataset: str, format: str, replace: bool, source_name: str) -> None:
        check_dataset_name(dataset, _CHUNK)
        fmt = format or formats.FORMAT_NAME
        importer = get_format(fmt, source=_CHUNK)
        source = source_name or f"{dataset}.{fmt}"
        self.header = DatasetHeader(dataset, fmt, source, replace)
        self._format = importer
        self._sources.append(source)
        self._parser = importer.make(ImportContext(source, dataset, self._limits, self._counter))
