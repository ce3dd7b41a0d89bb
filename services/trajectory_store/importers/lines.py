"""Line-by-line input for the streaming importers (request traces): split, number, decode.

Pieces may split lines (and UTF-8 sequences) anywhere; only the unfinished last line is kept
as raw bytes. Line numbers are 1-based and count blank lines, so errors point at the file.
"""

from __future__ import annotations

from collections.abc import Iterator

from agentperf.errors import InputError


class LineSplitter:
    """Turns arbitrary byte pieces into numbered complete lines (``\\r\\n`` or ``\\n`` endings)."""

    def __init__(self) -> None:
        self._tail = bytearray()
        self._line = 0

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        """Yield (line number, bytes without the line ending) for every line ``data`` completes."""
        self._tail += data
        start = 0
        while (end := self._tail.find(b"\n", start)) >= 0:
            self._line += 1
            yield self._line, _strip_cr(bytes(self._tail[start:end]))
            start = end + 1
        del self._tail[:start]

    def finish(self) -> Iterator[tuple[int, bytes]]:
        """Yield the last line when the input did not end with a newline."""
        if self._tail:
            self._line += 1
            yield self._line, _strip_cr(bytes(self._tail))
            self._tail.clear()


def _strip_cr(raw: bytes) -> bytes:
    return raw[:-1] if raw.endswith(b"\r") else raw


def decode_text(raw: bytes, *, source: str, line: int) -> str:
    """UTF-8 text of one line (a byte-order mark on line 1 is dropped); invalid UTF-8 is an InputError."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"invalid UTF-8 at byte {exc.start} of the line", source=source, line=line) from exc
    return text.removeprefix("\ufeff") if line == 1 else text
