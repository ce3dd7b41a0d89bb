"""Broken and hostile input to the trace importers: only InputError or LimitExceededError may come out."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.errors import InputError, LimitExceededError
from agentperf.services.trajectory_store.config import StoreLimits
from agentperf.services.trajectory_store.importers import ImportContext, get_format
from agentperf.tokencount import ApproxCounter

LIMITS = StoreLimits(max_trajectories=20, max_turns_per_trajectory=5, max_phases=3, max_tokens_per_turn=5000)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.integers(min_value=10**300, max_value=10**600),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "x\udfff"]),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6) | st.just("\udc80"), inner, max_size=4)
    ),
    max_leaves=12,
)
small_blocks = st.lists(st.integers(min_value=0, max_value=6), max_size=12)


def run(fmt: str, data: bytes, chunk: int) -> None:
    parser = get_format(fmt, source="fuzz").make(ImportContext("fuzz.in", "d", LIMITS, ApproxCounter()))
    try:
        for start in range(0, len(data), chunk):
            parser.feed(data[start : start + chunk])
        parser.finish()
    except (InputError, LimitExceededError) as exc:
        str(exc).encode("utf-8")  # the message must survive gRPC (no lone surrogates)


@st.composite
def mooncake_lines(draw: st.DrawFn) -> bytes:
    """Mostly plausible requests (small block ids, so sessions form), some with hostile fields."""
    lines = []
    stamp = 0
    for _ in range(draw(st.integers(min_value=0, max_value=25))):
        blocks = draw(small_blocks)
        length = draw(
            st.one_of(
                st.integers(min_value=(len(blocks) - 1) * 512 + 1, max_value=len(blocks) * 512),
                st.integers(-5, 7000),
            )
        )
        stamp += draw(st.integers(min_value=-2, max_value=5000))
        obj: dict[str, Any] = {
            "timestamp": stamp,
            "input_length": length,
            "output_length": draw(st.integers(-1, 3000)),
            "hash_ids": blocks,
        }
        if draw(st.integers(0, 9)) == 0:
            keys = st.sampled_from(["timestamp", "input_length", "output_length", "hash_ids", "x", "\ud834"])
            obj[draw(keys)] = draw(json_values)
        lines.append(json.dumps(obj).encode())
    return b"\n".join(lines)


@settings(max_examples=250, deadline=None)
@given(mooncake_lines(), st.integers(min_value=1, max_value=64))
def test_mooncake_structured(data: bytes, chunk: int) -> None:
    run("mooncake", data, chunk)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_mooncake_bytes(data: bytes, chunk: int) -> None:
    run("mooncake", data, chunk)


@settings(max_examples=100, deadline=None)
@given(mooncake_lines(), st.integers(0, 2000), st.binary(min_size=1, max_size=4))
def test_mooncake_corrupted(data: bytes, at: int, junk: bytes) -> None:
    cut = at % (len(data) + 1)
    run("mooncake", data[:cut] + junk + data[cut:], 5)


csv_text = st.text(alphabet='0123456789,-:. "\r\nTEimxé\x00', max_size=200)


@settings(max_examples=250, deadline=None)
@given(st.booleans(), csv_text, st.integers(min_value=1, max_value=64))
def test_azure_text(with_header: bool, body: str, chunk: int) -> None:
    header = "TIMESTAMP,ContextTokens,GeneratedTokens\r\n" if with_header else ""
    run("azure-llm-csv", (header + body).encode(), chunk)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_azure_bytes(data: bytes, chunk: int) -> None:
    run("azure-llm-csv", b"TIMESTAMP,ContextTokens,GeneratedTokens\n" + data, chunk)
