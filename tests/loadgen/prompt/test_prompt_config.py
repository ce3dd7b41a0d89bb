"""The loadgen's prompt settings: validated at load, handed to workers as PromptSettings, and
accepted (or refused) by the service started as a real process."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentperf.config import load_config
from agentperf.errors import ConfigError, UnavailableError
from agentperf.loadgen.prompt import PromptSettings, PromptStats, merge_stats
from agentperf.runtime.procs import start_child
from agentperf.services.loadgen.config import LoadGenConfig


def test_defaults_keep_the_simulators_word_mode() -> None:
    config = load_config(LoadGenConfig, env={})
    assert config.prompt_settings() == PromptSettings("words", "", "generated")


def test_prompt_fields_are_validated(phi3_path: str) -> None:
    for bad in (["prompt_mode=chars"], ["history_text=both"], ["prompt_mode=tokenizer"]):
        with pytest.raises(ConfigError):
            load_config(LoadGenConfig, overrides=bad, env={})
    with pytest.raises(ConfigError, match="tokenizer_path"):
        load_config(LoadGenConfig, overrides=["tokenizer_path=/nonexistent/tok.json"], env={})
    config = load_config(
        LoadGenConfig,
        overrides=["prompt_mode=tokenizer", f"tokenizer_path={phi3_path}", "history_text=recorded"],
        env={},
    )
    assert config.prompt_settings() == PromptSettings("tokenizer", phi3_path, "recorded")


def test_worker_stats_merge() -> None:
    merged = merge_stats(
        [PromptStats(3, 2.0, 5.0, 0.8), PromptStats(1, -2.0, 7.0, 0.6), PromptStats(0, 0.0, 0.0, 0.9)]
    )
    assert (merged.samples, merged.error_mean, merged.error_max) == (4, 1.0, 7.0)
    assert merged.words_per_token == pytest.approx(0.75)
    assert merge_stats([PromptStats(words_per_token=1.0)] * 2) == PromptStats(words_per_token=1.0)
    assert merge_stats([]) == PromptStats()


async def test_service_process_takes_the_prompt_settings(phi3_path: str, tmp_path: Path) -> None:
    args = ["--set", "prompt_mode=tokenizer", "--set", f"tokenizer_path={phi3_path}"]
    child = await start_child("loadgen", "agentperf.services.loadgen", args, log_dir=tmp_path)
    assert await child.stop() == 0
    with pytest.raises(UnavailableError):
        await start_child("loadgen-bad", "agentperf.services.loadgen", ["--set", "prompt_mode=tokenizer"])
