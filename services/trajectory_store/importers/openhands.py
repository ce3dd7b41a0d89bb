"""OpenHands evaluation output (``output.jsonl``): one JSON object per line, one trajectory each.

A line is ``{"instance_id", "history": [events], "metrics": {"token_usages": [...]}, ...}``.
The ``system`` action (system prompt plus its tool definitions) is the phase preamble. Each
agent action that carries ``tool_call_metadata`` is the result of one model call; consecutive
actions from the same ``model_response.id`` (parallel tool calls) are one call. A call's
input is the text of the observations and user messages since the previous call; its usage
is the ``metrics.token_usages`` entry with that ``response_id`` (prompt_tokens,
completion_tokens, cache_read_tokens); its completion text is the response's message content
plus its tool calls. The tool duration is the observation's ``timestamp`` minus the action's
(observations point at their action through ``cause``). A ``condensation`` action starts a
new phase. See docs/importers.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from agentperf.errors import InputError
from agentperf.services.trajectory_store.importers.base import (
    ImportContext,
    ImportFormat,
    ImportResult,
    check_count,
)
from agentperf.services.trajectory_store.importers.chat import (
    MESSAGE_SEPARATOR,
    Call,
    Doc,
    LineBuffer,
    MethodTally,
    Usage,
    build_trajectory,
    clean,
    decode_json,
    dump_json,
    show,
    span,
    tool_calls_text,
)
from agentperf.services.trajectory_store.importers.tools import classify_tool, command_tool
from agentperf.trajectory import ToolCall, Trajectory

FORMAT_NAME = "openhands"
DESCRIPTION = (
    "OpenHands output.jsonl: one trajectory per line; tokens from metrics.token_usages, "
    "tool durations from action/observation timestamps, full text"
)
# OpenHands action kinds with a fixed class; ``run`` is classified by its command.
_ACTION_CLASSES = {
    "read": "read",
    "edit": "edit",
    "write": "edit",
    "run_ipython": "shell",
    "browse": "shell",
    "browse_interactive": "shell",
    "think": "other",
    "finish": "other",
    "reject": "other",
    "delegate": "other",
    "message": "other",
}


@dataclass
class _Walk:
    """State while walking one history: the preamble, calls so far, and text not yet sent."""

    usages: dict[str, Usage]
    observed: dict[int, datetime]  # action id -> time of its first observation
    preamble: str = ""
    preamble_field: str = "history"
    calls: list[Call] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    pending_from: int = 0
    last_response: str | None = None
    new_phase: bool = False

    def take_input(self, i: int, path: str) -> tuple[str, str]:
        text = MESSAGE_SEPARATOR.join(self.pending)
        where = span("history", self.pending_from, i - 1) if self.pending else path
        self.pending = []
        self.pending_from = i + 1
        return text, where


class OpenHandsParser:
    """Incremental: each completed line is parsed as it arrives; only the unfinished line is held."""

    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self._lines = LineBuffer()
        self._trajectories: list[Trajectory] = []
        self._first_line_of: dict[str, int] = {}
        self._tally = MethodTally()

    def feed(self, data: bytes) -> None:
        for line, raw in self._lines.feed(data):
            self._parse(line, raw)

    def finish(self) -> ImportResult:
        for line, raw in self._lines.finish():
            self._parse(line, raw)
        if not self._trajectories:
            raise InputError(
                "no trajectories: the input is empty or only blank lines", source=self.ctx.source
            )
        return ImportResult(self._trajectories, self._tally.method(self.ctx.counter))

    def _parse(self, line: int, raw: bytes) -> None:
        if not raw.strip():
            return
        ctx = self.ctx
        check_count(ctx, len(self._trajectories) + 1, f":{line}")
        doc = Doc(ctx.source, line, ctx.limits)
        root = doc.obj(decode_json(raw, source=ctx.source, line=line), "")
        traj_id = doc.string(doc.key(root, "instance_id", ""), "instance_id")
        first = self._first_line_of.setdefault(traj_id, line)
        if first != line:
            doc.fail("instance_id", f"duplicate instance_id {show(traj_id)} (first on line {first})")
        walk = _walk_history(doc, root, _usages(doc, root))
        self._trajectories.append(
            build_trajectory(
                doc,
                ctx,
                traj_id=traj_id,
                id_field="instance_id",
                preamble=(walk.preamble, walk.preamble_field),
                calls=walk.calls,
                calls_field="history",
                meta=_meta(root),
                index=len(self._trajectories),
                tally=self._tally,
            )
        )


def _usages(doc: Doc, root: dict[str, Any]) -> dict[str, Usage]:
    metrics = doc.obj(doc.key(root, "metrics", ""), "metrics")
    entries = doc.lst(doc.key(metrics, "token_usages", "metrics"), "metrics.token_usages")
    usages: dict[str, Usage] = {}
    for j, raw in enumerate(entries):
        path = f"metrics.token_usages[{j}]"
        entry = doc.obj(raw, path)
        response_id = doc.string(doc.key(entry, "response_id", path), f"{path}.response_id")
        prompt = doc.count(doc.key(entry, "prompt_tokens", path), f"{path}.prompt_tokens")
        completion = doc.count(doc.key(entry, "completion_tokens", path), f"{path}.completion_tokens")
        cached_raw = entry.get("cache_read_tokens")
        cached = 0 if cached_raw is None else doc.count(cached_raw, f"{path}.cache_read_tokens")
        usages.setdefault(response_id, Usage(prompt, completion, cached, path))
    return usages


def _walk_history(doc: Doc, root: dict[str, Any], usages: dict[str, Usage]) -> _Walk:
    history = doc.lst(doc.key(root, "history", ""), "history")
    events = [doc.obj(raw, f"history[{i}]") for i, raw in enumerate(history)]
    walk = _Walk(usages, _observation_times(doc, events))
    for i, event in enumerate(events):
        path = f"history[{i}]"
        action = event.get("action")
        if action == "system" and not walk.calls and not walk.pending:
            walk.preamble, walk.preamble_field = _system_text(doc, event, path), path
            walk.pending_from = i + 1
        elif action == "condensation":
            walk.new_phase = True
        elif (
            isinstance(action, str)
            and event.get("tool_call_metadata") is not None
            and event.get("source") == "agent"
        ):
            _model_action(doc, event, path, i, walk)
        elif action == "message" and event.get("source") == "agent":
            _text_reply(doc, event, path, i, walk)
        elif "observation" in event:
            walk.pending.append(_observation_text(doc, event, path))
        elif action == "message":
            walk.pending.append(doc.string(doc.key(event, "message", path), f"{path}.message"))
    return walk


def _observation_times(doc: Doc, events: list[dict[str, Any]]) -> dict[int, datetime]:
    """Timestamp of the first observation caused by each action id."""
    times: dict[int, datetime] = {}
    for i, event in enumerate(events):
        cause = event.get("cause")
        if (
            "observation" in event
            and isinstance(cause, int)
            and not isinstance(cause, bool)
            and cause not in times
        ):
            times[cause] = doc.timestamp(
                doc.key(event, "timestamp", f"history[{i}]"), f"history[{i}].timestamp"
            )
    return times


def _system_text(doc: Doc, event: dict[str, Any], path: str) -> str:
    """The system prompt and, as the model received them with it, the tool definitions (JSON)."""
    args = doc.obj(event.get("args", {}), f"{path}.args")
    content = args.get("content")
    if content is None:
        content = doc.key(event, "message", path)
        text = doc.string(content, f"{path}.message")
    else:
        text = doc.string(content, f"{path}.args.content")
    tools = args.get("tools")
    if tools is None:
        return text
    return f"{text}{MESSAGE_SEPARATOR}{dump_json(doc, doc.lst(tools, f'{path}.args.tools'), f'{path}.args.tools')}"


def _observation_text(doc: Doc, event: dict[str, Any], path: str) -> str:
    content = event.get("content")
    if content is not None:
        return doc.string(content, f"{path}.content")
    message = event.get("message", "")
    return doc.string(message, f"{path}.message")


def _model_action(
    doc: Doc,
    event: dict[str, Any],
    path: str,
    i: int,
    walk: _Walk,
) -> None:
    metadata = doc.obj(event["tool_call_metadata"], f"{path}.tool_call_metadata")
    where = f"{path}.tool_call_metadata.model_response"
    response = doc.obj(doc.key(metadata, "model_response", f"{path}.tool_call_metadata"), where)
    response_id = doc.string(doc.key(response, "id", where), f"{where}.id")
    tool = _tool(doc, event, path, metadata, walk.observed)
    if walk.calls and response_id == walk.last_response:
        # Another tool call of the same response: observations so far stay for the next input.
        _add_parallel_tool(walk, tool)
        return
    input_text, input_field = walk.take_input(i, path)
    output_text, output_field = _response_text(doc, response, where)
    walk.calls.append(
        Call(
            input_text,
            input_field,
            output_text,
            output_field,
            walk.usages.get(response_id),
            tool,
            walk.new_phase,
        )
    )
    walk.last_response = response_id
    walk.new_phase = False


def _add_parallel_tool(walk: _Walk, tool: ToolCall) -> None:
    """A second tool call of the same response: one turn, its durations added to the first's."""
    call = walk.calls[-1]
    first = call.tool or tool
    total = (call.tool.recorded_duration_s if call.tool else 0.0) + tool.recorded_duration_s
    merged = ToolCall(first.name, first.tool_class, total)
    walk.calls[-1] = Call(
        call.input_text,
        call.input_field,
        call.output_text,
        call.output_field,
        call.usage,
        merged,
        call.new_phase,
    )


def _text_reply(doc: Doc, event: dict[str, Any], path: str, i: int, walk: _Walk) -> None:
    """A reply without a tool call (an agent ``message``): a model call with no usage recorded."""
    input_text, input_field = walk.take_input(i, path)
    text = doc.string(doc.key(event, "message", path), f"{path}.message")
    walk.calls.append(Call(input_text, input_field, text, f"{path}.message", None, None, walk.new_phase))
    walk.last_response = None
    walk.new_phase = False


def _response_text(doc: Doc, response: dict[str, Any], where: str) -> tuple[str, str]:
    choices = doc.lst(doc.key(response, "choices", where), f"{where}.choices")
    if not choices:
        return "", f"{where}.choices"
    path = f"{where}.choices[0].message"
    message = doc.obj(
        doc.key(doc.obj(choices[0], f"{where}.choices[0]"), "message", f"{where}.choices[0]"), path
    )
    content = doc.content(message.get("content"), f"{path}.content")
    tool_calls = message.get("tool_calls")
    rendered = "" if tool_calls is None else tool_calls_text(doc, tool_calls, f"{path}.tool_calls")
    text = f"{content}\n{rendered}" if content and rendered else content or rendered
    return text, path


def _tool(
    doc: Doc, event: dict[str, Any], path: str, metadata: dict[str, Any], observed: dict[int, datetime]
) -> ToolCall:
    action = doc.string(event["action"], f"{path}.action")
    args = doc.obj(event.get("args", {}), f"{path}.args")
    duration = _duration(doc, event, path, observed)
    command = args.get("command")
    if action == "run":
        text = doc.string(doc.key(args, "command", f"{path}.args"), f"{path}.args.command")
        return command_tool(text, duration)
    function = metadata.get("function_name")
    name = function if isinstance(function, str) and function else action
    tool_class = _ACTION_CLASSES.get(action)
    if tool_class is None:
        name, tool_class = classify_tool(name, args)
    elif action == "edit" and command == "view":
        tool_class = "read"
    return ToolCall(clean(name[:64]), tool_class, duration)


def _duration(doc: Doc, event: dict[str, Any], path: str, observed: dict[int, datetime]) -> float:
    """Observation time minus action time; 0 (unknown) without an observation; never negative."""
    event_id = event.get("id")
    if not isinstance(event_id, int) or isinstance(event_id, bool) or event_id not in observed:
        return 0.0
    started = doc.timestamp(doc.key(event, "timestamp", path), f"{path}.timestamp")
    return max(0.0, (observed[event_id] - started).total_seconds())


def _meta(root: dict[str, Any]) -> dict[str, str]:
    """Informational fields kept when they are strings; no count uses them."""
    meta = {"format": FORMAT_NAME}
    if isinstance(root.get("error"), str):
        meta["error"] = root["error"]
    metadata = root.get("metadata")
    if isinstance(metadata, dict):
        if isinstance(metadata.get("agent_class"), str):
            meta["agent_class"] = metadata["agent_class"]
        llm = metadata.get("llm_config")
        if isinstance(llm, dict) and isinstance(llm.get("model"), str):
            meta["model"] = llm["model"]
    return meta


FORMAT = ImportFormat(FORMAT_NAME, DESCRIPTION, OpenHandsParser)
