"""Mooncake request traces (FAST'25): one request per JSON line, sessions rebuilt from hash_ids.

A line is ``{"timestamp": ms, "input_length": N, "output_length": M, "hash_ids": [...]}``;
``hash_ids`` names the 512-token blocks of the prompt (the last block may be partial), and two
requests whose prompts begin with the same tokens begin with the same ids. The trace has no
session ids and no text, so sessions are inferred (docs/importers.md, ``## mooncake``):

* **Session rule.** Request B continues the session of an earlier request A when A has at
  least one full block (``input_length >= 512``), B's ``hash_ids`` begin with all of A's full
  blocks (the first ``input_length // 512`` ids; A's partial last block is not compared, since
  the next prompt fills it with A's output), and at least one of those full blocks first
  appeared in the trace in A's own session. The last condition keeps a prefix that every
  conversation shares (a system prompt first seen in another session) from chaining
  unrelated sessions. Among all such A the one with the most full blocks wins, ties go to the
  latest; with none, B starts a new session.
* **Turns.** A session's requests in trace order are its turns. A continuing request's new
  input is ``input_length - (previous input_length + previous output_length)`` when that is
  positive; otherwise the previous context was not kept whole (truncation, a rewrite) and the
  request starts a new phase whose first turn carries the whole ``input_length``. The first
  request of a session carries its whole ``input_length``. Request lengths are thus exact.
* **Cached tokens.** The tokens of the leading blocks that some earlier request of the trace
  also began with (any session): what an unbounded prefix cache would hold, capped at
  ``input_length`` (a matching partial last block counts its own length).
* **Gaps.** Every turn followed by another request of its session ends in a tool call named
  ``arrival_gap``, class ``other``, whose recorded duration is the arrival gap in seconds. The
  trace has no response times, so the gap includes the model's own response time of the
  earlier request: it is an upper bound on the idle time (user or tool) between the two.

Token counts come from the trace (``token_method`` "trace"). Lines must be in non-decreasing
timestamp order, as the published traces are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NoReturn

from agentperf.errors import InputError
from agentperf.services.trajectory_store.formats import decode_line
from agentperf.services.trajectory_store.importers.base import (
    ImportContext,
    ImportFormat,
    ImportResult,
    check_count,
)
from agentperf.services.trajectory_store.importers.lines import LineSplitter
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn

FORMAT_NAME = "mooncake"
BLOCK_TOKENS = 512
GAP_TOOL = "arrival_gap"
MAX_TIMESTAMP_MS = 1e15  # about 31,700 years: beyond any trace, and whole milliseconds stay exact as floats
_KEYS = ("timestamp", "input_length", "output_length", "hash_ids")


@dataclass(frozen=True, slots=True)
class Request:
    """One validated trace line."""

    line: int
    timestamp_ms: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...]

    @property
    def full_blocks(self) -> int:
        return self.input_length // BLOCK_TOKENS


@dataclass(slots=True)
class _Pending:
    """A session's latest request: its turn is finished once the next request (or the end) is seen."""

    request: Request
    new_input: int
    cached: int


@dataclass
class _Session:
    first: Request
    phases: list[list[Turn]] = field(default_factory=lambda: [[]])
    lines: list[int] = field(default_factory=list)
    pending: _Pending | None = None

    @property
    def id(self) -> str:
        return f"session-{self.first.line}"


class PrefixIndex:
    """A trie over block ids of every request seen, marking where joinable requests' full blocks end.

    Memory is one dict entry per distinct block prefix plus one per distinct block id.
    """

    def __init__(self) -> None:
        self._child: dict[tuple[int, int], int] = {}
        self._session_at: dict[int, int] = {}
        self._first_session: dict[int, int] = {}

    def match(self, blocks: tuple[int, ...]) -> tuple[int, int | None]:
        """(blocks shared with some earlier request's prefix, session of the longest joinable match)."""
        node, depth, session = 0, 0, None
        for block in blocks:
            nxt = self._child.get((node, block))
            if nxt is None:
                break
            node, depth = nxt, depth + 1
            session = self._session_at.get(node, session)
        return depth, session

    def add(self, request: Request, session: int) -> None:
        """Record the request's blocks; mark its full-block prefix if it may be continued."""
        node = 0
        full = request.full_blocks
        owned = False
        for depth, block in enumerate(request.hash_ids, start=1):
            first = self._first_session.setdefault(block, session)
            owned = owned or (depth <= full and first == session)
            node = self._child.setdefault((node, block), len(self._child) + 1)
            if depth == full and owned:
                self._session_at[node] = session


class _Fields:
    """Validation of one decoded line; knows where it came from for error messages."""

    def __init__(self, ctx: ImportContext, line: int) -> None:
        self.ctx = ctx
        self.line = line

    def fail(self, field: str, message: str) -> NoReturn:
        raise InputError(message, source=self.ctx.source, line=self.line, field=field)

    def integer(self, value: Any, field: str, minimum: int) -> int:
        limit = self.ctx.limits.max_tokens_per_turn
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(field, f"must be an integer >= {minimum}, got {_show(value)}")
        if value > limit:
            self.fail(field, f"must be at most {limit} (max_tokens_per_turn), got {value}")
        return value

    def request(self, value: Any) -> Request:
        if not isinstance(value, dict):
            self.fail("", f"must be a JSON object, got {_show(value)}")
        unknown = sorted(set(value) - set(_KEYS))
        if unknown:
            # JSON may spell a lone surrogate in a key; keep the message encodable.
            key = unknown[0].encode("utf-8", "backslashreplace").decode("utf-8")
            self.fail(key, f"unknown key; allowed: {', '.join(_KEYS)}")
        for key in _KEYS:
            if key not in value:
                self.fail(key, "required key is missing")
        stamp = value["timestamp"]
        # A chained comparison, not math.isfinite: a huge JSON integer cannot become a float.
        if (
            not isinstance(stamp, int | float)
            or isinstance(stamp, bool)
            or not 0 <= stamp <= MAX_TIMESTAMP_MS
        ):
            self.fail("timestamp", f"must be milliseconds in [0, {MAX_TIMESTAMP_MS:.0e}], got {_show(stamp)}")
        length = self.integer(value["input_length"], "input_length", 1)
        output = self.integer(value["output_length"], "output_length", 0)
        return Request(self.line, float(stamp), length, output, self.blocks(value["hash_ids"], length))

    def blocks(self, value: Any, input_length: int) -> tuple[int, ...]:
        want = -(-input_length // BLOCK_TOKENS)
        if not isinstance(value, list):
            self.fail("hash_ids", f"must be a list of block ids, got {_show(value)}")
        if len(value) != want:
            self.fail(
                "hash_ids",
                f"must hold ceil(input_length / {BLOCK_TOKENS}) = {want} block ids, got {len(value)}",
            )
        for i, item in enumerate(value):
            if not isinstance(item, int) or isinstance(item, bool) or item < 0:
                self.fail(f"hash_ids[{i}]", f"must be an integer >= 0, got {_show(item)}")
        return tuple(value)


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:  # a JSON value nested nearly as deep as the parser allows
        return f"a deeply nested {type(value).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


class MooncakeParser:
    """Streaming parser: each line is validated and placed in its session as it arrives."""

    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self._lines = LineSplitter()
        self._index = PrefixIndex()
        self._sessions: list[_Session] = []
        self._last_stamp: tuple[int, float] | None = None

    def feed(self, data: bytes) -> None:
        for line, raw in self._lines.feed(data):
            self._line(line, raw)

    def finish(self) -> ImportResult:
        for line, raw in self._lines.finish():
            self._line(line, raw)
        if not self._sessions:
            raise InputError("no requests: the input is empty or only blank lines", source=self.ctx.source)
        trajectories = [self._trajectory(i, s) for i, s in enumerate(self._sessions)]
        return ImportResult(trajectories, "trace")

    def _line(self, line: int, raw: bytes) -> None:
        if not raw.strip():
            return
        fields = _Fields(self.ctx, line)
        request = fields.request(decode_line(raw, source=self.ctx.source, line=line))
        if self._last_stamp is not None and request.timestamp_ms < self._last_stamp[1]:
            fields.fail(
                "timestamp",
                f"must not be earlier than the previous request's ({_ms(self._last_stamp[1])} on line "
                f"{self._last_stamp[0]}): sessions are rebuilt in trace order, got {_ms(request.timestamp_ms)}",
            )
        self._last_stamp = (line, request.timestamp_ms)
        self._place(fields, request)

    def _place(self, fields: _Fields, request: Request) -> None:
        depth, joined = self._index.match(request.hash_ids)
        cached = min(depth * BLOCK_TOKENS, request.input_length)
        if joined is None:
            joined = len(self._sessions)
            check_count(self.ctx, joined + 1, f":{request.line}")
            self._sessions.append(_Session(request))
        session = self._sessions[joined]
        self._continue(fields, session, request, cached)
        self._index.add(request, joined)

    def _continue(self, fields: _Fields, session: _Session, request: Request, cached: int) -> None:
        limits = self.ctx.limits
        if len(session.lines) >= limits.max_turns_per_trajectory:
            fields.fail(
                "hash_ids",
                f"continues {session.id} past {limits.max_turns_per_trajectory} turns (max_turns_per_trajectory)",
            )
        new_input = request.input_length
        prev = session.pending
        if prev is not None:
            gap_s = (request.timestamp_ms - prev.request.timestamp_ms) / 1000.0
            session.phases[-1].append(_turn(prev, ToolCall(GAP_TOOL, "other", gap_s)))
            delta = request.input_length - prev.request.input_length - prev.request.output_length
            if delta > 0:
                new_input = delta
            elif len(session.phases) >= limits.max_phases:
                fields.fail(
                    "input_length", f"starts phase {len(session.phases) + 1} of {session.id} (max_phases)"
                )
            else:
                session.phases.append([])
        session.pending = _Pending(request, new_input, cached)
        session.lines.append(request.line)

    def _trajectory(self, index: int, session: _Session) -> Trajectory:
        assert session.pending is not None
        session.phases[-1].append(_turn(session.pending, None))
        session.pending = None
        meta = {
            "first_line": str(session.first.line),
            "first_timestamp_ms": _ms(session.first.timestamp_ms),
            "lines": ",".join(map(str, session.lines)),
        }
        phases = tuple(Phase(turns=tuple(turns)) for turns in session.phases)
        return Trajectory(id=session.id, phases=phases, index=index, meta=meta)


def _ms(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _turn(pending: _Pending, tool: ToolCall | None) -> Turn:
    return Turn(
        input_tokens=pending.new_input,
        output_tokens=pending.request.output_length,
        cached_tokens=pending.cached,
        tool=tool,
    )


FORMAT = ImportFormat(
    FORMAT_NAME,
    "Mooncake request trace JSONL (timestamp, input_length, output_length, hash_ids): sessions from "
    "shared hash_ids prefixes, tokens from the trace, arrival gaps as tool durations (upper bounds)",
    MooncakeParser,
)
