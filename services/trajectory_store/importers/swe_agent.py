"""SWE-agent trajectories (``*.traj``, 0.x and 1.x): one file is one trajectory of one phase.

The conversation is ``history``: leading ``system`` messages and in-context demonstrations
(``is_demo``) are the phase preamble; every ``assistant`` message is one model call whose
input is the user/tool messages since the previous one. SWE-agent records no per-call token
usage (``info.model_stats`` has run totals only, kept in meta), so all counts come from the
store's counter. The action is the message's ``action`` string (a shell command or an
agent command such as ``open``, ``edit``, ``find_file``, ``submit``), else its first
``tool_calls`` entry; 1.x files carry ``trajectory[k].execution_time``, the recorded
duration of step k, matched to the k-th assistant message when the counts agree.
See docs/importers.md.
"""

from __future__ import annotations

from typing import Any

from agentperf.services.trajectory_store.importers.base import ImportFormat, ImportResult, WholeDocumentParser
from agentperf.services.trajectory_store.importers.chat import (
    MESSAGE_SEPARATOR,
    Call,
    Doc,
    MethodTally,
    build_trajectory,
    decode_json,
    first_tool_call,
    id_from_source,
    span,
    tool_calls_text,
)
from agentperf.services.trajectory_store.importers.tools import classify_tool, command_tool, tool_arguments
from agentperf.trajectory import ToolCall

FORMAT_NAME = "swe-agent"
DESCRIPTION = (
    "SWE-agent .traj (0.x and 1.x): one trajectory per file; tokens counted from the text, "
    "tool durations from trajectory[].execution_time (1.x), full text"
)
_SUFFIXES = (".json", ".traj", f".{FORMAT_NAME}")
_STATS = ("tokens_sent", "tokens_received", "api_calls", "instance_cost")


class SweAgentParser(WholeDocumentParser):
    """Parses one SWE-agent trajectory file."""

    def parse(self, data: bytes) -> ImportResult:
        ctx = self.ctx
        doc = Doc(ctx.source, None, ctx.limits)
        root = doc.obj(decode_json(data, source=ctx.source, line=None), "")
        history = doc.lst(doc.key(root, "history", ""), "history")
        preamble_parts: list[str] = []
        calls: list[Call] = []
        pending: list[str] = []
        pending_from = 0
        for i, raw in enumerate(history):
            path = f"history[{i}]"
            message = doc.obj(raw, path)
            role = doc.string(doc.key(message, "role", path), f"{path}.role")
            content = doc.content(doc.key(message, "content", path), f"{path}.content")
            if (role == "system" or message.get("is_demo") is True) and not calls and not pending:
                preamble_parts.append(content)
                pending_from = i + 1
            elif role == "assistant":
                input_field = span("history", pending_from, i - 1) if pending else path
                input_text = MESSAGE_SEPARATOR.join(pending)
                calls.append(
                    _call(doc, message, path, content=content, input_text=input_text, input_field=input_field)
                )
                pending = []
                pending_from = i + 1
            else:
                pending.append(content)
        meta = _meta(root)
        calls = _with_durations(doc, root, calls, meta)
        tally = MethodTally()
        traj = build_trajectory(
            doc,
            ctx,
            traj_id=id_from_source(ctx.source, _SUFFIXES),
            id_field="source_name",
            preamble=(
                MESSAGE_SEPARATOR.join(preamble_parts),
                span("history", 0, len(preamble_parts) - 1) if preamble_parts else "history",
            ),
            calls=calls,
            calls_field="history",
            meta=meta,
            index=0,
            tally=tally,
        )
        return ImportResult([traj], tally.method(ctx.counter))


def _call(
    doc: Doc, message: dict[str, Any], path: str, *, content: str, input_text: str, input_field: str
) -> Call:
    output = content
    tool_calls = message.get("tool_calls")
    if tool_calls is not None:
        rendered = tool_calls_text(doc, tool_calls, f"{path}.tool_calls")
        output = f"{content}\n{rendered}" if content and rendered else content or rendered
    return Call(
        input_text=input_text,
        input_field=input_field,
        output_text=output,
        output_field=f"{path}.content",
        tool=_tool(doc, message, path),
    )


def _tool(doc: Doc, message: dict[str, Any], path: str) -> ToolCall | None:
    """The action: the ``action`` string when there is one, else the first function call."""
    action = message.get("action")
    if action is not None:
        text = doc.string(action, f"{path}.action")
        return command_tool(text) if text.strip() else None
    tool_calls = message.get("tool_calls")
    if tool_calls is None:
        return None
    first = first_tool_call(doc, tool_calls, f"{path}.tool_calls")
    if first is None:
        return None
    name, tool_class = classify_tool(first[0], tool_arguments(first[1]))
    return ToolCall(name, tool_class)


def _with_durations(doc: Doc, root: dict[str, Any], calls: list[Call], meta: dict[str, str]) -> list[Call]:
    """Attach ``trajectory[k].execution_time`` to call k's tool when steps and calls pair up."""
    steps_raw = root.get("trajectory")
    if steps_raw is None:
        return calls
    steps = doc.lst(steps_raw, "trajectory")
    if len(steps) != len(calls):
        meta["durations"] = f"unknown: {len(steps)} trajectory steps for {len(calls)} model calls"
        return calls
    out = []
    for k, (call, raw) in enumerate(zip(calls, steps, strict=True)):
        step = doc.obj(raw, f"trajectory[{k}]")
        value = step.get("execution_time")
        if value is None or call.tool is None:
            out.append(call)
            continue
        seconds = doc.seconds(value, f"trajectory[{k}].execution_time")
        tool = ToolCall(call.tool.name, call.tool.tool_class, seconds)
        out.append(Call(call.input_text, call.input_field, call.output_text, call.output_field, None, tool))
    return out


def _meta(root: dict[str, Any]) -> dict[str, str]:
    """Informational fields (strings and numbers from info); wrong types are ignored: no count uses them."""
    meta = {"format": FORMAT_NAME}
    info = root.get("info")
    if not isinstance(info, dict):
        return meta
    if isinstance(info.get("exit_status"), str):
        meta["exit_status"] = info["exit_status"]
    stats = info.get("model_stats")
    if isinstance(stats, dict):
        for key in _STATS:
            value = stats.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool):
                meta[f"model_stats.{key}"] = repr(value)
    return meta


FORMAT = ImportFormat(FORMAT_NAME, DESCRIPTION, SweAgentParser)
