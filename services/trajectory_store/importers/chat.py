"""What the chat-history importers (mini-swe-agent, SWE-agent, OpenHands) share.

Each of them reduces its file to a preamble text and a list of :class:`Call` (one per model
call: the new input text, the completion text, the provider's usage if recorded, the tool
call that followed); :func:`build_trajectory` turns that into phases and turns with one
token rule for all of them (docs/importers.md):

- turn k's ``input_tokens`` = prompt_tokens(k) - prompt_tokens(k-1) - completion_tokens(k-1)
  when both calls have usage and the difference is >= 0, else the counter's count of the new text;
- the first turn of a phase gets prompt_tokens minus the preamble's count, so that
  preamble_tokens + input_tokens equals the recorded prompt;
- ``output_tokens`` = completion_tokens, ``cached_tokens`` = the recorded cached prompt tokens.

:class:`Doc` gives typed access to decoded JSON with errors that name source, line and field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

from agentperf.errors import InputError
from agentperf.services.trajectory_store.config import INT32_MAX, StoreLimits
from agentperf.services.trajectory_store.importers.base import ImportContext
from agentperf.tokencount import TokenCounter
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn

_SHOWN_CHARS = 60
# Meta values are informational (model name, exit status): long ones are cut, not rejected.
META_CHARS = 200
MESSAGE_SEPARATOR = "\n\n"


def show(value: Any) -> str:
    """A short rendering of an offending value for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(value))
    text = text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
    return clean(text)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not allowed")


def decode_json(data: bytes | str, *, source: str, line: int | None) -> Any:
    """One JSON value; invalid UTF-8 or JSON, NaN/Infinity, absurd nesting are InputErrors."""
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start}", source=source, line=line) from exc
    text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if line is None else f"column {exc.colno}"
        raise InputError(f"invalid JSON at {where}: {exc.msg}", source=source, line=line) from exc
    except (ValueError, RecursionError) as exc:
        # NaN/Infinity (our hook), huge integer literals and deep nesting (the json module).
        raise InputError(
            f"invalid JSON: {type(exc).__name__}: {exc}"[:200], source=source, line=line
        ) from exc


class Doc:
    """Typed, path-aware access to one decoded JSON document (or JSON Lines line)."""

    def __init__(self, source: str, line: int | None, limits: StoreLimits) -> None:
        self.source = source
        self.line = line
        self.limits = limits

    def fail(self, path: str, message: str) -> NoReturn:
        raise InputError(message, source=self.source, line=self.line, field=path)

    def obj(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a JSON object, got {show(value)}")
        return value

    def lst(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, f"must be a JSON array, got {show(value)}")
        return value

    def key(self, obj: dict[str, Any], key: str, path: str) -> Any:
        if key not in obj:
            self.fail(join(path, key), "required key is missing")
        return obj[key]

    def string(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {show(value)}")
        return value

    def count(self, value: Any, path: str) -> int:
        """A recorded token count: an integer in [0, 2^31 - 1]."""
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= INT32_MAX:
            self.fail(path, f"must be an integer in [0, {INT32_MAX}], got {show(value)}")
        return value

    def seconds(self, value: Any, path: str) -> float:
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            self.fail(path, f"must be a finite number >= 0, got {show(value)}")
        return float(value)

    def timestamp(self, value: Any, path: str) -> datetime:
        """An ISO 8601 time; one with a zone is converted to naive UTC so any two can be subtracted."""
        text = self.string(value, path)
        try:
            moment = datetime.fromisoformat(text[:64])
            if moment.tzinfo is not None:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
        except (ValueError, OverflowError):
            self.fail(path, f"must be an ISO 8601 time in years 1-9999, got {show(value)}")
        return moment

    def content(self, value: Any, path: str) -> str:
        """Message content: a string, null, or a list of parts whose ``text`` strings are joined."""
        if value is None:
            return ""
        if isinstance(value, str):
            return value
        parts = self.lst(value, path)
        texts = []
        for i, part in enumerate(parts):
            item = self.obj(part, f"{path}[{i}]")
            text = item.get("text")
            if text is not None:
                texts.append(self.string(text, f"{path}[{i}].text"))
        return "\n".join(texts)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def span(name: str, first: int, last: int) -> str:
    """Field name of the items first..last (inclusive) of a list, e.g. ``messages[3:5]``."""
    return f"{name}[{first}]" if first >= last else f"{name}[{first}:{last + 1}]"


@dataclass(frozen=True, slots=True)
class Usage:
    """A model call's provider usage; ``path`` locates it in the file for errors."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    path: str


@dataclass(frozen=True, slots=True)
class Call:
    """One model call as an importer read it, before tokens are settled."""

    input_text: str
    input_field: str
    output_text: str
    output_field: str
    usage: Usage | None = None
    tool: ToolCall | None = None
    new_phase: bool = False


@dataclass
class MethodTally:
    """Which token counts came from usage and which from the counter, over an import."""

    from_usage: int = 0
    counted: int = 0

    def add(self, other: MethodTally) -> None:
        self.from_usage += other.from_usage
        self.counted += other.counted

    def method(self, counter: TokenCounter) -> str:
        if self.counted == 0 and self.from_usage > 0:
            return "usage"
        if self.from_usage == 0:
            return counter.method
        return f"usage+{counter.method}"


@dataclass
class _PhaseBuilder:
    preamble_tokens: int
    turns: list[Turn] = field(default_factory=list)


def build_trajectory(
    doc: Doc,
    ctx: ImportContext,
    *,
    traj_id: str,
    id_field: str,
    preamble: tuple[str, str],
    calls: list[Call],
    calls_field: str,
    meta: dict[str, str],
    index: int,
    tally: MethodTally,
) -> Trajectory:
    """Settle tokens by the module's rule, enforce the limits, and build the trajectory.

    ``preamble`` is (text, field). ``tally`` is updated with this trajectory's methods.
    """
    limits = ctx.limits
    _check_id(doc, traj_id, id_field)
    if not calls:
        doc.fail(calls_field, "no model calls: a trajectory needs at least one assistant message")
    if len(calls) > limits.max_turns_per_trajectory:
        doc.fail(
            calls_field,
            f"trajectory has {len(calls)} model calls, more than max_turns_per_trajectory "
            f"({limits.max_turns_per_trajectory})",
        )
    preamble_text, preamble_field = preamble
    _check_text(doc, preamble_text, preamble_field)
    preamble_count = ctx.counter.count(preamble_text)
    own = MethodTally()
    phases: list[_PhaseBuilder] = []
    previous: Usage | None = None
    for call in calls:
        if not phases or call.new_phase:
            phases.append(
                _start_phase(
                    doc, call, preamble_count=preamble_count, preamble_field=preamble_field, tally=own
                )
            )
            previous = None
        current = phases[-1]
        preamble_tokens = None if current.turns else current.preamble_tokens
        current.turns.append(
            _turn(doc, ctx, call, previous=previous, preamble_tokens=preamble_tokens, tally=own)
        )
        previous = call.usage
    if len(phases) > limits.max_phases:
        doc.fail(calls_field, f"{len(phases)} phases, more than max_phases ({limits.max_phases})")
    tally.add(own)
    meta = {key: clean(value[: min(META_CHARS, limits.max_text_chars)]) for key, value in meta.items()}
    meta["token_method"] = own.method(ctx.counter)[: limits.max_text_chars]
    return Trajectory(
        id=traj_id,
        phases=tuple(Phase(tuple(p.turns), p.preamble_tokens, preamble_text) for p in phases),
        index=index,
        meta=meta,
    )


def _check_id(doc: Doc, traj_id: str, id_field: str) -> None:
    if not traj_id.strip():
        doc.fail(id_field, f"must be a non-empty string, got {show(traj_id)}")
    _check_text(doc, traj_id, id_field)


def _check_text(doc: Doc, text: str, path: str) -> None:
    if len(text) > doc.limits.max_text_chars:
        doc.fail(path, f"text of {len(text)} characters exceeds max_text_chars ({doc.limits.max_text_chars})")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # JSON can spell a lone UTF-16 surrogate ("\ud800"): it is no text, and nothing can store it.
        doc.fail(path, f"contains an unpaired surrogate {text[exc.start]!r} at character {exc.start}")


def clean(text: str) -> str:
    """``text`` with unpaired surrogates replaced: for names and meta, which are kept, not checked."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _check_tokens(doc: Doc, value: int, path: str) -> int:
    if value > doc.limits.max_tokens_per_turn:
        doc.fail(path, f"{value} tokens exceeds max_tokens_per_turn ({doc.limits.max_tokens_per_turn})")
    return value


def _start_phase(
    doc: Doc, call: Call, *, preamble_count: int, preamble_field: str, tally: MethodTally
) -> _PhaseBuilder:
    # With usage the recorded prompt is authoritative: the preamble can not be larger.
    if call.usage is not None:
        preamble_count = min(preamble_count, call.usage.prompt_tokens)
    elif preamble_count:
        tally.counted += 1
    return _PhaseBuilder(_check_tokens(doc, preamble_count, preamble_field))


def _turn(
    doc: Doc,
    ctx: ImportContext,
    call: Call,
    *,
    previous: Usage | None,
    preamble_tokens: int | None,
    tally: MethodTally,
) -> Turn:
    """One turn; ``preamble_tokens`` is given for the first turn of a phase, else None."""
    usage = call.usage
    _check_text(doc, call.input_text, call.input_field)
    _check_text(doc, call.output_text, call.output_field)
    input_tokens: int | None = None
    input_field = call.input_field
    if usage is not None:
        input_field = f"{usage.path}.prompt_tokens"
        if preamble_tokens is not None:
            input_tokens = usage.prompt_tokens - preamble_tokens
        elif previous is not None:
            delta = usage.prompt_tokens - previous.prompt_tokens - previous.completion_tokens
            input_tokens = delta if delta >= 0 else None
    if input_tokens is None:
        input_field = call.input_field
        input_tokens = ctx.counter.count(call.input_text)
        tally.counted += 1
    else:
        tally.from_usage += 1
    if usage is not None:
        output_tokens, output_field = usage.completion_tokens, f"{usage.path}.completion_tokens"
        tally.from_usage += 1
    else:
        output_tokens, output_field = ctx.counter.count(call.output_text), call.output_field
        tally.counted += 1
    return Turn(
        input_tokens=_check_tokens(doc, input_tokens, input_field),
        output_tokens=_check_tokens(doc, output_tokens, output_field),
        cached_tokens=usage.cached_tokens if usage is not None else 0,
        tool=call.tool,
        input_text=call.input_text,
        output_text=call.output_text,
    )


def dump_json(doc: Doc, value: Any, path: str) -> str:
    """Compact JSON text of a decoded value (tool definitions, call arguments) kept as real text."""
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except (ValueError, RecursionError):
        doc.fail(path, "cannot be written back as JSON (nested too deeply)")


def tool_calls_text(doc: Doc, value: Any, path: str) -> str:
    """OpenAI-style ``tool_calls`` as text: one ``{"name": ..., "arguments": ...}`` line per call."""
    lines = []
    for i, item in enumerate(doc.lst(value, path)):
        call = doc.obj(item, f"{path}[{i}]")
        function = doc.obj(doc.key(call, "function", f"{path}[{i}]"), f"{path}[{i}].function")
        name = doc.string(doc.key(function, "name", f"{path}[{i}].function"), f"{path}[{i}].function.name")
        arguments = function.get("arguments", "")
        lines.append(dump_json(doc, {"name": name, "arguments": arguments}, f"{path}[{i}].function"))
    return "\n".join(lines)


def first_tool_call(doc: Doc, value: Any, path: str) -> tuple[str, Any] | None:
    """(name, raw arguments) of the first of ``tool_calls``, or None when there is none."""
    calls = doc.lst(value, path)
    if not calls:
        return None
    call = doc.obj(calls[0], f"{path}[0]")
    function = doc.obj(doc.key(call, "function", f"{path}[0]"), f"{path}[0].function")
    name = doc.string(doc.key(function, "name", f"{path}[0].function"), f"{path}[0].function.name")
    return name, function.get("arguments")


def id_from_source(source: str, suffixes: tuple[str, ...]) -> str:
    """A trajectory id from a file name: the base name without the format's suffixes."""
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    changed = True
    while changed:
        changed = False
        for suffix in suffixes:
            if name.endswith(suffix) and len(name) > len(suffix):
                name = name[: -len(suffix)]
                changed = True
    return name


class LineBuffer:
    """Splits byte pieces into numbered lines (1-based, blank lines counted); keeps only the tail."""

    def __init__(self) -> None:
        self._tail = bytearray()
        self._line = 0

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self._tail += data
        lines = []
        start = 0
        while (end := self._tail.find(b"\n", start)) >= 0:
            self._line += 1
            lines.append((self._line, bytes(self._tail[start:end])))
            start = end + 1
        del self._tail[:start]
        return lines

    def finish(self) -> list[tuple[int, bytes]]:
        if not self._tail:
            return []
        self._line += 1
        last = bytes(self._tail)
        self._tail.clear()
        return [(self._line, last)]
