"""Speculative decoding in virtual time: tokens per step, cost per draft, speed against no speculation."""

from __future__ import annotations

import random
from typing import Any

import pytest

from agentperf.sim.engine import Engine
from agentperf.sim.profile import SimProfile

BASE: dict[str, Any] = {
    "block_size": 4,
    "kv_blocks": 8192,
    "max_num_seqs": 64,
    "prefill_chunk_tokens": 4096,
    "output_reserve_tokens": 4,
    "max_model_len": 8192,
    "step_overhead_s": 0.001,
    "decode_per_seq_s": 0.001,
    "prefill_per_token_s": 0.0001,
    "attention_per_kv_token_s": 1e-6,
}


def profile(k: int | None = None, p: float = 0.0, draft_cost: float = 0.0) -> SimProfile:
    spec = {"tokens_per_step": k, "acceptance_rate": p, "per_draft_token_s": draft_cost} if k else None
    return SimProfile.model_validate({**BASE, "speculative": spec})


def decode_steps(engine: Engine, batch: int, out: int) -> tuple[list[int], float, int]:
    """Admit ``batch`` sequences, then decode to the end: (tokens per decode, decode time, tokens)."""
    for i in range(batch):
        engine.add(f"r{i}", [f"p{i}-{j}" for j in range(8)], [f"o{j}" for j in range(out)])
    first = engine.step()  # the whole batch prefills and emits its first token
    assert first.decode_batch == 0 and len(first.emitted) == batch
    per_seq: list[int] = []
    elapsed, emitted = 0.0, 0
    while engine.has_work():
        r = engine.step()
        elapsed += r.duration_s
        emitted += r.emitted_tokens
        # A sequence's last step may be cut short by max_tokens; only uncut steps show the draw.
        per_seq += [s.generated for s in r.emitted if not s.done]
    return per_seq, elapsed, emitted


@pytest.mark.parametrize(("k", "p"), [(1, 0.5), (3, 0.7), (3, 0.9), (5, 0.6)])
def test_mean_tokens_per_step_is_one_plus_the_sum_of_p_to_the_i(k: int, p: float) -> None:
    engine = Engine(profile(k, p), random.Random(11))
    tokens = []
    for _ in range(4000):
        seq = engine.add("r", ["a"], ["o"] * 10_000)
        engine.step()
        before = seq.generated
        engine.step()
        tokens.append(seq.generated - before)
        engine.abort(seq)
    expected = 1 + sum(p**i for i in range(1, k + 1))
    assert profile(k, p).speculative is not None
    assert profile(k, p).speculative.mean_tokens_per_step == pytest.approx(expected)  # type: ignore[union-attr]
    mean = sum(tokens) / len(tokens)
    assert mean == pytest.approx(expected, rel=0.03)
    assert min(tokens) == 1 and max(tokens) <= k + 1


def test_without_speculation_every_decode_step_emits_one_token() -> None:
    engine = Engine(profile())
    _per, _t, emitted = decode_steps(engine, 4, 50)
    assert emitted == 4 * 49


def test_speculation_raises_output_speed_at_the_same_batch() -> None:
    for batch in (1, 8, 32):
        _p, plain_s, plain_tokens = decode_steps(Engine(profile()), batch, 200)
        _p, spec_s, spec_tokens = decode_steps(Engine(profile(3, 0.7, 0.0002), random.Random(3)), batch, 200)
        assert plain_tokens == spec_tokens == batch * 199
        plain_speed, spec_speed = plain_tokens / plain_s, spec_tokens / spec_s
        assert spec_speed > 1.5 * plain_speed, (batch, plain_speed, spec_speed)


def test_each_draft_token_adds_its_cost_to_the_step() -> None:
    engine = Engine(profile(4, 0.0, 0.0005), random.Random(0))
    engine.add("r", ["x"] * 100, ["o"] * 3)
    engine.step()
    r = engine.step()
    assert r.decode_batch == 1 and r.drafted_tokens == 4 and r.accepted_tokens == 0
    assert r.duration_s == pytest.approx(0.001 + 0.001 + 101 * 1e-6 + 4 * 0.0005)


def test_a_sequence_never_emits_more_than_max_tokens_and_frees_its_blocks() -> None:
    engine = Engine(profile(5, 1.0), random.Random(0))
    seqs = [engine.add(f"r{i}", [f"p{i}"] * 30, ["o"] * n) for i, n in enumerate((1, 2, 7, 13))]
    while engine.has_work():
        engine.step()
    assert [s.generated for s in seqs] == [1, 2, 7, 13]
    assert engine.cache.used == 0


def test_the_same_seed_gives_the_same_schedule() -> None:
    runs = [decode_steps(Engine(profile(3, 0.6), random.Random(5)), 6, 80) for _ in range(2)]
    assert runs[0] == runs[1]
