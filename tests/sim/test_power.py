"""Power and energy from the step schedule: exact integration, window averages, load response."""

from __future__ import annotations

import pytest

from agentperf.sim.calibrate import ClosedLoop, WorkloadSpec
from agentperf.sim.power import PowerModel
from agentperf.sim.profile import load_profile


def test_idle_draws_idle_power() -> None:
    power = PowerModel(load_profile("tiny"), start_s=100.0)
    reading = power.reading(110.0)
    assert reading.power_w == 60.0
    assert reading.energy_j == pytest.approx(600.0)
    assert reading.utilisation == 0.0


def test_energy_is_exact_mid_step_and_matches_mean_power() -> None:
    tiny = load_profile("tiny")
    power = PowerModel(tiny, start_s=0.0)
    power.record_step(1.0, 2.0, fill=1.0)  # full batch: max power from 1 s to 3 s
    assert power.reading(2.0).energy_j == pytest.approx(60 * 2.0 + 240 * 1.0)
    full = power.reading(3.0)
    assert full.energy_j == pytest.approx(60 * 3.0 + 240 * 2.0)
    assert full.power_w == pytest.approx(300.0)
    assert full.utilisation == pytest.approx(1.0)
    later = power.reading(13.0)
    assert later.energy_j - full.energy_j == pytest.approx(60 * 10.0)


def test_a_nearly_empty_batch_draws_the_busy_floor() -> None:
    power = PowerModel(load_profile("tiny"), start_s=0.0)
    power.record_step(0.0, 5.0, fill=0.0)
    assert power.reading(5.0).power_w == pytest.approx(60 + 240 * 0.4)


def test_history_stays_bounded_without_scrapes() -> None:
    power = PowerModel(load_profile("tiny"), start_s=0.0)
    for i in range(10_000):
        power.record_step(i * 0.01, 0.005, 0.5)
    assert len(power._steps) < 300
    assert power.reading(100.0).energy_j == pytest.approx(60 * 100 + 240 * 0.7 * 0.005 * 10_000)


def test_power_rises_with_load() -> None:
    tiny = load_profile("tiny")
    watts = [
        ClosedLoop(tiny, agents, WorkloadSpec(), seed=1).run(40.0).mean_power_w for agents in (1, 4, 16, 48)
    ]
    assert watts == sorted(watts)
    assert watts[0] > 60.0 and watts[-1] > 200.0 and watts[-1] <= 300.0
