"""PowerCollector against a real aiohttp exporter on loopback: windows, fallbacks, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from agentperf.errors import ConflictError, InputError, LimitExceededError, NotFoundError, UnavailableError
from agentperf.services.power_collector.collector import HttpMetricsSource, PowerCollector
from agentperf.services.power_collector.config import PowerCollectorConfig
from agentperf.services.power_collector.core import METHOD_ENERGY, METHOD_SAMPLES
from tests.power.exporter import FakeExporter, FakeGpu, closed_port_url


@pytest.fixture
async def exporter() -> AsyncIterator[FakeExporter]:
    fake = FakeExporter(
        [FakeGpu("GPU-aaaa", "0", step_mj=3_000_000.0), FakeGpu("GPU-bbbb", "1", step_mj=1_234_567.0)]
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def make_collector(*endpoints: str, **settings: object) -> tuple[PowerCollector, HttpMetricsSource]:
    config = PowerCollectorConfig.model_validate({"endpoints": list(endpoints), **settings})
    source = HttpMetricsSource(config.scrape_timeout_s)
    return PowerCollector(config, source), source


async def test_energy_counter_delta_gives_exact_mean_power(exporter: FakeExporter) -> None:
    collector, source = make_collector(exporter.url, sample_interval_s=3600.0)
    try:
        assert await collector.begin("w1") == 2
        result = await collector.end("w1")
    finally:
        await collector.stop()
        await source.close()
    assert exporter.hits == 2  # begin and end, no background sample
    a, b = result.gpus
    assert (a.reading.uuid, a.method, a.energy_j) == ("GPU-aaaa", METHOD_ENERGY, 3000.0)
    assert (b.reading.uuid, b.method, b.energy_j) == ("GPU-bbbb", METHOD_ENERGY, 1234.567)
    assert a.mean_power_w == pytest.approx(3000.0 / result.duration_s, rel=1e-12)
    assert b.mean_power_w == pytest.approx(1234.567 / result.duration_s, rel=1e-12)
    assert result.total_mean_power_w == pytest.approx(a.mean_power_w + b.mean_power_w, rel=1e-12)
    assert (a.reading.hostname, a.reading.model_name, a.reading.gpu) == ("fake-node", "Fake GPU", "0")
    assert not result.simulated


async def test_still_counter_falls_back_to_background_power_samples() -> None:
    fake = FakeExporter(
        [FakeGpu("GPU-still", "0", step_mj=0.0, power_w=lambda hit: 100.0 if hit == 1 else 300.0)]
    )
    fake.simulated = True
    await fake.start()
    collector, source = make_collector(fake.url, sample_interval_s=0.02)
    try:
        await collector.begin("w")
        await fake.wait_hits(4)  # begin plus at least three background samples
        result = await collector.end("w")
    finally:
        await collector.stop()
        await source.close()
        await fake.stop()
    (gpu,) = result.gpus
    assert gpu.method == METHOD_SAMPLES
    # Samples: 100 W at begin, then k >= 3 readings of 300 W (background samples and the end scrape).
    k = round((gpu.mean_power_w - 100.0) / (300.0 - gpu.mean_power_w))
    assert k >= 3
    assert gpu.mean_power_w == pytest.approx((100.0 + 300.0 * k) / (k + 1))
    assert gpu.energy_j == pytest.approx(gpu.mean_power_w * result.duration_s)
    assert result.simulated


async def test_unreachable_endpoint_is_unavailable_naming_the_url(exporter: FakeExporter) -> None:
    dead = closed_port_url()
    collector, source = make_collector(exporter.url, dead)
    try:
        with pytest.raises(UnavailableError, match="cannot scrape") as info:
            await collector.begin("w")
        assert dead in str(info.value) and exporter.url not in str(info.value)
        with pytest.raises(NotFoundError):
            await collector.end("w")
    finally:
        await source.close()


async def test_http_error_and_garbage_pages_are_unavailable(exporter: FakeExporter) -> None:
    collector, source = make_collector(exporter.url, sample_interval_s=3600.0)
    try:
        exporter.status = 503
        with pytest.raises(UnavailableError, match=f"{exporter.url}: HTTP 503"):
            await collector.begin("w")
        exporter.status = 200
        exporter.body = 'DCGM_FI_DEV_POWER_USAGE{gpu="0" oops\n'
        with pytest.raises(UnavailableError, match=f"{exporter.url}: unreadable exporter page"):
            await collector.begin("w")
    finally:
        await source.close()


async def test_failed_end_scrape_keeps_the_window_open(exporter: FakeExporter) -> None:
    collector, source = make_collector(exporter.url, sample_interval_s=3600.0)
    try:
        await collector.begin("w")
        exporter.status = 500
        with pytest.raises(UnavailableError):
            await collector.end("w")
        exporter.status = 200
        result = await collector.end("w")
        assert len(result.gpus) == 2
    finally:
        await collector.stop()
        await source.close()


async def test_window_id_errors(exporter: FakeExporter) -> None:
    collector, source = make_collector(exporter.url, sample_interval_s=3600.0, max_open_windows=2)
    try:
        with pytest.raises(NotFoundError, match="no open window 'nope'"):
            await collector.end("nope")
        with pytest.raises(InputError, match="window_id"):
            await collector.begin(" ")
        await collector.begin("a")
        with pytest.raises(ConflictError, match="'a' is already open"):
            await collector.begin("a")
        await collector.begin("b")
        with pytest.raises(LimitExceededError, match="max_open_windows 2"):
            await collector.begin("c")
        await collector.end("a")
        await collector.begin("a")  # an ended id may be used again
    finally:
        await collector.stop()
        await source.close()


async def test_no_endpoints_gives_empty_windows() -> None:
    collector, source = make_collector()
    try:
        assert await collector.begin("w") == 0
        result = await collector.end("w")
    finally:
        await collector.stop()
        await source.close()
    assert (result.gpus, result.total_mean_power_w) == ((), 0.0)


async def test_gpu_filter_limits_the_window(exporter: FakeExporter) -> None:
    collector, source = make_collector(exporter.url, sample_interval_s=3600.0, gpu_filter=["GPU-bbbb"])
    try:
        assert await collector.begin("w") == 1
        result = await collector.end("w")
    finally:
        await collector.stop()
        await source.close()
    assert [g.reading.uuid for g in result.gpus] == ["GPU-bbbb"]
