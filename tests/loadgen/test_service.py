"""The loadgen service: as a real process over real gRPC, and in-process for error paths."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import grpc
import pytest

from agentperf.config import load_config
from agentperf.errors import ConfigError
from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.runtime.server import channel
from agentperf.runtime.server import in_process as serve_in_process
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.loadgen.servicer import LoadGenService
from agentperf.v1 import loadgen_pb2, loadgen_pb2_grpc

K = loadgen_pb2


def _settings(llm: Any, peers: Any, judge: str, **extra: Any) -> dict[str, Any]:
    return {
        "target_url": llm.url,
        "trajectory_store": peers.target,
        "toolsim": peers.target,
        "judge": judge,
        "progress_interval_s": 0.1,
        **extra,
    }


@pytest.fixture
async def service(
    llm: Any, peers: Any, make_trajectory: Any, tmp_path: Path
) -> AsyncIterator[tuple[ChildProcess, Any]]:
    llm.set(token_interval_s=0.002)
    peers.store.datasets["ds"] = [
        make_trajectory(f"t{i}", [[(3, 4, True), (2, 3, False)], [(5, 2, False)]]) for i in range(3)
    ]
    judge = await peers.start_judge()
    args = [arg for k, v in _settings(llm, peers, judge).items() for arg in ("--set", f"{k}={v}")]
    child = await start_child("loadgen", "agentperf.services.loadgen", args, log_dir=tmp_path)
    yield child, peers
    assert await child.stop() == 0


def _request(run_id: str, window_s: float = 0.5, **kw: Any) -> loadgen_pb2.RunLevelRequest:
    return loadgen_pb2.RunLevelRequest(run_id=run_id, level=2, dataset="ds", window_s=window_s, **kw)


async def test_run_level_in_a_real_process(service: tuple[ChildProcess, Any]) -> None:
    child, peers = service
    async with channel(child.grpc_target) as ch:
        stub = loadgen_pb2_grpc.LoadGeneratorStub(ch)
        events = [e async for e in stub.RunLevel(_request("p1"))]
        stats = await stub.GetStats(loadgen_pb2.GetStatsRequest(run_id="p1"))
    kinds = [e.kind for e in events]
    assert kinds[:2] == [K.LEVEL_EVENT_KIND_STARTED, K.LEVEL_EVENT_KIND_WINDOW_OPEN]
    assert kinds[-2:] == [K.LEVEL_EVENT_KIND_WINDOW_CLOSED, K.LEVEL_EVENT_KIND_DONE]
    assert K.LEVEL_EVENT_KIND_PROGRESS in kinds
    done = events[-1]
    assert done.requests_sent > 4 and done.records_delivered == done.requests_sent
    assert done.agents == 2 and done.window_s >= 0.5 and done.window_requests > 0
    assert len(peers.judge.records) == done.requests_sent
    assert all(rid.startswith("p1/2/") for rid in peers.judge.records)
    assert peers.toolsim.keys, "tool gaps go through toolsim"
    assert (stats.requests_sent, stats.records_delivered, stats.levels) == (
        done.requests_sent,
        done.requests_sent,
        1,
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{child.port('metrics_port')}/metrics") as resp,
    ):
        text = await resp.text()
    ok = re.search(r'agentperf_loadgen_requests_total\{failure_class="",status="ok"\} (\S+)', text)
    assert ok and float(ok.group(1)) > 0
    delivered = re.search(r"^agentperf_loadgen_records_delivered_total (\S+)", text, re.MULTILINE)
    assert delivered and float(delivered.group(1)) == done.requests_sent
    assert "agentperf_loadgen_agents_in_flight" in text


async def test_one_level_at_a_time_and_cancel_stops_cleanly(service: tuple[ChildProcess, Any]) -> None:
    child, peers = service
    async with channel(child.grpc_target) as ch:
        stub = loadgen_pb2_grpc.LoadGeneratorStub(ch)
        call = stub.RunLevel(_request("p2", window_s=60))
        async for event in call:
            if event.kind == K.LEVEL_EVENT_KIND_WINDOW_OPEN:
                break
        with pytest.raises(grpc.aio.AioRpcError) as busy:
            async for _ in stub.RunLevel(_request("p3")):
                pass
        assert busy.value.code() == grpc.StatusCode.ALREADY_EXISTS
        call.cancel()
        stats = None
        for _ in range(100):  # the level flushes its records after the cancel; bounded wait
            try:
                stats = await stub.GetStats(loadgen_pb2.GetStatsRequest(run_id="p2"))
                break
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.NOT_FOUND
                await asyncio.sleep(0.05)
        assert stats is not None and stats.levels == 1
        assert stats.requests_sent == stats.records_delivered == len(peers.judge.records) > 0
        # the loadgen is free again
        events = [e async for e in stub.RunLevel(_request("p4", window_s=0.1))]
        assert events[-1].kind == K.LEVEL_EVENT_KIND_DONE


async def test_a_held_window_stays_open_until_stop_level(service: tuple[ChildProcess, Any]) -> None:
    """hold_s keeps the window open past its minimum; StopLevel closes it and the level ends cleanly."""
    child, peers = service
    async with channel(child.grpc_target) as ch:
        stub = loadgen_pb2_grpc.LoadGeneratorStub(ch)
        nothing = await stub.StopLevel(K.StopLevelRequest(run_id="h1", level=2))
        assert not nothing.stopped, "no level is running"
        events = []
        async for event in stub.RunLevel(_request("h1", window_s=0.2, hold_s=60)):
            events.append(event)
            if event.kind == K.LEVEL_EVENT_KIND_WINDOW_HOLD:
                held_at = event.elapsed_s
                await asyncio.sleep(0.5)  # the window stays open while held
                assert (
                    await stub.StopLevel(K.StopLevelRequest(run_id="h1", level=2, reason="decided"))
                ).stopped
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.StopLevel(K.StopLevelRequest(run_id="", level=2))
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "run_id" in (
            err.value.details() or ""
        )
    kinds = [e.kind for e in events]
    assert kinds[-2:] == [K.LEVEL_EVENT_KIND_WINDOW_CLOSED, K.LEVEL_EVENT_KIND_DONE]
    done = events[-1]
    # held ~0.5 s past a 0.2 s minimum, far below the 60 s cap
    assert 0.6 <= done.window_s < 10 and done.elapsed_s > held_at
    assert done.records_delivered == done.requests_sent == len(peers.judge.records)


@pytest.fixture
async def in_process(llm: Any, peers: Any, make_trajectory: Any, free_tcp_port: Any) -> AsyncIterator[Any]:
    """The servicer on an in-process server; its judge address points at nothing."""
    llm.set(token_interval_s=0.002)
    peers.store.datasets["ds"] = [make_trajectory("t", [[(3, 4, False)] * 3])]
    config = LoadGenConfig(
        **_settings(llm, peers, f"127.0.0.1:{free_tcp_port()}", judge_retries=1, judge_backoff_s=0.01)
    )
    service = LoadGenService(config)
    async with serve_in_process(service) as ch:
        yield loadgen_pb2_grpc.LoadGeneratorStub(ch)


@pytest.mark.parametrize(
    ("request_kw", "code", "text"),
    [
        ({"level": 0}, grpc.StatusCode.INVALID_ARGUMENT, "level"),
        ({"run_id": "a/b"}, grpc.StatusCode.INVALID_ARGUMENT, "run_id"),
        ({"dataset": ""}, grpc.StatusCode.INVALID_ARGUMENT, "dataset"),
        ({"dataset": "nope"}, grpc.StatusCode.NOT_FOUND, "nope"),
        ({"shard_index": 3, "shard_count": 2}, grpc.StatusCode.INVALID_ARGUMENT, "shard_index"),
        ({"hold_s": -1.0}, grpc.StatusCode.INVALID_ARGUMENT, "hold_s"),
        ({"hold_s": float("inf")}, grpc.StatusCode.INVALID_ARGUMENT, "hold_s"),
    ],
)
async def test_bad_requests_are_refused(
    in_process: Any, request_kw: dict[str, Any], code: Any, text: str
) -> None:
    fields: dict[str, Any] = {"run_id": "x", "level": 1, "dataset": "ds", "window_s": 0.1, **request_kw}
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for _ in in_process.RunLevel(loadgen_pb2.RunLevelRequest(**fields)):
            pass
    assert err.value.code() == code and text in (err.value.details() or "")


async def test_unknown_run_stats_not_found(in_process: Any) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await in_process.GetStats(loadgen_pb2.GetStatsRequest(run_id="never"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_undeliverable_records_fail_the_level_without_done(in_process: Any) -> None:
    events = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for event in in_process.RunLevel(_request("u", window_s=0.1)):
            events.append(event)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "judge" in (err.value.details() or "")
    assert events[-1].kind == K.LEVEL_EVENT_KIND_WINDOW_CLOSED
    stats = await in_process.GetStats(loadgen_pb2.GetStatsRequest(run_id="u"))
    assert stats.requests_sent > 0 and stats.records_delivered == 0


def test_config_is_strict_and_reads_the_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="engine_profile"):
        load_config(LoadGenConfig, overrides=["engine_profile=tgi"], env={})
    with pytest.raises(ConfigError, match="target_url"):
        load_config(LoadGenConfig, overrides=["target_url=localhost:8000"], env={})
    with pytest.raises(ConfigError, match="no_such_field"):
        load_config(LoadGenConfig, overrides=["no_such_field=1"], env={})
    key_file = tmp_path / "key"
    key_file.write_text("sk-file\n")
    config = load_config(LoadGenConfig, overrides=[f"api_key_file={key_file}"], env={})
    assert config.api_key() == "sk-file"
    assert "sk-file" not in config.model_dump_json()
    monkeypatch.setenv("MY_KEY", "sk-env")
    assert load_config(LoadGenConfig, overrides=["api_key_env=MY_KEY"], env={}).api_key() == "sk-env"
    with pytest.raises(ConfigError, match="MISSING_KEY"):
        load_config(LoadGenConfig, overrides=["api_key_env=MISSING_KEY"], env={}).api_key()
    for name, info in LoadGenConfig.model_fields.items():
        assert info.description, f"{name} has no description"
