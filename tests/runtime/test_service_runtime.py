"""The shared runtime, exercised through a real service process on loopback."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp
import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel


async def test_health_reflection_metrics_and_graceful_sigterm(tmp_path: Path) -> None:
    child = await start_child(
        "toolsim", "agentperf.services.toolsim", ["--set", "log_level=DEBUG"], log_dir=tmp_path
    )
    try:
        async with channel(child.grpc_target) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            for service in ("", "agentperf.v1.ToolSim"):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == health_pb2.HealthCheckResponse.SERVING
            reflection = reflection_pb2_grpc.ServerReflectionStub(ch)
            replies = reflection.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")])
            )
            names = {s.name async for r in replies for s in r.list_services_response.service}
            assert {"agentperf.v1.ToolSim", "grpc.health.v1.Health"} <= names
        url = f"http://127.0.0.1:{child.port('metrics_port')}/metrics"
        async with aiohttp.ClientSession() as http, http.get(url) as resp:
            assert resp.status == 200
            assert "agentperf_toolsim_calls" in await resp.text()
    finally:
        code = await child.stop()
    assert code == 0
    assert child.log_path is not None
    log = child.log_path.read_text()
    assert "shutting down" in log and "config:" in log


async def test_unknown_service_is_not_found_by_health() -> None:
    child = await start_child("toolsim", "agentperf.services.toolsim")
    try:
        async with channel(child.grpc_target) as ch:
            health = health_pb2_grpc.HealthStub(ch)
            try:
                await health.Check(health_pb2.HealthCheckRequest(service="nope"))
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
            else:
                raise AssertionError("health check of an unknown service must fail")
    finally:
        await child.stop()


def test_bad_config_exits_2_and_names_the_field(tmp_path: Path) -> None:
    cfg = tmp_path / "toolsim.yaml"
    cfg.write_text("median_s: 1\nmedain: 2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf.services.toolsim", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert f"{cfg}: medain: Extra inputs are not permitted" in proc.stderr


def test_print_config_shows_layered_values() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf.services.toolsim", "--set", "port=50999", "--print-config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "AGENTPERF_SHUTDOWN_GRACE_S": "1.5"},
    )
    assert proc.returncode == 0, proc.stderr
    assert '"port": 50999' in proc.stdout and '"shutdown_grace_s": 1.5' in proc.stdout


async def test_ready_timeout_is_reported_and_child_is_stopped(tmp_path: Path) -> None:
    from agentperf.errors import UnavailableError

    (tmp_path / "silent.py").write_text("import time\ntime.sleep(30)\n")
    started = asyncio.get_running_loop().time()
    try:
        await start_child("silent", "silent", ready_timeout_s=0.5, env={"PYTHONPATH": str(tmp_path)})
    except UnavailableError as exc:
        assert "silent did not become ready" in str(exc)
    else:
        raise AssertionError("expected UnavailableError")
    # the silent child was stopped, not left sleeping for 30 s
    assert asyncio.get_running_loop().time() - started < 10
