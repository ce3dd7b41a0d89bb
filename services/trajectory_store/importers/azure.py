"""Azure LLM inference traces (Azure/AzurePublicDataset, Splitwise): CSV, one request per row.

The header names the columns ``TIMESTAMP,ContextTokens,GeneratedTokens`` (any order, no
others). Every row becomes a single-turn trajectory: input = ``ContextTokens``, output =
``GeneratedTokens``, no tool call, no text; the raw timestamp is kept in ``meta``. The trace
carries token counts (``token_method`` "trace"), so nothing is counted here.

Parsed line by line as bytes arrive; a row spanning lines (a quoted newline) is not valid in
this format. Errors name the file, the line and the column.
"""

from __future__ import annotations

import csv
import re
from datetime import datetime
from typing import NoReturn

from agentperf.errors import InputError
from agentperf.services.trajectory_store.importers.base import (
    ImportContext,
    ImportFormat,
    ImportResult,
    check_count,
)
from agentperf.services.trajectory_store.importers.lines import LineSplitter, decode_text
from agentperf.trajectory import Phase, Trajectory, Turn

FORMAT_NAME = "azure-llm-csv"
COLUMNS = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
_DIGITS = re.compile(r"[0-9]{1,12}")
# datetime.fromisoformat takes at most 6 fraction digits; the trace has 7 (100 ns ticks).
_FRACTION = re.compile(r"(\.[0-9]{6})[0-9]+$")


class AzureCsvParser:
    """Streaming parser: the header, then one trajectory per data row."""

    def __init__(self, ctx: ImportContext) -> None:
        self.ctx = ctx
        self._lines = LineSplitter()
        self._columns: dict[str, int] | None = None
        self._trajectories: list[Trajectory] = []

    def feed(self, data: bytes) -> None:
        for line, raw in self._lines.feed(data):
            self._line(line, raw)

    def finish(self) -> ImportResult:
        for line, raw in self._lines.finish():
            self._line(line, raw)
        if self._columns is None:
            raise InputError("empty input: expected the header " + ",".join(COLUMNS), source=self.ctx.source)
        if not self._trajectories:
            raise InputError("no requests: the header has no rows after it", source=self.ctx.source)
        return ImportResult(self._trajectories, "trace")

    def _fail(self, line: int, column: str, message: str) -> NoReturn:
        raise InputError(message, source=self.ctx.source, line=line, field=column)

    def _line(self, line: int, raw: bytes) -> None:
        text = decode_text(raw, source=self.ctx.source, line=line)
        if not text.strip():
            return
        cells = _cells(text, self.ctx.source, line)
        if self._columns is None:
            self._columns = self._header(line, cells)
            return
        if len(cells) != len(COLUMNS):
            self._fail(line, "", f"must have {len(COLUMNS)} columns like the header, got {len(cells)}")
        check_count(self.ctx, len(self._trajectories) + 1, f":{line}")
        self._trajectories.append(self._row(line, cells, self._columns))

    def _header(self, line: int, cells: list[str]) -> dict[str, int]:
        names = [c.strip() for c in cells]
        if sorted(names) != sorted(COLUMNS):
            self._fail(line, "", f"header must name the columns {','.join(COLUMNS)}, got {','.join(names)!r}")
        return {name: i for i, name in enumerate(names)}

    def _row(self, line: int, cells: list[str], columns: dict[str, int]) -> Trajectory:
        stamp = cells[columns["TIMESTAMP"]].strip()
        try:
            datetime.fromisoformat(_FRACTION.sub(r"\1", stamp))
        except ValueError:
            self._column_fail(
                line, "TIMESTAMP", f"must be a date and time like 2023-11-16 18:17:03.97, got {stamp!r}"
            )
        turn = Turn(
            input_tokens=self._tokens(line, cells, "ContextTokens"),
            output_tokens=self._tokens(line, cells, "GeneratedTokens"),
        )
        index = len(self._trajectories)
        phase = Phase(turns=(turn,))
        return Trajectory(id=f"request-{line}", phases=(phase,), index=index, meta={"timestamp": stamp})

    def _tokens(self, line: int, cells: list[str], name: str) -> int:
        assert self._columns is not None
        value = cells[self._columns[name]].strip()
        if not _DIGITS.fullmatch(value):
            self._column_fail(line, name, f"must be an integer >= 0, got {value[:60]!r}")
        tokens = int(value)
        limit = self.ctx.limits.max_tokens_per_turn
        if tokens > limit:
            self._column_fail(line, name, f"must be at most {limit} (max_tokens_per_turn), got {tokens}")
        return tokens

    def _column_fail(self, line: int, name: str, message: str) -> NoReturn:
        assert self._columns is not None
        self._fail(line, name, f"column {self._columns[name] + 1}: {message}")


def _cells(text: str, source: str, line: int) -> list[str]:
    try:
        rows = list(csv.reader([text], strict=True))
    except csv.Error as exc:
        raise InputError(f"invalid CSV: {exc}", source=source, line=line) from exc
    return rows[0] if rows else []


FORMAT = ImportFormat(
    FORMAT_NAME,
    "Azure LLM inference trace CSV (TIMESTAMP,ContextTokens,GeneratedTokens): one single-turn "
    "trajectory per row, tokens from the trace, no tools",
    AzureCsvParser,
)
