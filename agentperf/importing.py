"""Client side of the trajectory store's Import: files (or folders of files) as ImportChunks.

Shared by ``agentperf run --dataset-file`` and ``agentperf trajectories import``. Files are
read lazily, 1 MiB at a time, so a large import never sits in the client's memory whole.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from agentperf.errors import ConfigError
from agentperf.v1 import trajectory_store_pb2

CHUNK_BYTES = 1 << 20


def expand_paths(paths: Sequence[Path]) -> list[Path]:
    """Files as given; a folder stands for the files directly in it, sorted by name."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
            if not inside:
                raise ConfigError(f"{path}: folder holds no files to import")
            files += inside
        elif path.is_file():
            files.append(path)
        else:
            raise ConfigError(f"{path}: no such file or folder")
    if not files:
        raise ConfigError("no files to import")
    return files


async def import_chunks(
    dataset: str, fmt: str, files: Sequence[Path], *, replace: bool = False
) -> AsyncIterator[trajectory_store_pb2.ImportChunk]:
    """The Import request stream: the header on the first chunk, ``source_name`` opening each file."""
    for n, path in enumerate(files):
        first_of_file = True
        try:
            with path.open("rb") as fh:
                while True:
                    data = fh.read(CHUNK_BYTES)
                    if not data and not first_of_file:
                        break
                    chunk = trajectory_store_pb2.ImportChunk(data=data)
                    if first_of_file:
                        chunk.source_name = path.name
                        if n == 0:
                            chunk.dataset, chunk.format, chunk.replace = dataset, fmt, replace
                    first_of_file = False
                    yield chunk
                    if not data:
                        break
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
