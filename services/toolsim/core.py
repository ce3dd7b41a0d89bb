"""Pure delay model of toolsim: which delay a tool call gets, and why. No I/O, no waiting.

A call's delay is a function of (config seed, request key) only, so a rerun of the same
benchmark with the same seed sees the same tool gaps, whatever order calls arrive in. The
draw uses its own ``random.Random`` seeded from a SHA-256 of seed and key: Python's ``hash()``
is salted per process and would break that.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from agentperf.errors import InputError
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.trajectory import TOOL_CLASSES

RECORDED_MODEL = "recorded"
_SOURCE = "RunToolRequest"


@dataclass(frozen=True, slots=True)
class DelayDraw:
    """The outcome for one call: the modelled delay (capped), the wall time to wait, and its model."""

    modelled_s: float
    wait_s: float
    model: str
    tool_class: str
    capped: bool


def stable_seed(seed: int, key: str) -> int:
    """A 64-bit seed from (seed, key) that is the same in every process and Python version."""
    digest = hashlib.sha256(f"{seed}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def lognormal_model_name(median_s: float, sigma: float) -> str:
    return f"lognormal(median={float(median_s)}s,sigma={float(sigma)})"


class DelayModel:
    """Draws delays as configured: per-class lognormal, or recorded durations, capped and scaled."""

    def __init__(self, config: ToolSimConfig) -> None:
        self._config = config

    def params(self, tool_class: str) -> tuple[float, float]:
        """(median_s, sigma) of the lognormal used for ``tool_class``."""
        override = self._config.classes.get(tool_class)
        if override is not None:
            return override.median_s, override.sigma
        return self._config.median_s, self._config.sigma

    def draw(self, key: str, tool_class: str = "", recorded_s: float = 0.0) -> DelayDraw:
        """The delay of the call identified by ``key``; raises InputError for a malformed call."""
        tool_class = _check_call(key, tool_class, recorded_s)
        if self._config.use_recorded and recorded_s > 0:
            raw, model = recorded_s, RECORDED_MODEL
        else:
            median_s, sigma = self.params(tool_class)
            rng = random.Random(stable_seed(self._config.seed, key))
            raw = rng.lognormvariate(math.log(median_s), sigma)
            model = lognormal_model_name(median_s, sigma)
        capped = raw > self._config.max_delay_s
        modelled = min(raw, self._config.max_delay_s)
        return DelayDraw(modelled, modelled * self._config.time_scale, model, tool_class, capped)


def _check_call(key: str, tool_class: str, recorded_s: float) -> str:
    if not key:
        raise InputError(
            "must be a non-empty string stable per call (run/agent/turn)", source=_SOURCE, field="key"
        )
    tool_class = tool_class or "other"
    if tool_class not in TOOL_CLASSES:
        raise InputError(
            f"unknown tool class {tool_class!r}; allowed: {', '.join(TOOL_CLASSES)}",
            source=_SOURCE,
            field="tool.tool_class",
        )
    if not math.isfinite(recorded_s) or recorded_s < 0:
        raise InputError(
            f"must be a finite number >= 0, got {recorded_s}",
            source=_SOURCE,
            field="tool.recorded_duration_s",
        )
    return tool_class
