"""The conductor's window watch: live previews, early stop, and extension at checkpoints.

The judge and the load generator are stand-ins at the gRPC boundary (their real services are
exercised end to end in tests/e2e); what is tested here is the conductor's decision rule.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from agentperf.conductor import RunConfig, Suite, _Watch, hold_cap_s
from agentperf.v1 import common_pb2, judge_pb2, loadgen_pb2

PASS, FAIL, INCONCLUSIVE = common_pb2.VERDICT_PASS, common_pb2.VERDICT_FAIL, common_pb2.VERDICT_INCONCLUSIVE


class Judge:
    """Answers previews from a script: ``verdicts(call_number) -> {tier: verdict}``."""

    def __init__(self, verdicts: Callable[[int], dict[str, int]]) -> None:
        self.verdicts, self.calls = verdicts, 0

    async def Evaluate(self, request: judge_pb2.EvaluateRequest) -> common_pb2.LevelVerdict:  # noqa: N802
        assert request.preview
        self.calls += 1
        tiers = [
            common_pb2.TierVerdict(tier=common_pb2.SloTier(name=name), verdict=v, ttft_samples=50)  # type: ignore[arg-type]
            for name, v in self.verdicts(self.calls).items()
        ]
        return common_pb2.LevelVerdict(run_id=request.run_id, level=request.level, tiers=tiers, preview=True)


class LoadGen:
    def __init__(self) -> None:
        self.stops: list[str] = []
        self.stopped = asyncio.Event()

    async def StopLevel(self, request: loadgen_pb2.StopLevelRequest) -> loadgen_pb2.StopLevelResponse:  # noqa: N802
        self.stops.append(request.reason)
        self.stopped.set()
        return loadgen_pb2.StopLevelResponse(stopped=True)


def _suite(judge: Judge, loadgen: LoadGen) -> Any:
    return Suite(
        children=[], store=None, loadgen=loadgen, judge=judge, power=None, toolsim=None,
        channels=[], target_url="", sim=None,
    )  # fmt: skip


CFG = RunConfig(progress_interval_s=0.01, quiet=True, max_extensions=2)


async def _watch(
    verdicts: Callable[[int], dict[str, int]], open_tiers: list[str], hold_after_s: float
) -> tuple[_Watch, LoadGen]:
    loadgen = LoadGen()
    watch = _Watch(CFG, _suite(Judge(verdicts), loadgen), "r", 8, open_tiers)
    watch.start()
    await asyncio.sleep(hold_after_s)
    watch.hold()
    await asyncio.wait_for(loadgen.stopped.wait(), 10)
    await watch.stop()
    return watch, loadgen


async def test_a_decided_level_closes_at_the_minimum() -> None:
    watch, loadgen = await _watch(lambda n: {"slo1": PASS, "slo2": FAIL}, ["slo1", "slo2"], 0.05)
    assert loadgen.stops == ["every tier the search needs at this level is decided"]
    assert (watch.extensions, watch.stopped_early) == (0, False)


async def test_an_undecided_needed_tier_extends_the_window_until_decided() -> None:
    # slo2 is not needed at this level, so its inconclusive verdict does not hold the window.
    script: dict[str, int] = {"slo1": INCONCLUSIVE, "slo2": INCONCLUSIVE}
    loop = asyncio.get_running_loop()
    decided_at: list[float] = []

    def verdicts(n: int) -> dict[str, int]:
        if decided_at and loop.time() >= decided_at[0]:
            return {**script, "slo1": PASS}
        return script

    loadgen = LoadGen()
    watch = _Watch(CFG, _suite(Judge(verdicts), loadgen), "r", 8, ["slo1"])
    watch.start()
    await asyncio.sleep(0.1)
    watch.hold()  # minimum window ~0.1 s: checkpoints at ~0.1, 0.2 and 0.4 s of window
    decided_at.append(loop.time() + 0.05)  # decided between the first and second checkpoint
    await asyncio.wait_for(loadgen.stopped.wait(), 10)
    await watch.stop()
    assert loadgen.stops == ["every tier the search needs at this level is decided"]
    assert watch.extensions == 1


async def test_extension_stops_at_the_limit() -> None:
    watch, loadgen = await _watch(lambda n: {"slo1": INCONCLUSIVE}, ["slo1"], 0.05)
    assert watch.extensions == CFG.max_extensions
    assert loadgen.stops == ["still undecided after 2 extension(s): the limit"]


async def test_clear_failure_of_every_needed_tier_stops_before_the_minimum() -> None:
    loadgen = LoadGen()
    watch = _Watch(CFG, _suite(Judge(lambda n: {"slo1": FAIL, "slo2": PASS}), loadgen), "r", 8, ["slo1"])
    watch.start()
    await asyncio.wait_for(loadgen.stopped.wait(), 10)
    await watch.stop()
    assert watch.stopped_early and watch.extensions == 0
    assert loadgen.stops == ["every tier the search needs at this level has clearly failed"]


def test_the_load_generator_may_hold_long_enough_for_every_doubling() -> None:
    assert hold_cap_s(RunConfig(max_extensions=0)) == 0.0
    cfg = RunConfig(max_extensions=2, max_window_s=60)
    # a 60 s minimum doubled twice is 240 s: 180 s past the minimum, plus slack for the checks
    assert 180 < hold_cap_s(cfg) < 200
