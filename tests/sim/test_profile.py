"""Profiles are strict data files: every bundled one loads, and mistakes name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentperf.errors import ConfigError
from agentperf.sim.profile import bundled_profiles, load_profile


def test_every_bundled_profile_loads() -> None:
    names = bundled_profiles()
    assert "tiny" in names
    for name in names:
        assert load_profile(name).kv_blocks > 0


def test_tiny_is_one_gpu_between_60_and_300_w() -> None:
    tiny = load_profile("tiny")
    assert (tiny.gpus, tiny.idle_w, tiny.max_w) == (1, 60.0, 300.0)


def test_unknown_key_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("gpus: 2\nkv_blokcs: 10\n")
    with pytest.raises(ConfigError, match=r"mine\.yaml.*kv_blokcs"):
        load_profile(str(path))


def test_inconsistent_capacity_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "small.yaml"
    path.write_text("kv_blocks: 4\nblock_size: 16\nmax_model_len: 1000\n")
    with pytest.raises(ConfigError, match=r"small\.yaml.*kv_blocks"):
        load_profile(str(path))


def test_overrides_are_validated() -> None:
    assert load_profile("tiny", {"gpus": 8}).gpus == 8
    with pytest.raises(ConfigError, match=r"profile_overrides.*nope"):
        load_profile("tiny", {"nope": 1})


def test_unknown_bundled_name_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="tiny"):
        load_profile("huge-nonexistent")
