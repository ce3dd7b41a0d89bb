"""One phase's conversation, kept as already-encoded JSON so history is byte-identical.

Each message is JSON-encoded once when it enters the history and never again: request k+1
therefore starts with exactly the bytes of request k's messages (plus the assistant reply),
which is what lets the server's prefix cache reuse them, and the hot path never re-encodes
a 100K-token context.
"""

from __future__ import annotations

import json


def _encode(role: str, content: str) -> str:
    # ASCII escapes: a lone surrogate in generated text cannot break the UTF-8 body.
    return json.dumps({"role": role, "content": content}, separators=(",", ":"))


class Conversation:
    """System message plus committed user/assistant pairs of one phase."""

    __slots__ = ("_history", "_messages")

    def __init__(self, system_text: str) -> None:
        self._history = _encode("system", system_text)
        self._messages = 1

    @property
    def messages(self) -> int:
        """Number of committed messages (system included)."""
        return self._messages

    def body(self, user_text: str, tail: str) -> tuple[bytes, str]:
        """The request body with ``user_text`` appended, and the encoded user message.

        ``tail`` is the rest of the JSON object after ``messages`` (see profiles.request_tail).
        """
        user = _encode("user", user_text)
        return f'{{"messages":[{self._history},{user}],{tail}'.encode(), user

    def commit(self, encoded_user: str, assistant_text: str) -> None:
        """Append a successful turn: its user message as sent and the text the server generated."""
        self._history = f"{self._history},{encoded_user},{_encode('assistant', assistant_text)}"
        self._messages += 2
