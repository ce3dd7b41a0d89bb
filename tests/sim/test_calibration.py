"""The tiny profile saturates where the laptop run needs it to (virtual-time closed loop).

Targets from the design: SLO tier 1 (P25 >= 30 tok/s, P95 TTFT <= 10 s) saturates around
30-60 agents, tier 2 (100 tok/s, 5 s) around 5-15, tier 3 (300 tok/s, 3 s) around 1-4.
"""

from __future__ import annotations

from functools import cache

from agentperf.sim.calibrate import LevelSummary, run_level
from agentperf.sim.profile import load_profile


@cache
def level(agents: int) -> LevelSummary:
    return run_level(load_profile("tiny"), agents, duration_s=120.0, warmup_s=20.0, seed=7)


def test_tier_3_holds_for_one_agent_and_breaks_by_six() -> None:
    assert level(1).passes(3)
    assert not level(6).passes(3)


def test_tier_2_holds_at_five_and_breaks_by_twenty() -> None:
    assert level(5).passes(2)
    assert not level(20).passes(2)


def test_tier_1_holds_at_twenty_eight_and_breaks_by_sixty_four() -> None:
    assert level(28).passes(1)
    assert not level(64).passes(1)


def test_saturation_is_monotone_in_concurrency() -> None:
    speeds = [level(n).p25_speed for n in (1, 5, 20, 28, 64)]
    assert speeds == sorted(speeds, reverse=True)


def test_growing_conversations_hit_the_prefix_cache() -> None:
    assert level(5).cached_fraction > 0.7


def test_random_start_prefills_history_and_leaves_the_default_alone() -> None:
    from agentperf.sim.calibrate import ClosedLoop, WorkloadSpec

    profile = load_profile("tiny")
    spec = WorkloadSpec()

    def first_prompts(start_random: bool) -> list[int]:
        loop = ClosedLoop(profile, 16, spec, seed=3, start_random=start_random)
        loop.advance(2.0)
        firsts: dict[int, int] = {}
        for outcome in loop.outcomes:
            firsts.setdefault(outcome.agent, outcome.prompt_tokens)
        return [firsts[a] for a in sorted(firsts)]

    fresh, again, prefilled = first_prompts(False), first_prompts(False), first_prompts(True)
    assert fresh == again, "the default mode is unchanged and seeded"
    # A fresh first prompt is the phase's opening (preamble and one input); a prefilled one also
    # carries the turns before its start, uniform over the phase's 4-12 turns.
    assert sum(prefilled) > 2 * sum(fresh)
    assert sum(p > max(fresh) for p in prefilled) >= len(prefilled) // 2
