"""The table of import formats."""

from __future__ import annotations

from agentperf.errors import InputError
from agentperf.services.trajectory_store import formats
from agentperf.services.trajectory_store.importers import (
    azure,
    mini_swe_agent,
    mooncake,
    openhands,
    swe_agent,
)
from agentperf.services.trajectory_store.importers.base import ImportContext, ImportFormat, ImportResult


class _JsonlImport:
    """Our own JSON Lines format (docs/trajectory-format.md): token counts are declared in the file."""

    def __init__(self, ctx: ImportContext) -> None:
        self._parser = formats.JsonlParser(ctx.source, ctx.limits)

    def feed(self, data: bytes) -> None:
        self._parser.feed(data)

    def finish(self) -> ImportResult:
        return ImportResult(self._parser.finish(), "declared")


_ALL = [
    ImportFormat(
        formats.FORMAT_NAME,
        "agentperf JSON Lines: one trajectory per line, declared token counts",
        _JsonlImport,
    ),
    mooncake.FORMAT,
    azure.FORMAT,
    mini_swe_agent.FORMAT,
    swe_agent.FORMAT,
    openhands.FORMAT,
]

FORMATS: dict[str, ImportFormat] = {f.name: f for f in _ALL}


def get_format(name: str, *, source: str, field: str = "format") -> ImportFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise InputError(
            f"unknown format {name!r}; supported: {', '.join(sorted(FORMATS))}", source=source, field=field
        ) from None
