"""Every configuration model is strict and fully described; every YAML file in the repo loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agentperf.conductor import RunConfig
from agentperf.config import load_config
from agentperf.errors import ConfigError
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.power_collector.config import PowerCollectorConfig
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.services.trajectory_store.config import TrajectoryStoreConfig
from agentperf.sim.config import SimConfig
from agentperf.sim.profile import SimProfile

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL: list[type[BaseModel]] = [
    RunConfig,
    SimConfig,
    SimProfile,
    JudgeConfig,
    LoadGenConfig,
    PowerCollectorConfig,
    ToolSimConfig,
    TrajectoryStoreConfig,
]


def _models(model: type[BaseModel], seen: set[type[BaseModel]]) -> None:
    """The model and every model nested in its fields."""
    if model in seen:
        return
    seen.add(model)
    for info in model.model_fields.values():
        for arg in (info.annotation, *getattr(info.annotation, "__args__", ())):
            inner = getattr(arg, "__args__", (arg,))
            for candidate in (arg, *inner):
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    _models(candidate, seen)


ALL: set[type[BaseModel]] = set()
for _top in TOP_LEVEL:
    _models(_top, ALL)


def _name(model: object) -> str:
    return getattr(model, "__qualname__", repr(model))


@pytest.mark.parametrize("model", sorted(ALL, key=_name), ids=_name)
def test_model_is_strict_and_described(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid", f"{model.__qualname__} accepts unknown keys"
    for name, info in model.model_fields.items():
        assert info.description, f"{model.__qualname__}.{name} has no description"


@pytest.mark.parametrize("model", TOP_LEVEL, ids=_name)
def test_unknown_key_rejected(model: type[BaseModel], tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("no_such_field: 1\n")
    with pytest.raises(ConfigError, match="no_such_field"):
        load_config(model, path, env={})


YAML_MODELS = {"agentperf/sim/profiles": SimProfile}


def test_every_yaml_file_in_the_repo_loads() -> None:
    files = sorted(
        p
        for p in ROOT.rglob("*.y*ml")
        if not any(part.startswith(".") or part == "build" for part in p.relative_to(ROOT).parts)
    )
    assert files, "expected YAML files (simulator profiles at least)"
    for path in files:
        rel = str(path.parent.relative_to(ROOT))
        model = YAML_MODELS.get(rel)
        assert model is not None, f"{path}: no config model known for this YAML file; add it to YAML_MODELS"
        load_config(model, path, env={})
