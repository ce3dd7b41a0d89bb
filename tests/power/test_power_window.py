"""Window power from snapshots: energy-counter deltas, quantised counters, power-sample fallback."""

from __future__ import annotations

import pytest

from agentperf.services.power_collector.core import (
    METHOD_ENERGY,
    METHOD_SAMPLES,
    GpuReading,
    Snapshot,
    window_power,
)


def reading(key: str = "h/GPU-a", energy_mj: float | None = None, power_w: float | None = None) -> GpuReading:
    return GpuReading(
        key=key, gpu=key[-1], uuid=key.split("/")[1], hostname="h", energy_mj=energy_mj, power_w=power_w
    )


def snap(t: float, *readings: GpuReading) -> Snapshot:
    return Snapshot(t, {r.key: r for r in readings})


def test_counter_delta_over_the_window() -> None:
    begin = snap(100.0, reading(energy_mj=5_000_000.0, power_w=1.0))
    end = snap(110.0, reading(energy_mj=9_000_000.0, power_w=2.0))
    result = window_power(begin, [], end)
    (gpu,) = result.gpus
    assert (gpu.method, gpu.energy_j, gpu.mean_power_w) == (METHOD_ENERGY, 4000.0, 400.0)
    assert (result.duration_s, result.total_mean_power_w) == (10.0, 400.0)


def test_total_is_the_sum_over_gpus() -> None:
    a0, a1 = reading("h/GPU-a", energy_mj=0.0), reading("h/GPU-a", energy_mj=2_000_000.0)
    b0, b1 = reading("h/GPU-b", energy_mj=0.0), reading("h/GPU-b", energy_mj=3_000_000.0)
    result = window_power(snap(0.0, a0, b0), [], snap(10.0, a1, b1))
    assert [g.mean_power_w for g in result.gpus] == [200.0, 300.0]
    assert result.total_mean_power_w == 500.0


def counter_at(t: float, power_w: float, collect_s: float, phase_s: float) -> float:
    """What a DCGM exporter shows at ``t``: the counter as of its last collect (every ``collect_s``)."""
    last_collect = phase_s + collect_s * ((t - phase_s) // collect_s)
    return power_w * last_collect * 1000.0


@pytest.mark.parametrize("phase_s", [0.5, 7.0, 14.2, 29.9])
def test_quantised_counter_is_aligned_on_its_changes(phase_s: float) -> None:
    # 500 W, exporter collecting every 30 s, a 100 s window sampled every second.
    times = [1000.0 + i for i in range(101)]
    snaps = [snap(t, reading(energy_mj=counter_at(t, 500.0, 30.0, phase_s), power_w=500.0)) for t in times]
    result = window_power(snaps[0], snaps[1:-1], snaps[-1])
    (gpu,) = result.gpus
    assert gpu.method == METHOD_ENERGY
    # Aligned on observed changes, the error is at most one sample interval over >= 60 s of changes.
    assert gpu.mean_power_w == pytest.approx(500.0, rel=1 / 60)
    assert gpu.energy_j == pytest.approx(gpu.mean_power_w * 100.0)
    naive = (snaps[-1].gpus["h/GPU-a"].energy_mj - snaps[0].gpus["h/GPU-a"].energy_mj) / 1000.0 / 100.0  # type: ignore[operator]
    assert abs(naive - 500.0) >= abs(gpu.mean_power_w - 500.0)


def test_counter_that_did_not_move_falls_back_to_power_samples() -> None:
    begin = snap(0.0, reading(energy_mj=7.0, power_w=100.0))
    samples = [
        snap(1.0, reading(energy_mj=7.0, power_w=200.0)),
        snap(2.0, reading(energy_mj=7.0, power_w=330.0)),
    ]
    end = snap(4.0, reading(energy_mj=7.0, power_w=170.0))
    (gpu,) = window_power(begin, samples, end).gpus
    assert (gpu.method, gpu.mean_power_w, gpu.energy_j) == (METHOD_SAMPLES, 200.0, 800.0)


def test_counter_reset_falls_back_to_power_samples() -> None:
    begin = snap(0.0, reading(energy_mj=9_000_000.0, power_w=100.0))
    samples = [snap(1.0, reading(energy_mj=10.0, power_w=300.0))]
    end = snap(2.0, reading(energy_mj=9_500_000.0, power_w=200.0))
    (gpu,) = window_power(begin, samples, end).gpus
    assert (gpu.method, gpu.mean_power_w) == (METHOD_SAMPLES, 200.0)


def test_missing_counter_or_missing_gpu_at_the_end_uses_samples() -> None:
    no_counter = window_power(snap(0.0, reading(power_w=80.0)), [], snap(5.0, reading(power_w=120.0)))
    assert [(g.method, g.mean_power_w) for g in no_counter.gpus] == [(METHOD_SAMPLES, 100.0)]
    vanished = window_power(snap(0.0, reading(energy_mj=1.0, power_w=90.0)), [], snap(5.0))
    assert [(g.method, g.mean_power_w) for g in vanished.gpus] == [(METHOD_SAMPLES, 90.0)]


def test_gpu_with_nothing_usable_is_left_out() -> None:
    result = window_power(snap(0.0, reading()), [], snap(5.0, reading()))
    assert (result.gpus, result.total_mean_power_w) == ((), 0.0)


def test_gpu_appearing_after_begin_and_samples_outside_the_window_are_ignored() -> None:
    late = reading("h/GPU-z", energy_mj=0.0, power_w=999.0)
    begin = snap(10.0, reading(power_w=100.0))
    samples = [
        snap(5.0, reading(power_w=1000.0)),
        snap(12.0, reading(power_w=300.0), late),
        snap(30.0, reading(power_w=1e4)),
    ]
    result = window_power(begin, samples, snap(20.0, reading(power_w=200.0), late))
    assert [(g.reading.key, g.mean_power_w) for g in result.gpus] == [("h/GPU-a", 200.0)]


def test_simulated_flag() -> None:
    sim = GpuReading(key="s/GPU-s", gpu="0", uuid="GPU-s", hostname="s", power_w=5.0, simulated=True)
    assert window_power(snap(0.0, sim), [], snap(1.0, sim)).simulated
    assert not window_power(snap(0.0, reading(power_w=1.0)), [], snap(1.0, reading(power_w=1.0))).simulated
