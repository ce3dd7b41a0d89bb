"""Strict configuration: unknown keys rejected, sources layered in the stated order, errors named."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentperf.conductor import RunConfig
from agentperf.config import ServiceConfig, load_config
from agentperf.errors import ConfigError
from agentperf.search import SearchConfig
from agentperf.tiers import TierConfig


def test_layering_file_then_env_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("seed: 3\nwindow_s: 7\nsearch:\n  start: 2\n")
    env = {"AGENTPERF_WINDOW_S": "8", "AGENTPERF_SEARCH__GROWTH": "3"}
    cfg = load_config(RunConfig, path, env=env, overrides=["seed=5"])
    assert (cfg.seed, cfg.window_s, cfg.search.start, cfg.search.growth) == (5, 8.0, 2, 3.0)


def test_unknown_key_is_rejected_with_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("windw_s: 7\n")
    with pytest.raises(ConfigError, match=r"run\.yaml: windw_s: Extra inputs are not permitted"):
        load_config(RunConfig, path, env={})


def test_nested_unknown_key_and_bad_value_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"search\.strat"):
        load_config(RunConfig, None, env={}, overrides=["search.strat=3"])
    with pytest.raises(ConfigError, match=r"window_s: Input should be greater than 0"):
        load_config(RunConfig, None, env={}, overrides=["window_s=-1"])


def test_duplicate_tier_names_rejected() -> None:
    tiers = (
        "tiers=[{name: a, min_output_speed: 1, max_ttft_s: 1}, {name: a, min_output_speed: 2, max_ttft_s: 1}]"
    )
    with pytest.raises(ConfigError, match="tier names must be unique; repeated: a"):
        load_config(RunConfig, None, env={}, overrides=[tiers])


@pytest.mark.parametrize(
    ("content", "message"),
    [("- a\n- b\n", "top level must be a mapping"), ("a: [\n", "not valid YAML")],
)
def test_bad_files_are_named(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "svc.yaml"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(ServiceConfig, path, env={})
    assert str(path) in str(info.value)


def test_missing_file_and_malformed_flag() -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(ServiceConfig, "/nonexistent/agentperf.yaml", env={})
    with pytest.raises(ConfigError, match="expected field=value"):
        load_config(ServiceConfig, None, env={}, overrides=["port"])


def test_every_field_is_described() -> None:
    for model in (RunConfig, ServiceConfig, TierConfig, SearchConfig):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_window_must_be_able_to_yield_a_verdict() -> None:
    with pytest.raises(ConfigError, match=r"min_window_requests \(15\) must be at least min_samples \(20\)"):
        load_config(RunConfig, None, env={}, overrides=["min_window_requests=15"])
    cfg = load_config(RunConfig, None, env={}, overrides=["min_window_requests=15", "min_samples=10"])
    assert cfg.min_samples == 10


@pytest.mark.parametrize(
    ("rules", "message"),
    [(["slo1:many"], "gate[0]"), (["slo1:4", "slo9:1"], "gate[1] names tier 'slo9'")],
)
def test_gate_rules_are_checked_against_the_tiers(rules: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(RunConfig, None, env={}, overrides=["gate=" + str(rules).replace("'", '"')])
    assert [r.tier for r in RunConfig(gate=["slo2:agents=3,per_gpu=1"]).gate_rules()] == ["slo2"]
