"""The simulator's tokenizer: whitespace-separated words, plus fixed per-message markers.

Counting rule (other components rely on it exactly)::

    prompt_tokens = sum(words(message.content) + MESSAGE_OVERHEAD for message in messages) + PRIMING

A message is ``<|start|> role <|sep|> words... <|end|>`` (4 marker tokens) and the prompt ends
with the priming ``<|start|> assistant <|sep|>`` (3 tokens). Because the generated words follow
the priming directly, a follow-up request that appends the assistant's reply verbatim and a new
message starts with the previous request's prompt plus its completion token for token, so the
prefix cache can reuse the blocks of both.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

MESSAGE_OVERHEAD = 4
PRIMING = 3

START = "<|start|>"
SEP = "<|sep|>"
END = "<|end|>"
PRIMING_IDS: tuple[str, ...] = (START, "assistant", SEP)

# Plain ASCII words without whitespace or JSON escapes, so a streamed chunk needs no escaping
# beyond quoting and the word count of the concatenated text equals the token count.
VOCABULARY: tuple[str, ...] = (
    "the", "value", "return", "function", "list", "index", "file", "test", "error", "check",
    "result", "config", "update", "call", "string", "path", "module", "class", "import", "data",
    "line", "read", "write", "token", "buffer", "parse", "output", "input", "node", "graph",
    "cache", "block", "state", "queue", "event", "loop", "thread", "lock", "field", "record",
    "name", "type", "size", "count", "range", "start", "stop", "fix", "patch", "diff",
    "commit", "branch", "merge", "build", "run", "step", "trace", "span", "metric", "log",
    "and", "then", "with", "for",
)  # fmt: skip

assert len(PRIMING_IDS) == PRIMING


def content_text(content: Any) -> str:
    """The text of a message's content: a string, ``None``, or a list of ``{"type": "text"}`` parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(part.get("text", "")) for part in content)


def message_token_ids(role: str, text: str) -> list[str]:
    """The tokens of one message: start, role, separator, its words, end."""
    return [START, role, SEP, *text.split(), END]


def count_prompt_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat request under the simulator's rule (see the module docstring)."""
    total = PRIMING
    for message in messages:
        total += len(content_text(message.get("content")).split()) + MESSAGE_OVERHEAD
    return total


def prompt_token_ids(messages: Iterable[Mapping[str, Any]]) -> list[str]:
    """The token sequence the prefix cache hashes; its length is ``count_prompt_tokens(messages)``."""
    ids: list[str] = []
    for message in messages:
        ids.extend(message_token_ids(str(message.get("role", "")), content_text(message.get("content"))))
    ids.extend(PRIMING_IDS)
    return ids


def generate_words(rng: random.Random, count: int, vocabulary: Sequence[str] = VOCABULARY) -> list[str]:
    """``count`` words drawn from ``vocabulary``: the completion the simulator streams."""
    return rng.choices(vocabulary, k=count)
