"""One phase's conversation, kept as already-encoded JSON so history is byte-identical.

Each message is JSON-encoded once when it enters the history and never again: request k+1
therefore starts with exactly the bytes of request k's messages (plus the assistant reply),
which is what lets the server's prefix cache reuse them, and the hot path never re-encodes
a 100K-token context.

The conversation also sums the expected size of its committed messages in the prompt mode's
units (words or tokens, see prompt.py), so a request's expected prompt size costs nothing.
"""

from __future__ import annotations

import json


def _encode(role: str, content: str) -> str:
    # ASCII escapes: a lone surrogate in generated text cannot break the UTF-8 body.
    return json.dumps({"role": role, "content": content}, separators=(",", ":"))


class Conversation:
    """System message plus committed user/assistant pairs of one phase."""

    __slots__ = ("_history", "_messages", "_units")

    def __init__(self, system_text: str, units: float = 0.0) -> None:
        self._history = _encode("system", system_text)
        self._messages = 1
        self._units = units

    @property
    def messages(self) -> int:
        """Number of committed messages (system included)."""
        return self._messages

    @property
    def units(self) -> float:
        """Expected size of the committed messages' contents (prompt-mode units)."""
        return self._units

    def body(self, user_text: str, tail: str) -> tuple[bytes, str]:
        """The request body with ``user_text`` appended, and the encoded user message.

        ``tail`` is the rest of the JSON object after ``messages`` (see profiles.request_tail).
        """
        user = _encode("user", user_text)
        return f'{{"messages":[{self._history},{user}],{tail}'.encode(), user

    @staticmethod
    def user_message(user_text: str) -> str:
        """The encoded user message, for a turn committed without being sent (a prefilled turn)."""
        return _encode("user", user_text)

    def commit(self, encoded_user: str, assistant_text: str, units: float = 0.0) -> None:
        """Append a successful turn: its user message as sent and the assistant's reply.

        ``units`` is the expected size of both contents together.
        """
        self._history = f"{self._history},{encoded_user},{_encode('assistant', assistant_text)}"
        self._messages += 2
        self._units += units
