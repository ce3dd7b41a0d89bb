"""Our JSONL trajectory format (docs/trajectory-format.md): strict, incremental parsing and dumping.

One trajectory per line. Validation is strict so that a typo never becomes a silent default:
unknown keys, wrong types, out-of-range values and limit violations are all errors. Every error
is an :class:`InputError` that names the source file, the line and the field, for example
``trajs.jsonl:17 field 'phases[0].turns[3].output_tokens': must be an integer >= 0, got -5``.
The one exception is the dataset-wide ``max_trajectories`` limit, a
:class:`LimitExceededError` naming the line where it was passed.

Pure: no I/O. :class:`JsonlParser` takes bytes in arbitrary chunks (lines may be split anywhere)
and keeps only the unfinished tail line, so raw input is never held twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import INT32_MAX, StoreLimits
from agentperf.trajectory import TOOL_CLASSES, Phase, ToolCall, Trajectory, Turn

FORMAT_NAME = "jsonl"

_TRAJECTORY_KEYS = ("id", "phases", "meta")
_PHASE_KEYS = ("preamble_tokens", "preamble_text", "turns")
_TURN_KEYS = ("input_tokens", "output_tokens", "cached_tokens", "input_text", "output_text", "tool")
_TOOL_KEYS = ("name", "class", "duration_s")
_SHOWN_CHARS = 60


class _JsonRejectedError(ValueError):
    """Raised from json.loads hooks for input the json module accepts but we do not."""


def _show(value: Any) -> str:
    """A short JSON rendering of an offending value for error messages."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _pairs_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _JsonRejectedError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _reject_constant(name: str) -> NoReturn:
    raise _JsonRejectedError(f"{name} is not allowed")


class _Line:
    """Validation of one decoded JSON value; knows where it came from for error messages."""

    def __init__(self, source: str, line: int, limits: StoreLimits) -> None:
        self.source = source
        self.line = line
        self.limits = limits

    def fail(self, field: str, message: str) -> NoReturn:
        raise InputError(message, source=self.source, line=self.line, field=field)

    def obj(self, value: Any, path: str, keys: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, f"must be a JSON object, got {_show(value)}")
        unknown = sorted(set(value) - set(keys))
        if unknown:
            self.fail(_join(path, unknown[0]), f"unknown key; allowed: {', '.join(keys)}")
        for key in required:
            if key not in value:
                self.fail(_join(path, key), "required key is missing")
        return value

    def integer(self, value: Any, path: str, maximum: int, limit_name: str = "") -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            self.fail(path, f"must be an integer >= 0, got {_show(value)}")
        if value > maximum:
            named = f" ({limit_name})" if limit_name else ""
            self.fail(path, f"must be an integer <= {maximum}{named}, got {value}")
        return value

    def text(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            self.fail(path, f"must be a string, got {_show(value)}")
        if len(value) > self.limits.max_text_chars:
            self.fail(
                path,
                f"must be at most {self.limits.max_text_chars} characters (max_text_chars), got {len(value)}",
            )
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            # JSON can spell a lone UTF-16 surrogate ("\ud800"): it is no text, and nothing can store it.
            self.fail(path, f"contains an unpaired surrogate at character {exc.start}")
        return value

    def nonempty_list(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list) or not value:
            self.fail(path, f"must be a non-empty list, got {_show(value)}")
        return value

    def tokens(self, value: Any, path: str) -> int:
        return self.integer(value, path, self.limits.max_tokens_per_turn, "max_tokens_per_turn")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _tool(v: _Line, value: Any, path: str) -> ToolCall | None:
    if value is None:
        return None
    raw = v.obj(value, path, _TOOL_KEYS, ("name",))
    name = v.text(raw["name"], f"{path}.name")
    if not name:
        v.fail(f"{path}.name", 'must be a non-empty string, got ""')
    tool_class = raw.get("class", "other")
    if tool_class not in TOOL_CLASSES:
        v.fail(f"{path}.class", f"must be one of {', '.join(TOOL_CLASSES)}, got {_show(tool_class)}")
    duration = raw.get("duration_s", 0.0)
    if (
        not isinstance(duration, int | float)
        or isinstance(duration, bool)
        or not math.isfinite(duration)
        or duration < 0
    ):
        v.fail(f"{path}.duration_s", f"must be a finite number >= 0, got {_show(duration)}")
    return ToolCall(name=name, tool_class=tool_class, recorded_duration_s=float(duration))


def _turn(v: _Line, value: Any, path: str) -> Turn:
    raw = v.obj(value, path, _TURN_KEYS, ("input_tokens", "output_tokens"))
    return Turn(
        input_tokens=v.tokens(raw["input_tokens"], f"{path}.input_tokens"),
        output_tokens=v.tokens(raw["output_tokens"], f"{path}.output_tokens"),
        cached_tokens=v.integer(raw.get("cached_tokens", 0), f"{path}.cached_tokens", INT32_MAX),
        tool=_tool(v, raw.get("tool"), f"{path}.tool"),
        input_text=v.text(raw.get("input_text", ""), f"{path}.input_text"),
        output_text=v.text(raw.get("output_text", ""), f"{path}.output_text"),
    )


def _phase(v: _Line, value: Any, path: str, turns_before: int) -> Phase:
    raw = v.obj(value, path, _PHASE_KEYS, ("turns",))
    turns = v.nonempty_list(raw["turns"], f"{path}.turns")
    limit = v.limits.max_turns_per_trajectory
    if turns_before + len(turns) > limit:
        v.fail(
            f"{path}.turns",
            f"trajectory has more than {limit} turns (max_turns_per_trajectory), "
            f"got {turns_before + len(turns)} by this phase",
        )
    preamble_tokens = v.tokens(raw.get("preamble_tokens", 0), f"{path}.preamble_tokens")
    preamble_text = v.text(raw.get("preamble_text", ""), f"{path}.preamble_text")
    return Phase(
        turns=tuple(_turn(v, t, f"{path}.turns[{i}]") for i, t in enumerate(turns)),
        preamble_tokens=preamble_tokens,
        preamble_text=preamble_text,
    )


def _meta(v: _Line, value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        v.fail("meta", f"must be a JSON object of strings, got {_show(value)}")
    return {v.text(key, "meta"): v.text(item, f"meta.{key}") for key, item in value.items()}


def trajectory_from_json(
    value: Any, *, source: str, line: int, index: int, limits: StoreLimits
) -> Trajectory:
    """Validate one decoded JSON line and build the trajectory; raises InputError naming the field."""
    v = _Line(source, line, limits)
    raw = v.obj(value, "", _TRAJECTORY_KEYS, ("id", "phases"))
    traj_id = v.text(raw["id"], "id")
    if not traj_id.strip():
        v.fail("id", f"must be a non-empty string, got {_show(traj_id)}")
    phases_raw = v.nonempty_list(raw["phases"], "phases")
    if len(phases_raw) > limits.max_phases:
        v.fail("phases", f"must have at most {limits.max_phases} phases (max_phases), got {len(phases_raw)}")
    phases: list[Phase] = []
    turns_before = 0
    for i, item in enumerate(phases_raw):
        phases.append(_phase(v, item, f"phases[{i}]", turns_before))
        turns_before += len(phases[-1].turns)
    meta = _meta(v, raw["meta"]) if "meta" in raw else {}
    return Trajectory(id=traj_id, phases=tuple(phases), index=index, meta=meta)


def decode_line(raw: bytes, *, source: str, line: int) -> Any:
    """Bytes of one line to a JSON value; invalid UTF-8, invalid JSON, NaN and duplicate keys are errors."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start} of the line", source=source, line=line) from exc
    if line == 1:
        text = text.removeprefix("\ufeff")
    try:
        return json.loads(text, object_pairs_hook=_pairs_without_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid JSON: {exc.msg} (column {exc.colno})", source=source, line=line) from exc
    except _JsonRejectedError as exc:
        raise InputError(f"invalid JSON: {exc}", source=source, line=line) from exc
    except (ValueError, RecursionError) as exc:
        # Huge integer literals (ValueError) and absurd nesting (RecursionError) from json itself.
        raise InputError(f"invalid JSON: {type(exc).__name__}", source=source, line=line) from exc


class JsonlParser:
    """Incremental parser: :meth:`feed` chunks as they arrive, then :meth:`finish`.

    Trajectories get ``index`` 0, 1, ... in file order; ids must be unique within the input.
    """

    def __init__(self, source: str, limits: StoreLimits) -> None:
        self.source = source
        self.limits = limits
        self.trajectories: list[Trajectory] = []
        self._tail = bytearray()
        self._line = 0
        self._first_line_of: dict[str, int] = {}

    def feed(self, data: bytes) -> None:
        """Parse every line completed by ``data``; the unfinished tail is kept for the next call."""
        self._tail += data
        start = 0
        while (end := self._tail.find(b"\n", start)) >= 0:
            self._parse(bytes(self._tail[start:end]))
            start = end + 1
        del self._tail[:start]

    def finish(self) -> list[Trajectory]:
        """Parse the last line (which may lack a newline) and return all trajectories."""
        if self._tail:
            self._parse(bytes(self._tail))
            self._tail.clear()
        if not self.trajectories:
            raise InputError("no trajectories: the input is empty or only blank lines", source=self.source)
        return self.trajectories

    def _parse(self, raw: bytes) -> None:
        self._line += 1
        if not raw.strip():
            return
        line = self._line
        value = decode_line(raw, source=self.source, line=line)
        if len(self.trajectories) >= self.limits.max_trajectories:
            raise LimitExceededError(
                f"{self.source}:{line}: more than {self.limits.max_trajectories} trajectories (max_trajectories)"
            )
        traj = trajectory_from_json(
            value, source=self.source, line=line, index=len(self.trajectories), limits=self.limits
        )
        first = self._first_line_of.setdefault(traj.id, line)
        if first != line:
            raise InputError(
                f"duplicate id {_show(traj.id)} (first on line {first})",
                source=self.source,
                line=line,
                field="id",
            )
        self.trajectories.append(traj)


def parse_jsonl(data: bytes, *, source: str, limits: StoreLimits | None = None) -> list[Trajectory]:
    """Parse a whole JSONL document at once (see :class:`JsonlParser`)."""
    parser = JsonlParser(source, limits or StoreLimits())
    parser.feed(data)
    return parser.finish()


def _turn_json(turn: Turn) -> dict[str, Any]:
    out: dict[str, Any] = {
        "input_tokens": turn.input_tokens,
        "output_tokens": turn.output_tokens,
        "cached_tokens": turn.cached_tokens,
    }
    if turn.input_text:
        out["input_text"] = turn.input_text
    if turn.output_text:
        out["output_text"] = turn.output_text
    if turn.tool is not None:
        out["tool"] = {
            "name": turn.tool.name,
            "class": turn.tool.tool_class,
            "duration_s": turn.tool.recorded_duration_s,
        }
    return out


def trajectory_to_json(traj: Trajectory) -> dict[str, Any]:
    """The JSON object of one trajectory in our format (optional empty fields left out)."""
    phases = []
    for phase in traj.phases:
        item: dict[str, Any] = {"preamble_tokens": phase.preamble_tokens}
        if phase.preamble_text:
            item["preamble_text"] = phase.preamble_text
        item["turns"] = [_turn_json(t) for t in phase.turns]
        phases.append(item)
    out: dict[str, Any] = {"id": traj.id, "phases": phases}
    if traj.meta:
        out["meta"] = dict(traj.meta)
    return out


def dump_jsonl(trajectories: Iterable[Trajectory]) -> bytes:
    """Serialize trajectories to our JSONL format: one compact object per line, UTF-8."""
    lines = (
        json.dumps(trajectory_to_json(t), ensure_ascii=False, separators=(",", ":")) for t in trajectories
    )
    return "".join(line + "\n" for line in lines).encode("utf-8")


def meta_json(meta: Mapping[str, str]) -> str:
    """Canonical JSON of a trajectory's meta map (stored beside the proto payload, which has no meta)."""
    return json.dumps(dict(meta), ensure_ascii=False, sort_keys=True, separators=(",", ":"))
