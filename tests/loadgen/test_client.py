"""The streaming client against a controllable server: request body, token accounting,
every failure class, and the record built from it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from agentperf.loadgen.client import ChatClient, ClientSettings, Exchange
from agentperf.loadgen.history import Conversation
from agentperf.loadgen.profiles import request_tail
from agentperf.loadgen.records import RecordKey, build_record, parse_record_id
from agentperf.v1 import common_pb2

KEY = RecordKey("run1", 4, 2, 0, "traj/a", 1, 3)


async def _one(
    url: str, output_tokens: int = 8, profile: str = "vllm", api_key: str = "", **timeouts: float
) -> Exchange:
    settings = ClientSettings(url, "m1", profile, api_key, **timeouts)
    client = ChatClient(settings, agents=1)
    try:
        conv = Conversation("system words here")
        body, _ = conv.body("hello there", request_tail("m1", profile, output_tokens))
        ex = Exchange(time.monotonic(), time.time())
        await client.stream(body, KEY.record_id(), ex)
        return ex
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("profile", "expected"),
    [
        ("vllm", {"max_tokens": 8, "min_tokens": 8, "ignore_eos": True}),
        ("openai", {"max_completion_tokens": 8}),
        ("openai-legacy", {"max_tokens": 8}),
    ],
)
async def test_request_body_per_engine_profile(llm: Any, profile: str, expected: dict[str, Any]) -> None:
    ex = await _one(llm.url, profile=profile)
    assert ex.failure == ""
    body = llm.requests[0].body
    assert body == {
        "messages": [
            {"role": "system", "content": "system words here"},
            {"role": "user", "content": "hello there"},
        ],
        "model": "m1",
        "stream": True,
        "stream_options": {"include_usage": True},
        **expected,
    }
    assert llm.requests[0].request_id == "run1/4/2/0/traj/a/1/3"
    assert "Authorization" not in llm.requests[0].headers


async def test_api_key_sent_as_bearer(llm: Any) -> None:
    await _one(llm.url, api_key="s3cret")
    assert llm.requests[0].headers["Authorization"] == "Bearer s3cret"


async def test_usage_wins_over_chunk_count(llm: Any) -> None:
    llm.set(tokens_per_chunk=2, cached_tokens=3)
    ex = await _one(llm.url, output_tokens=10)
    assert ex.failure == ""
    assert ex.chunks == 5 and ex.output_tokens == 10
    assert ex.usage_prompt == 5 and ex.usage_cached == 3
    assert ex.first_chunk_tokens == 1  # the first chunk's own count is unknown: documented as 1
    assert ex.text == "".join(f"w{i} " for i in range(10))


async def test_largest_inter_chunk_gap_and_chunk_count_are_recorded(llm: Any) -> None:
    from agentperf.loadgen.records import RecordKey, build_record

    llm.set(pause_after=4, pause_s=0.3, token_interval_s=0.005)
    ex = await _one(llm.url, output_tokens=10)
    assert ex.failure == "" and ex.chunks == 10
    assert 0.28 <= ex.gap_max < 0.6  # the stall after the 4th token, not the 5 ms pace
    record = build_record(RecordKey("r", 1, 0, 0, "t", 0, 0), ex, in_window=True)
    assert record.chunks == 10 and record.max_chunk_gap_s == ex.gap_max
    assert record.first_to_last_s >= record.max_chunk_gap_s


async def test_without_usage_tokens_are_counted_by_chunks(llm: Any) -> None:
    llm.set(tokens_per_chunk=2, usage=False)
    ex = await _one(llm.url, output_tokens=10)
    assert ex.failure == "" and ex.output_tokens == 5
    assert ex.usage_prompt == 0 and ex.usage_cached == 0


async def test_single_chunk_answer_takes_its_token_count_from_usage(llm: Any) -> None:
    llm.set(tokens_per_chunk=6)
    ex = await _one(llm.url, output_tokens=6)
    assert ex.chunks == 1 and ex.first_chunk_tokens == 6


async def test_reasoning_counts_for_ttft_and_content_for_ttfa(llm: Any) -> None:
    llm.set(first_token_delay_s=0.05, token_interval_s=0.03, reasoning_tokens=3)
    ex = await _one(llm.url, output_tokens=6)
    record = build_record(KEY, ex, in_window=True)
    assert record.status == common_pb2.REQUEST_STATUS_OK and record.has_first_token
    assert 0.05 <= record.ttft_s < 0.5
    assert record.ttfa_s - record.ttft_s >= 3 * 0.03 * 0.9
    assert record.first_to_last_s >= 5 * 0.03 * 0.9
    assert record.output_tokens == 6 and record.first_chunk_tokens == 1
    # reasoning is measured but not carried back into the history
    assert ex.text == "w3 w4 w5 "


async def test_no_done_but_usage_or_finish_is_ok(llm: Any) -> None:
    llm.set(done=False, finish=False)
    assert (await _one(llm.url)).failure == ""
    llm.set(done=False, usage=False)
    assert (await _one(llm.url)).failure == ""


@pytest.mark.parametrize(
    ("behaviour_kwargs", "failure"),
    [
        ({"status": 500}, "http_500"),
        ({"status": 429}, "http_429"),
        ({"cut_after": 3}, "disconnect"),
        ({"done": False, "finish": False, "usage": False}, "disconnect"),
        ({"malformed_after": 2}, "malformed"),
        ({"error_after": 2}, "stream_error"),
    ],
)
async def test_failure_classes(llm: Any, behaviour_kwargs: dict[str, Any], failure: str) -> None:
    llm.set(**behaviour_kwargs)
    ex = await _one(llm.url)
    assert ex.failure == failure
    record = build_record(KEY, ex, in_window=False)
    assert record.status == common_pb2.REQUEST_STATUS_FAILED
    assert record.failure_class == failure
    if failure.startswith("http_"):
        assert record.http_status == int(failure[5:]) and not record.has_first_token


async def test_first_token_timeout(llm: Any) -> None:
    llm.set(first_token_delay_s=5)
    started = time.monotonic()
    ex = await _one(llm.url, first_token_timeout_s=0.2)
    assert ex.failure == "first_token_timeout" and ex.http_status == 200
    assert time.monotonic() - started < 2


async def test_idle_timeout(llm: Any) -> None:
    llm.set(stall_after=3)
    ex = await _one(llm.url, idle_timeout_s=0.2)
    assert ex.failure == "idle_timeout"
    record = build_record(KEY, ex, in_window=True)
    assert record.has_first_token and record.output_tokens == 3


async def test_connect_error(free_tcp_port: Any) -> None:
    ex = await _one(f"http://127.0.0.1:{free_tcp_port()}")
    assert ex.failure == "connect_error" and ex.http_status == 0


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: a new connect is never answered (no SYN-ACK)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    yield port
    for s in [*fillers, listener]:
        s.close()


async def test_connect_timeout(full_backlog: int) -> None:
    await asyncio.sleep(0.05)
    ex = await _one(f"http://127.0.0.1:{full_backlog}", connect_timeout_s=0.2)
    assert ex.failure == "connect_timeout"


def test_record_id_round_trips_with_a_slash_in_the_trajectory_id() -> None:
    assert parse_record_id(KEY.record_id()) == KEY
    assert KEY.tool_key() == "run1/4/2/0/1/3"
    with pytest.raises(ValueError, match="7"):
        parse_record_id("a/b/c")


def test_censored_record_without_first_token_carries_waited_s() -> None:
    ex = Exchange(100.0, 1.0)
    record = build_record(KEY, ex, in_window=True, close_mono=102.5)
    assert record.status == common_pb2.REQUEST_STATUS_CENSORED
    assert not record.has_first_token and record.waited_s == 2.5
    ex.t_first, ex.t_last, ex.chunks = 100.5, 101.0, 4
    record = build_record(KEY, ex, in_window=True, close_mono=102.5)
    assert record.has_first_token and record.output_tokens == 4 and record.waited_s == 0
    assert record.ttft_s == 0.5 and record.first_to_last_s == 0.5


def test_history_bytes_are_appended_never_rewritten() -> None:
    conv = Conversation("sys")
    first, user = conv.body('say "hi"\n', "x")
    conv.commit(user, "answer \u00e9")
    second, _ = conv.body("next", "x")
    head = first.split(b"],x")[0]  # messages up to and including the first user message
    assert second.startswith(head + b",")
    assert json.loads(second[: second.index(b"],")] + b"]}")["messages"][2] == {
        "role": "assistant",
        "content": "answer \u00e9",
    }
