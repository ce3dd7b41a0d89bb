"""Fault injection: pure decisions, and what the load generator's real client makes of them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from agentperf.loadgen.client import ChatClient, ClientSettings, Exchange
from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.sim.faults import NO_FAULT, FaultPlan, SimFaults, plan_faults, ramp_factor

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")

SEED = 11
MAX_TOKENS = 20
TIMEOUT_S = 0.5  # the client's first-token and idle timeouts
STALL_S = 1.0  # both stalls: twice the client's timeouts
FAULTS = SimFaults(
    http_5xx_rate=0.2,
    stall_before_first_rate=0.2,
    stall_before_first_s=STALL_S,
    stall_mid_stream_rate=0.2,
    stall_mid_stream_s=STALL_S,
    disconnect_rate=0.2,
    slow_ramp_s=2.0,
    slow_ramp_factor=5.0,
)
BODY = {"messages": [{"role": "user", "content": "run the tests"}], "stream": True, "max_tokens": MAX_TOKENS,
        "stream_options": {"include_usage": True}}  # fmt: skip


def first_id(want: Callable[[FaultPlan], bool], prefix: str = "f") -> str:
    """The first request id ``f-<n>`` whose plan satisfies ``want`` (plans are deterministic)."""
    for n in range(10_000):
        rid = f"{prefix}-{n}"
        if want(plan_faults(FAULTS, SEED, rid, MAX_TOKENS)):
            return rid
    raise AssertionError("no request id with that plan")


def only(name: str) -> Callable[[FaultPlan], bool]:
    return lambda plan: plan.names == [name]


# -- pure decisions -----------------------------------------------------------------------------
def test_plans_are_deterministic_and_follow_the_rates() -> None:
    plans = [plan_faults(FAULTS, SEED, f"r-{i}", MAX_TOKENS) for i in range(4000)]
    assert plans == [plan_faults(FAULTS, SEED, f"r-{i}", MAX_TOKENS) for i in range(4000)]
    assert plans != [plan_faults(FAULTS, SEED + 1, f"r-{i}", MAX_TOKENS) for i in range(4000)]
    http = [p.http_status for p in plans if p.http_status is not None]
    assert set(http) == {500, 503}
    assert len(http) / len(plans) == pytest.approx(0.2, abs=0.03)
    rest = [p for p in plans if p.http_status is None]
    for name in ("stall_before_first", "stall_mid_stream", "disconnect"):
        share = sum(name in p.names for p in rest) / len(rest)
        assert share == pytest.approx(0.2, abs=0.03), name
    for p in rest:
        assert p.disconnect_after is None or 0 <= p.disconnect_after < MAX_TOKENS
        assert p.stall_after_token is None or 1 <= p.stall_after_token < MAX_TOKENS


def test_zero_rates_inject_nothing_and_one_rate_does_not_move_another() -> None:
    assert all(plan_faults(SimFaults(), SEED, f"r-{i}", MAX_TOKENS) is not None for i in range(10))
    assert {plan_faults(SimFaults(), SEED, f"r-{i}", MAX_TOKENS) for i in range(1000)} == {NO_FAULT}
    only_disconnect = SimFaults(disconnect_rate=0.3)
    with_stalls = only_disconnect.model_copy(update={"stall_mid_stream_rate": 0.5, "stall_mid_stream_s": 1.0})
    a = [plan_faults(only_disconnect, SEED, f"r-{i}", MAX_TOKENS).disconnect_after for i in range(500)]
    b = [plan_faults(with_stalls, SEED, f"r-{i}", MAX_TOKENS).disconnect_after for i in range(500)]
    assert a == b


def test_slow_ramp_factor_falls_linearly_to_one() -> None:
    ramp = SimFaults(slow_ramp_s=10.0, slow_ramp_factor=3.0)
    assert ramp_factor(ramp, 0.0) == 3.0
    assert ramp_factor(ramp, 5.0) == pytest.approx(2.0)
    assert ramp_factor(ramp, 10.0) == 1.0
    assert ramp_factor(SimFaults(), 0.0) == 1.0


def test_fault_config_is_strict() -> None:
    with pytest.raises(ValueError):
        SimFaults.model_validate({"http_5xx_rate": 1.5})
    with pytest.raises(ValueError):
        SimFaults.model_validate({"disconect_rate": 0.1})


# -- a real simulator process and the load generator's client ------------------------------------
@dataclass
class Sim:
    child: ChildProcess
    client: ChatClient
    log_path: Path

    async def log_line(self, request_id: str) -> dict[str, Any]:
        """The request's log line; the server writes it when the handler ends, maybe after the client."""
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            for raw in self.log_path.read_text().splitlines():
                line: dict[str, Any] = json.loads(raw)
                if line["request_id"] == request_id:
                    return line
            await asyncio.sleep(0.02)
        raise AssertionError(f"{request_id} never reached the request log")

    async def send(self, request_id: str) -> Exchange:
        ex = Exchange(time.monotonic(), time.time())
        await self.client.stream(json.dumps(BODY).encode(), request_id, ex)
        return ex


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sim]:
    tmp = tmp_path_factory.mktemp("faults")
    log_path = tmp / "requests.jsonl"
    args = ["--set", f"request_log={log_path}", "--set", f"seed={SEED}", "--set", "dcgm_port=-1"]
    for key, value in FAULTS.model_dump().items():
        args += ["--set", f"faults.{key}={value}"]
    child = await start_child("sim", "agentperf.sim", args, log_dir=tmp)
    url = f"http://127.0.0.1:{child.port('http_port')}"
    settings = ClientSettings(url, "agentperf-sim", first_token_timeout_s=TIMEOUT_S, idle_timeout_s=TIMEOUT_S)
    client = ChatClient(settings, agents=4)
    try:
        yield Sim(child, client, log_path)
    finally:
        await client.close()
        assert await child.stop() == 0


@MODULE_LOOP
async def test_slow_ramp_slows_steps_just_after_start(sim: Sim) -> None:
    rid = first_id(lambda plan: plan == NO_FAULT, "ramp")
    ex = await sim.send(rid)
    assert ex.failure == ""
    line = await sim.log_line(rid)
    step_s = (line["last_token_s"] - line["first_token_s"]) / (MAX_TOKENS - 1)
    # Tiny profile, one sequence: about 0.0019 s a step; the ramp starts at 5x and the request
    # runs within the first second or so of the 2 s ramp, so its steps are at least 2.5x longer.
    assert step_s > 2.5 * 0.0019, step_s


@pytest.mark.parametrize(
    ("want", "failure"),
    [
        (lambda p: p.http_status == 500, "http_500"),
        (lambda p: p.http_status == 503, "http_503"),
        (lambda p: p.names == ["disconnect"] and p.disconnect_after and p.disconnect_after > 1, "disconnect"),
        (lambda p: p.names == ["disconnect"] and p.disconnect_after == 0, "disconnect"),
        (only("stall_mid_stream"), "idle_timeout"),
        (only("stall_before_first"), "first_token_timeout"),
        (lambda p: p == NO_FAULT, ""),
    ],
    ids=["http_500", "http_503", "disconnect_mid", "disconnect_at_once", "stall_mid", "stall_first", "none"],
)
@MODULE_LOOP
async def test_loadgen_failure_classes(sim: Sim, want: Callable[[FaultPlan], bool], failure: str) -> None:
    rid = first_id(want)
    plan = plan_faults(FAULTS, SEED, rid, MAX_TOKENS)
    ex = await sim.send(rid)
    assert ex.failure == failure
    if plan.disconnect_after is not None:
        assert ex.chunks == plan.disconnect_after
    if plan.stall_after_token is not None:
        assert ex.chunks == plan.stall_after_token
    line = await sim.log_line(rid)
    assert line["fault"] == plan.label
    expected = (
        "error" if plan.http_status else "ok" if plan.stall_before_first_s == 0 and not failure else None
    )
    if expected is not None:
        assert line["status"] == expected


@MODULE_LOOP
async def test_faulted_requests_are_logged_with_their_fault(sim: Sim) -> None:
    rid = first_id(only("disconnect"), "logged")
    await sim.send(rid)
    line = await sim.log_line(rid)
    assert line["fault"] == "disconnect" and line["status"] == "aborted"
    cut = plan_faults(FAULTS, SEED, rid, MAX_TOKENS).disconnect_after
    assert cut is not None and line["completion_tokens"] >= cut


@MODULE_LOOP
async def test_stall_before_first_adds_to_the_logged_ttft(sim: Sim) -> None:
    rid = first_id(only("stall_before_first"), "ttft")
    settings = ClientSettings(sim.client.url.rsplit("/v1/", 1)[0], "agentperf-sim", first_token_timeout_s=5.0)
    client = ChatClient(settings, agents=1)
    try:
        ex = Exchange(time.monotonic(), time.time())
        await client.stream(json.dumps(BODY).encode(), rid, ex)
    finally:
        await client.close()
    assert ex.failure == ""
    line = await sim.log_line(rid)
    assert line["fault"] == "stall_before_first" and line["status"] == "ok"
    assert STALL_S <= line["first_token_s"] - line["arrival_s"] < STALL_S + 0.5
