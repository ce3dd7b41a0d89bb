"""mini-swe-agent trajectories (``*.traj.json``): one file is one trajectory of one phase.

The file is ``{"instance_id", "info", "messages": [{"role", "content", "extra"}]}``. Leading
``system`` messages are the phase preamble; every ``assistant`` message is one model call
(turn) whose input is the messages since the previous assistant message and whose usage is
``extra.response.usage`` (prompt_tokens, completion_tokens,
prompt_tokens_details.cached_tokens). The action is the one ```` ```bash ```` block of the
reply, classified by :mod:`.tools`; a reply without exactly one block was a format error and
ran nothing (no tool call). The file has no tool execution times (the ``created`` stamps
are request times), so recorded durations are 0 (unknown). Messages after the last
assistant message never reached the model and are not kept. See docs/importers.md.
"""

from __future__ import annotations

from typing import Any

from agentperf.services.trajectory_store.importers.base import ImportFormat, ImportResult, WholeDocumentParser
from agentperf.services.trajectory_store.importers.chat import (
    MESSAGE_SEPARATOR,
    Call,
    Doc,
    MethodTally,
    Usage,
    build_trajectory,
    decode_json,
    id_from_source,
    span,
)
from agentperf.services.trajectory_store.importers.tools import command_tool
from agentperf.trajectory import ToolCall

FORMAT_NAME = "mini-swe-agent"
DESCRIPTION = (
    "mini-swe-agent .traj.json: one trajectory per file; tokens from extra.response.usage, "
    "no tool durations, full text"
)
_SUFFIXES = (".json", ".traj", f".{FORMAT_NAME}")
_FENCE_OPEN = "```bash"
_FENCE_CLOSE = "\n```"


def bash_blocks(text: str) -> list[str]:
    """The bodies of ```` ```bash ```` blocks, as mini-swe-agent's action regex
    ```` ```bash\\s*\\n(.*?)\\n``` ```` (DOTALL) finds them when fences sit on their own lines.

    Written with ``str.find`` so that a hostile reply costs linear time, not regex backtracking.
    """
    blocks = []
    pos = 0
    while (start := text.find(_FENCE_OPEN, pos)) >= 0:
        after = start + len(_FENCE_OPEN)
        stop = after
        while stop < len(text) and text[stop].isspace():
            stop += 1
        newline = text.rfind("\n", after, stop)
        if newline < 0:
            pos = after
            continue
        end = text.find(_FENCE_CLOSE, newline + 1)
        if end < 0:
            break  # no closing fence after this opening, so none after any later one either
        blocks.append(text[newline + 1 : end])
        pos = end + len(_FENCE_CLOSE)
    return blocks


class MiniSweAgentParser(WholeDocumentParser):
    """Parses one mini-swe-agent trajectory file."""

    def parse(self, data: bytes) -> ImportResult:
        ctx = self.ctx
        doc = Doc(ctx.source, None, ctx.limits)
        root = doc.obj(decode_json(data, source=ctx.source, line=None), "")
        messages = doc.lst(doc.key(root, "messages", ""), "messages")
        preamble_parts: list[str] = []
        calls: list[Call] = []
        pending: list[str] = []
        pending_from = 0
        for i, raw in enumerate(messages):
            path = f"messages[{i}]"
            message = doc.obj(raw, path)
            role = doc.string(doc.key(message, "role", path), f"{path}.role")
            content = doc.content(doc.key(message, "content", path), f"{path}.content")
            if role == "system" and not calls and not pending:
                preamble_parts.append(content)
                pending_from = i + 1
            elif role == "assistant":
                calls.append(
                    _call(
                        doc,
                        message,
                        path,
                        content=content,
                        pending=pending,
                        input_field=span("messages", pending_from, i - 1),
                    )
                )
                pending = []
                pending_from = i + 1
            else:
                pending.append(content)
        tally = MethodTally()
        preamble_field = span("messages", 0, len(preamble_parts) - 1) if preamble_parts else "messages"
        traj = build_trajectory(
            doc,
            ctx,
            traj_id=_traj_id(doc, root, ctx.source),
            id_field="instance_id",
            preamble=(MESSAGE_SEPARATOR.join(preamble_parts), preamble_field),
            calls=calls,
            calls_field="messages",
            meta=_meta(root),
            index=0,
            tally=tally,
        )
        return ImportResult([traj], tally.method(ctx.counter))


def _call(
    doc: Doc, message: dict[str, Any], path: str, *, content: str, pending: list[str], input_field: str
) -> Call:
    blocks = bash_blocks(content)
    tool: ToolCall | None = command_tool(blocks[0].strip()) if len(blocks) == 1 else None
    return Call(
        input_text=MESSAGE_SEPARATOR.join(pending),
        input_field=input_field if pending else path,
        output_text=content,
        output_field=f"{path}.content",
        usage=_usage(doc, message, path),
        tool=tool,
    )


def _usage(doc: Doc, message: dict[str, Any], path: str) -> Usage | None:
    """``extra.response.usage`` when the message has it; present but malformed is an error."""
    extra = message.get("extra")
    if extra is None:
        return None
    response = doc.obj(extra, f"{path}.extra").get("response")
    if response is None:
        return None
    usage = doc.obj(response, f"{path}.extra.response").get("usage")
    if usage is None:
        return None
    where = f"{path}.extra.response.usage"
    fields = doc.obj(usage, where)
    prompt = doc.count(doc.key(fields, "prompt_tokens", where), f"{where}.prompt_tokens")
    completion = doc.count(doc.key(fields, "completion_tokens", where), f"{where}.completion_tokens")
    cached = 0
    details = fields.get("prompt_tokens_details")
    if details is not None:
        value = doc.obj(details, f"{where}.prompt_tokens_details").get("cached_tokens")
        if value is not None:
            cached = doc.count(value, f"{where}.prompt_tokens_details.cached_tokens")
    return Usage(prompt, completion, cached, where)


def _traj_id(doc: Doc, root: dict[str, Any], source: str) -> str:
    if "instance_id" in root:
        return doc.string(root["instance_id"], "instance_id")
    return id_from_source(source, _SUFFIXES)


def _meta(root: dict[str, Any]) -> dict[str, str]:
    """Informational fields, kept when they are strings (wrong types are ignored: no count uses them)."""
    meta = {"format": FORMAT_NAME}
    info = root.get("info")
    if isinstance(info, dict):
        if isinstance(info.get("exit_status"), str):
            meta["exit_status"] = info["exit_status"]
        config = info.get("config")
        model = config.get("model") if isinstance(config, dict) else None
        if isinstance(model, dict) and isinstance(model.get("model_name"), str):
            meta["model"] = model["model_name"]
    return meta


FORMAT = ImportFormat(FORMAT_NAME, DESCRIPTION, MiniSweAgentParser)
