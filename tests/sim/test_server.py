"""The simulator as a real process on loopback, talked to with a real HTTP client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from prometheus_client.parser import text_string_to_metric_families

from agentperf.runtime.procs import ChildProcess, start_child
from agentperf.sim.tokens import MESSAGE_OVERHEAD, count_prompt_tokens

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="module")]

BLOCK = 16  # the tiny profile's block size


@dataclass
class Sim:
    child: ChildProcess
    session: aiohttp.ClientSession
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.child.port('http_port')}"

    @property
    def dcgm_url(self) -> str:
        return f"http://127.0.0.1:{self.child.port('dcgm_port')}/metrics"

    def log_lines(self) -> dict[str, dict[str, Any]]:
        lines = [json.loads(x) for x in self.log_path.read_text().splitlines()]
        return {line["request_id"]: line for line in lines}

    async def wait_logged(self, request_id: str, timeout_s: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.log_lines().get(request_id)
            if found is not None:
                return found
            await asyncio.sleep(0.02)
        raise AssertionError(f"{request_id} never reached the request log")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def sim(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Sim]:
    tmp = tmp_path_factory.mktemp("sim")
    log_path = tmp / "requests.jsonl"
    child = await start_child("sim", "agentperf.sim", ["--set", f"request_log={log_path}"], log_dir=tmp)
    async with aiohttp.ClientSession() as session:
        yield Sim(child, session, log_path)
    assert await child.stop() == 0


async def stream(sim: Sim, body: dict[str, Any], request_id: str | None = None) -> tuple[list[Any], Any]:
    """POST a streaming request; returns the parsed data frames (``[DONE]`` as a string) and the response."""
    headers = {"X-Request-Id": request_id} if request_id else {}
    frames: list[Any] = []
    async with sim.session.post(
        f"{sim.url}/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as r:
        assert r.status == 200, await r.text()
        buffer = (await r.read()).decode()
    for frame in buffer.split("\n\n"):
        if frame:
            assert frame.startswith("data: ")
            payload = frame[len("data: ") :]
            frames.append(payload if payload == "[DONE]" else json.loads(payload))
    return frames, r


def content_of(frames: list[Any]) -> str:
    return "".join(
        f["choices"][0]["delta"].get("content", "") for f in frames if isinstance(f, dict) and f["choices"]
    )


def conversation(tag: str) -> list[dict[str, Any]]:
    preamble = " ".join(f"{tag}-pre{i}" for i in range(300))
    return [{"role": "system", "content": preamble}, {"role": "user", "content": " ".join(["fix"] * 50)}]


async def test_streaming_shape_usage_and_exact_token_counts(sim: Sim) -> None:
    messages = [{"role": "user", "content": [{"type": "text", "text": "please fix the failing test"}]}]
    body = {
        "model": "agentperf-sim",
        "messages": messages,
        "max_tokens": 25,
        "stream_options": {"include_usage": True},
    }
    frames, response = await stream(sim, body, request_id="shape-1")
    assert response.headers["X-Request-Id"] == "shape-1"
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert frames[-1] == "[DONE]"
    usage_frame, final = frames[-2], frames[-3]
    tokens = frames[:-3]
    assert len(tokens) == 25
    assert tokens[0]["choices"][0]["delta"]["role"] == "assistant"
    assert all(f["object"] == "chat.completion.chunk" and f["id"] == "chatcmpl-shape-1" for f in tokens)
    assert all(f["choices"][0]["delta"]["content"].startswith(" ") for f in tokens[1:])
    assert final["choices"][0]["finish_reason"] == "length" and final["choices"][0]["delta"] == {}
    assert len(content_of(frames).split()) == 25
    assert usage_frame["choices"] == []
    assert usage_frame["usage"] == {
        "prompt_tokens": count_prompt_tokens(messages),
        "completion_tokens": 25,
        "total_tokens": count_prompt_tokens(messages) + 25,
        "prompt_tokens_details": {"cached_tokens": 0},
    }


async def test_usage_only_when_asked_and_max_completion_tokens_honoured(sim: Sim) -> None:
    frames, _ = await stream(
        sim, {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 3}
    )
    assert len(content_of(frames).split()) == 3
    assert all(isinstance(f, str) or f["choices"] for f in frames)


async def test_second_turn_of_a_growing_conversation_hits_the_prefix_cache(sim: Sim) -> None:
    messages = conversation("grow")
    first, _ = await stream(
        sim, {"messages": messages, "max_tokens": 40, "stream_options": {"include_usage": True}}
    )
    p1, c1 = first[-2]["usage"]["prompt_tokens"], first[-2]["usage"]["completion_tokens"]
    assert (p1, c1) == (count_prompt_tokens(messages), 40)
    messages += [{"role": "assistant", "content": content_of(first)}, {"role": "tool", "content": "ok " * 30}]
    second, _ = await stream(
        sim, {"messages": messages, "max_tokens": 5, "stream_options": {"include_usage": True}}
    )
    usage = second[-2]["usage"]
    assert usage["prompt_tokens"] == p1 + c1 + 30 + 2 * MESSAGE_OVERHEAD
    # Every full block of the first turn's prompt and completion is reused.
    assert usage["prompt_tokens_details"]["cached_tokens"] == (p1 + c1 - 1) // BLOCK * BLOCK


async def test_non_streaming_completion(sim: Sim) -> None:
    body = {"messages": [{"role": "user", "content": "one two"}], "max_tokens": 6}
    async with sim.session.post(f"{sim.url}/v1/chat/completions", json=body) as r:
        assert r.status == 200
        data = await r.json()
    assert data["object"] == "chat.completion"
    assert len(data["choices"][0]["message"]["content"].split()) == 6
    assert data["usage"]["prompt_tokens"] == 2 + 4 + 3
    assert data["usage"]["completion_tokens"] == 6
    assert r.headers["X-Request-Id"].startswith("sim-")


@pytest.mark.parametrize(
    ("raw", "param"),
    [
        (b"{oops", None),
        (b'{"model": "m"}', "messages"),
        (b'{"messages": [{"role": 1, "content": "x"}]}', "messages[0].role"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": "9"}', "max_tokens"),
        (b'{"messages": [{"role": "user", "content": "x"}], "max_tokens": 40000}', "messages"),
    ],
)
async def test_bad_bodies_get_400_naming_the_field(sim: Sim, raw: bytes, param: str | None) -> None:
    headers = {"Content-Type": "application/json", "X-Request-Id": f"bad-{param}"}
    async with sim.session.post(f"{sim.url}/v1/chat/completions", data=raw, headers=headers) as r:
        assert r.status == 400
        error = (await r.json())["error"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error" and error["message"]
    assert (await sim.wait_logged(f"bad-{param}"))["status"] == "error"


async def test_request_log_has_the_ground_truth(sim: Sim) -> None:
    messages = conversation("log")
    await stream(sim, {"messages": messages, "max_tokens": 12}, request_id="logged-1")
    line = await sim.wait_logged("logged-1")
    assert line["status"] == "ok"
    assert (line["prompt_tokens"], line["completion_tokens"], line["messages"]) == (
        count_prompt_tokens(messages), 12, 2,
    )  # fmt: skip
    assert (
        line["arrival_s"]
        <= line["arrival_s"] + line["queue_s"]
        <= line["first_token_s"]
        <= line["first_sent_s"]
        <= line["end_s"]
    )
    assert line["first_token_s"] <= line["last_token_s"] <= line["end_s"]
    assert abs(line["arrival_unix_s"] - time.time()) < 60
    assert line["cached_tokens"] == 0


async def test_client_disconnect_aborts_the_request(sim: Sim) -> None:
    body = {"messages": [{"role": "user", "content": "long"}], "max_tokens": 5000, "stream": True}
    headers = {"X-Request-Id": "gone-1"}
    async with sim.session.post(f"{sim.url}/v1/chat/completions", json=body, headers=headers) as r:
        await r.content.readline()
        r.close()
    line = await sim.wait_logged("gone-1")
    assert line["status"] == "aborted"
    assert 0 < line["completion_tokens"] < 5000
    async with sim.session.get(f"{sim.url}/metrics") as m:
        text = await m.text()
    running = _sample(text, "vllm:num_requests_running")
    assert running == 0


async def test_client_gone_before_the_headers_is_an_abort_not_a_traceback(sim: Sim) -> None:
    """A load generator closing its socket right after sending (window end) must not raise in the server."""
    body = json.dumps(
        {"messages": [{"role": "user", "content": "x"}], "max_tokens": 50, "stream": True}
    ).encode()
    port = sim.child.port("http_port")
    for n in range(20):
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"X-Request-Id: early-{n}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.transport.abort()  # RST, no goodbye
    for n in range(20):
        assert (await sim.wait_logged(f"early-{n}"))["status"] in ("aborted", "ok")
    assert sim.child.log_path is not None
    assert "Traceback" not in sim.child.log_path.read_text()


def _sample(text: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    raise AssertionError(f"{name} not exported")


async def test_vllm_metrics_are_exported(sim: Sim) -> None:
    messages = conversation("metrics")
    first, _ = await stream(sim, {"messages": messages, "max_tokens": 20})
    messages += [{"role": "assistant", "content": content_of(first)}, {"role": "user", "content": "more"}]
    await stream(sim, {"messages": messages, "max_tokens": 2})
    async with sim.session.get(f"{sim.url}/metrics") as r:
        text = await r.text()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc"):
        assert families[name].type == "gauge"
    assert families["vllm:time_to_first_token_seconds"].type == "histogram"
    hits = _sample(text, "vllm:prefix_cache_hits_total", model_name="agentperf-sim")
    queries = _sample(text, "vllm:prefix_cache_queries_total", model_name="agentperf-sim")
    assert 0 < hits < queries
    assert _sample(text, "vllm:time_to_first_token_seconds_count", model_name="agentperf-sim") >= 2


async def _dcgm(sim: Sim) -> dict[str, Any]:
    async with sim.session.get(sim.dcgm_url) as r:
        text = await r.text()
    assert text.count("# HELP") == 3 and text.count("# TYPE") == 3
    return {f.name: f for f in text_string_to_metric_families(text)}


async def test_dcgm_endpoint_parses_and_energy_grows_under_load(sim: Sim) -> None:
    before = await _dcgm(sim)
    assert before["DCGM_FI_DEV_POWER_USAGE"].type == "gauge"
    assert before["DCGM_FI_DEV_GPU_UTIL"].type == "gauge"
    assert before["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].type == "counter"
    sample = before["DCGM_FI_DEV_POWER_USAGE"].samples[0]
    assert sample.labels["simulated"] == "true" and sample.labels["gpu"] == "0"
    assert sample.labels["UUID"].startswith("GPU-sim-") and sample.labels["device"] == "nvidia0"
    assert {"pci_bus_id", "modelName", "Hostname"} <= set(sample.labels)
    energy_before = before["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].samples[0].value
    body = {"messages": [{"role": "user", "content": "go"}], "max_tokens": 60}
    await asyncio.gather(*(stream(sim, body) for _ in range(12)))
    after = await _dcgm(sim)
    assert after["DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"].samples[0].value > energy_before
    assert after["DCGM_FI_DEV_POWER_USAGE"].samples[0].value > 60.0 + 10.0
    assert after["DCGM_FI_DEV_GPU_UTIL"].samples[0].value > 0


async def test_models_and_health(sim: Sim) -> None:
    async with sim.session.get(f"{sim.url}/v1/models") as r:
        models = await r.json()
    assert models["data"][0]["id"] == "agentperf-sim"
    async with sim.session.get(f"{sim.url}/health") as r:
        assert r.status == 200


async def test_sigterm_aborts_open_streams_and_exits_zero(tmp_path: Path) -> None:
    log_path = tmp_path / "log.jsonl"
    args = ["--set", f"request_log={log_path}", "--set", "dcgm_port=-1", "--set", "model=other"]
    child = await start_child("sim2", "agentperf.sim", args, log_dir=tmp_path)
    assert child.port("dcgm_port") == -1
    url = f"http://127.0.0.1:{child.port('http_port')}/v1/chat/completions"
    body = {"messages": [{"role": "user", "content": "x"}], "max_tokens": 10000, "stream": True}
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as r:
        first = json.loads((await r.content.readline())[len("data: ") :])
        assert first["model"] == "other"
        assert await child.stop() == 0
        rest = await r.content.read()
    assert b"[DONE]" not in rest
    (line,) = [json.loads(x) for x in log_path.read_text().splitlines()]
    assert line["status"] == "aborted"
