"""At 60 concurrent streams the real-time loop keeps the model's pace on one core."""

from __future__ import annotations

import pytest

from agentperf.sim.pace import measure

pytestmark = pytest.mark.e2e


async def test_sixty_streams_keep_the_modelled_pace() -> None:
    result = await measure(streams=60, tokens=60)
    assert result.chunks == 60 * 60
    # Never faster than the model; slower only by scheduling noise, not by falling behind.
    assert 0.97 <= result.ratio <= 1.5, result
