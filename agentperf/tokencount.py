"""Counting tokens of real text, offline: a ``tokenizer.json`` through the ``tokenizers`` library.

Importers use real usage figures from the file where it has them; where it has only text
they count it here, and every dataset records which method produced its numbers. Without a
tokenizer file the count is an approximation (4 characters per token), and says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Protocol

from agentperf.errors import ConfigError

APPROX_CHARS_PER_TOKEN = 4


class TokenCounter(Protocol):
    """Counts the tokens of a text; ``method`` names how, for reports."""

    @property
    def method(self) -> str: ...

    def count(self, text: str) -> int: ...


class TokenizerCounter:
    """Exact counts with a Hugging Face ``tokenizer.json`` (loaded from disk, never downloaded)."""

    def __init__(self, path: str | Path) -> None:
        from tokenizers import Tokenizer

        file = Path(path)
        if file.is_dir():
            file = file / "tokenizer.json"
        try:
            self._tokenizer = Tokenizer.from_file(str(file))
        except Exception as exc:  # the library raises plain Exception subclasses from Rust
            raise ConfigError(f"tokenizer {file}: cannot load: {exc}") from exc
        self._method = f"tokenizer:{file.parent.name or file.name}"

    @property
    def method(self) -> str:
        return self._method

    def count(self, text: str) -> int:
        if not text:
            return 0
        # The Rust tokenizer rejects unpaired surrogates; they are not text, so they count as
        # one "?" each, as the UTF-8 encoder's replacement writes them.
        clean = text.encode("utf-8", "replace").decode("utf-8")
        return len(self._tokenizer.encode(clean, add_special_tokens=False).ids)


class ApproxCounter:
    """ceil(characters / 4): the usual rule of thumb for English and code, clearly labelled."""

    method = f"approx:chars/{APPROX_CHARS_PER_TOKEN}"

    def count(self, text: str) -> int:
        return math.ceil(len(text) / APPROX_CHARS_PER_TOKEN)


def make_counter(tokenizer_path: str | Path | None) -> TokenCounter:
    """A tokenizer-backed counter when a path is configured, else the labelled approximation."""
    return TokenizerCounter(tokenizer_path) if tokenizer_path else ApproxCounter()
