"""What every importer is: an incremental parser that yields trajectories and says how it counted.

An importer never executes anything from its input, never touches the network, and turns
every problem into an :class:`~agentperf.errors.InputError` naming the source, the line
(JSON Lines / CSV) or record path (JSON documents), and the field. Imports are
all-or-nothing: a parser returns everything from :meth:`Parser.finish` or raises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from agentperf.errors import LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.tokencount import TokenCounter
from agentperf.trajectory import Trajectory


@dataclass(frozen=True)
class ImportContext:
    """What a parser may use: the source name for errors, the limits, a token counter."""

    source: str
    dataset: str
    limits: StoreLimits
    counter: TokenCounter


@dataclass(frozen=True)
class ImportResult:
    trajectories: list[Trajectory]
    # How token counts were obtained, e.g. "usage" (provider usage in the file), "declared"
    # (our JSONL), "trace" (lengths recorded in a request trace), "tokenizer:phi-3-mini".
    token_method: str


class Parser(Protocol):
    def feed(self, data: bytes) -> None:
        """Take the next piece of the input (pieces split anywhere)."""
        ...

    def finish(self) -> ImportResult:
        """Parse what is left and return every trajectory, or raise InputError."""
        ...


class WholeDocumentParser:
    """Base for formats that are one JSON document (or need all lines): buffer, then parse once.

    The buffer is bounded by ``max_import_bytes`` through the import session.
    """

    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self._buffer = bytearray()

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def finish(self) -> ImportResult:
        data = bytes(self._buffer)
        self._buffer.clear()
        return self.parse(data)

    def parse(self, data: bytes) -> ImportResult:
        raise NotImplementedError


def check_count(ctx: ImportContext, count: int, where: str) -> None:
    """Enforce max_trajectories while a parser is still producing them."""
    if count > ctx.limits.max_trajectories:
        raise LimitExceededError(f"{ctx.source}{where}: more than {ctx.limits.max_trajectories} trajectories")


@dataclass(frozen=True)
class ImportFormat:
    name: str
    description: str  # one line: what files, which fields give tokens and tool durations
    make: Callable[[ImportContext], Parser]
