"""One strict configuration model per service, loaded in a stated order.

Order (later wins): model defaults < YAML file (``--config``) < environment variables
``AGENTPERF_<FIELD>`` (nested: ``AGENTPERF_<FIELD>__<SUB>``) < ``--set field=value`` flags.
Unknown keys are rejected everywhere, so a typo is an error instead of a silent default.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agentperf.errors import ConfigError

ENV_PREFIX = "AGENTPERF_"


class StrictModel(BaseModel):
    """Base of every config model: unknown keys rejected, values validated on assignment."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class ServiceConfig(StrictModel):
    """Fields every service shares: where it listens and how it reports."""

    host: str = Field("127.0.0.1", description="Address the gRPC and metrics servers bind to.")
    port: int = Field(0, ge=0, le=65535, description="gRPC port; 0 picks a free port (reported on stdout).")
    metrics_port: int = Field(
        0, ge=-1, le=65535, description="Prometheus /metrics port; 0 picks a free port, -1 disables it."
    )
    shutdown_grace_s: float = Field(5.0, ge=0, description="Seconds in-flight RPCs get to finish on SIGTERM.")
    log_level: str = Field("INFO", description="Python logging level name.")


M = TypeVar("M", bound=BaseModel)


def _set_path(tree: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(path)}: {key} is not a section")
        node = child
    node[path[-1]] = value


def _env_overrides(env: Mapping[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, raw in env.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            path = [p.lower() for p in name[len(prefix) :].split("__")]
            _set_path(out, path, yaml.safe_load(raw) if raw else raw)
    return out


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    model: type[M],
    path: str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    env_prefix: str = ENV_PREFIX,
) -> M:
    """Build ``model`` from file, environment and ``key=value`` overrides; errors name the source."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            loaded = yaml.safe_load(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{p}: cannot read config: {exc.strerror}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{p}: not valid YAML: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: top level must be a mapping, got {type(loaded).__name__}")
        data = loaded
    data = _merge(data, _env_overrides(os.environ if env is None else env, env_prefix))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected field=value")
        _set_path(data, key.split("."), yaml.safe_load(raw) if raw else raw)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        source = str(path) if path is not None else "configuration"
        problems = "; ".join(
            f"{'.'.join(str(x) for x in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{source}: {problems}") from exc
