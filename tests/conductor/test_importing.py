"""Files and folders become one Import stream: header first, source_name opening each file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentperf import importing
from agentperf.errors import ConfigError


async def _collect(files: list[Path]) -> list[tuple[str, str, str, bool, bytes]]:
    return [
        (c.dataset, c.format, c.source_name, c.replace, c.data)
        async for c in importing.import_chunks("ds", "swe-agent", files, replace=True)
    ]


async def test_chunks_carry_header_once_and_open_each_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importing, "CHUNK_BYTES", 4)
    (tmp_path / "a.traj").write_bytes(b"0123456789")
    (tmp_path / "b.traj").write_bytes(b"xy")
    (tmp_path / "empty.traj").write_bytes(b"")
    files = importing.expand_paths([tmp_path])
    assert [f.name for f in files] == ["a.traj", "b.traj", "empty.traj"]
    chunks = await _collect(files)
    assert chunks[0] == ("ds", "swe-agent", "a.traj", True, b"0123")
    assert [c[4] for c in chunks[1:3]] == [b"4567", b"89"]
    assert ("", "", "b.traj", False, b"xy") in chunks
    assert chunks[-1] == ("", "", "empty.traj", False, b"")  # an empty file still opens
    assert b"".join(c[4] for c in chunks) == b"0123456789xy"
    assert all(c[0] == "" for c in chunks[1:])


def test_missing_paths_and_empty_folders_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope: no such file or folder"):
        importing.expand_paths([tmp_path / "nope"])
    with pytest.raises(ConfigError, match="folder holds no files"):
        importing.expand_paths([tmp_path])
