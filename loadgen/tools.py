"""The tool gap between turns: the :class:`ToolRunner` interface and a local sleep.

A tool call is never executed. The toolsim-backed runner is
:class:`agentperf.loadgen.peers.ToolSimTools`.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from agentperf.trajectory import ToolCall


class ToolRunner(Protocol):
    """Waits out one tool call."""

    @property
    def errors(self) -> int:
        """Tool calls that could not be run as asked (slept locally instead)."""
        ...

    async def run_tool(self, tool: ToolCall, key: str) -> None: ...


class LocalTools:
    """Sleeps each tool's recorded duration times ``scale`` (no toolsim)."""

    def __init__(self, scale: float = 1.0, fallback_s: float = 1.0) -> None:
        self._scale = scale
        self._fallback_s = fallback_s

    @property
    def errors(self) -> int:
        return 0

    async def run_tool(self, tool: ToolCall, key: str) -> None:
        delay = (tool.recorded_duration_s or self._fallback_s) * self._scale
        if delay > 0:
            await asyncio.sleep(delay)
