"""The power collector as a real process on loopback, scraping a real (fake) exporter over HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
import grpc
import pytest

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.v1 import power_pb2, power_pb2_grpc
from tests.power.exporter import FakeExporter, FakeGpu


async def test_windows_over_grpc(tmp_path: Path) -> None:
    fake = FakeExporter(
        [FakeGpu("GPU-1111", "0", step_mj=2_500_000.0), FakeGpu("GPU-2222", "1", step_mj=500_000.0)],
        simulated=True,
    )
    await fake.start()
    child = await start_child(
        "power-collector",
        "agentperf.services.power_collector",
        ["--set", f"endpoints={json.dumps([fake.url])}", "--set", "sample_interval_s=3600"],
        log_dir=tmp_path,
    )
    try:
        async with channel(child.grpc_target) as ch:
            stub = power_pb2_grpc.PowerCollectorStub(ch)
            begun = await stub.BeginWindow(power_pb2.BeginWindowRequest(window_id="run/8"))
            assert begun.gpus == 2
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.BeginWindow(power_pb2.BeginWindowRequest(window_id="run/8"))
            assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS

            window = await stub.EndWindow(power_pb2.EndWindowRequest(window_id="run/8"))
            assert (window.window_id, window.source, window.simulated) == ("run/8", fake.url, True)
            assert [(g.uuid, g.gpu, g.method, g.energy_j) for g in window.gpus] == [
                ("GPU-1111", "0", "energy_counter", 2500.0),
                ("GPU-2222", "1", "energy_counter", 500.0),
            ]
            assert window.gpus[0].mean_power_w == pytest.approx(2500.0 / window.duration_s, rel=1e-12)
            assert window.total_mean_power_w == pytest.approx(3000.0 / window.duration_s, rel=1e-12)
            assert (window.gpus[0].hostname, window.gpus[0].model_name) == ("fake-node", "Fake GPU")

            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.EndWindow(power_pb2.EndWindowRequest(window_id="run/8"))
            assert info.value.code() == grpc.StatusCode.NOT_FOUND

            fake.status = 503
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.BeginWindow(power_pb2.BeginWindowRequest(window_id="run/9"))
            assert info.value.code() == grpc.StatusCode.UNAVAILABLE
            assert fake.url in (info.value.details() or "")
            fake.status = 200
            assert (await stub.BeginWindow(power_pb2.BeginWindowRequest(window_id="run/9"))).gpus == 2

        url = f"http://127.0.0.1:{child.port('metrics_port')}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            text = await resp.text()
        assert f'agentperf_power_scrapes_total{{endpoint="{fake.url}",outcome="error"}} 1.0' in text
        assert "agentperf_power_open_windows 1.0" in text
    finally:
        assert await child.stop() == 0
        await fake.stop()
