"""The engine model in virtual time: latency shape, prefix cache, KV pressure, preemption."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from agentperf.sim.engine import Engine, Sequence, Status
from agentperf.sim.profile import SimProfile

BASE: dict[str, Any] = {
    "block_size": 4,
    "kv_blocks": 4096,
    "max_num_seqs": 64,
    "prefill_chunk_tokens": 64,
    "output_reserve_tokens": 4,
    "max_model_len": 4096,
    "step_overhead_s": 0.001,
    "decode_per_seq_s": 0.001,
    "prefill_per_token_s": 0.0001,
    "attention_per_kv_token_s": 1e-6,
}


def profile(**changes: Any) -> SimProfile:
    return SimProfile.model_validate({**BASE, **changes})


def tokens(tag: str, n: int) -> list[str]:
    return [f"{tag}{i}" for i in range(n)]


@dataclass
class Timeline:
    """Virtual-time driver: steps the engine and records when each sequence emitted."""

    engine: Engine
    now: float = 0.0
    arrivals: dict[str, float] = field(default_factory=dict)
    emits: dict[str, list[float]] = field(default_factory=dict)
    steps: int = 0

    def add(self, rid: str, prompt: list[str], out: int) -> Sequence:
        self.arrivals[rid] = self.now
        return self.engine.add(rid, prompt, tokens(f"{rid}-o", out))

    def step(self) -> Any:
        result = self.engine.step()
        self.now += result.duration_s
        self.steps += 1
        for seq in result.emitted:
            self.emits.setdefault(seq.request_id, []).append(self.now)
        return result

    def run(self, max_steps: int = 100_000) -> None:
        for _ in range(max_steps):
            if not self.engine.has_work():
                return
            self.step()
        raise AssertionError("engine did not drain")

    def ttft(self, rid: str) -> float:
        return self.emits[rid][0] - self.arrivals[rid]

    def inter_token(self, rid: str) -> float:
        times = self.emits[rid]
        return (times[-1] - times[0]) / (len(times) - 1)


def test_ttft_grows_with_queue_depth() -> None:
    tl = Timeline(Engine(profile()))
    for i in range(8):
        tl.add(f"r{i}", tokens(f"p{i}-", 200), 5)
    tl.run()
    ttfts = [tl.ttft(f"r{i}") for i in range(8)]
    assert ttfts == sorted(ttfts)
    assert ttfts[-1] > 4 * ttfts[0]


def test_ttft_grows_with_uncached_prompt_tokens() -> None:
    short, long = Timeline(Engine(profile())), Timeline(Engine(profile()))
    short.add("s", tokens("a", 50), 3)
    long.add("l", tokens("b", 2000), 3)
    short.run()
    long.run()
    assert long.ttft("l") > 10 * short.ttft("s")


def test_a_repeated_prefix_is_served_from_cache() -> None:
    tl = Timeline(Engine(profile()))
    first = tl.add("first", tokens("shared", 1000), 10)
    tl.run()
    second = tl.add("second", [*tokens("shared", 1000), *tokens("first-o", 10), "new", "turn"], 5)
    tl.run()
    cold = Timeline(Engine(profile()))
    cold.add("cold", tokens("other", 1012), 5)
    cold.run()
    assert first.cached_tokens == 0
    # Everything the first request computed (prompt + output but its last token) is reused.
    assert second.cached_tokens == (1000 + 10 - 1) // 4 * 4
    assert tl.ttft("second") < cold.ttft("cold") / 10


def test_per_sequence_decode_slows_as_the_batch_grows() -> None:
    speeds = []
    for batch in (1, 4, 16, 48):
        tl = Timeline(Engine(profile()))
        for i in range(batch):
            tl.add(f"r{i}", tokens(f"p{i}-", 8), 50)
        tl.run()
        speeds.append(1.0 / tl.inter_token("r0"))
    assert speeds == sorted(speeds, reverse=True)
    assert speeds[0] > 5 * speeds[-1]


def test_requests_queue_when_kv_blocks_run_out() -> None:
    # 40 blocks of 4 tokens: room for two 60-token prompts (15 blocks + 1 reserve each), not three.
    engine = Engine(profile(kv_blocks=40, max_model_len=100, output_reserve_tokens=4))
    tl = Timeline(engine)
    for i in range(3):
        tl.add(f"r{i}", tokens(f"p{i}-", 60), 20)
    tl.step()
    assert [s.request_id for s in engine.running] == ["r0", "r1"]
    assert [s.request_id for s in engine.waiting] == ["r2"]
    tl.run()
    assert tl.emits["r2"][0] > tl.emits["r0"][-1]
    assert len(tl.emits["r2"]) == 20


def test_max_num_seqs_limits_the_batch() -> None:
    engine = Engine(profile(max_num_seqs=3))
    tl = Timeline(engine)
    for i in range(5):
        tl.add(f"r{i}", tokens(f"p{i}-", 4), 10)
    result = tl.step()
    assert len(engine.running) == 3 and len(engine.waiting) == 2
    assert len(result.admitted) == 3


def test_decode_growth_preempts_the_newest_sequence_which_later_recomputes() -> None:
    # Both fit at admission (4 blocks each + reserve), but 2 x 60 decoded tokens need 30+ blocks.
    engine = Engine(profile(kv_blocks=24, max_model_len=90, output_reserve_tokens=4))
    tl = Timeline(engine)
    old = tl.add("old", tokens("a", 12), 60)
    new = tl.add("new", tokens("b", 12), 60)
    preempted: list[str] = []
    while engine.has_work():
        preempted += [s.request_id for s in tl.step().preempted]
    assert preempted and set(preempted) == {"new"}
    assert (old.preemptions, new.preemptions) == (0, len(preempted))
    assert len(tl.emits["old"]) == len(tl.emits["new"]) == 60
    assert new.status is Status.FINISHED
    assert engine.cache.used == 0


def test_abort_frees_blocks_and_keeps_the_prefix_cached() -> None:
    engine = Engine(profile())
    tl = Timeline(engine)
    seq = tl.add("r", tokens("x", 40), 100)
    for _ in range(5):
        tl.step()
    engine.abort(seq)
    assert seq.status is Status.ABORTED and not engine.has_work()
    assert engine.cache.used == 0 and engine.cache.cached_blocks >= 10
    again = tl.add("again", tokens("x", 40), 1)
    tl.run()
    assert again.cached_tokens == 36


def test_lru_evicts_the_tail_of_old_prefixes_when_space_is_needed() -> None:
    # 30 blocks: "a" leaves 20 cached blocks; "b" needs 20, so 10 of a's must go, tail first.
    engine = Engine(profile(kv_blocks=30, max_model_len=100))
    tl = Timeline(engine)
    tl.add("a", tokens("a", 80), 1)
    tl.run()
    tl.add("b", tokens("b", 80), 1)
    tl.run()
    late = tl.add("a2", tokens("a", 80), 1)
    tl.run()
    assert late.cached_tokens == 40


def test_step_duration_follows_the_cost_formula() -> None:
    p = profile(prefill_chunk_tokens=1000)
    engine = Engine(p)
    engine.add("r", tokens("x", 100), tokens("o", 3))
    first = engine.step()
    assert first.prefill_tokens == 100 and first.decode_batch == 0
    assert abs(first.duration_s - (0.001 + 100 * 0.0001 + 100 * 1e-6)) < 1e-12
    second = engine.step()
    assert second.decode_batch == 1 and second.prefill_tokens == 0
    assert abs(second.duration_s - (0.001 + 0.001 + 101 * 1e-6)) < 1e-12


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 120), st.integers(1, 40), st.integers(0, 3), st.booleans()),
        min_size=1,
        max_size=25,
    )
)
def test_random_workloads_emit_exactly_and_return_every_block(
    plan: list[tuple[int, int, int, bool]],
) -> None:
    engine = Engine(profile(kv_blocks=64, max_model_len=200, max_num_seqs=6, prefill_chunk_tokens=48))
    tl = Timeline(engine)
    seqs = []
    for i, (prompt_len, out, shared, abort) in enumerate(plan):
        prompt = [*tokens(f"s{shared}-", prompt_len // 2), *tokens(f"u{i}-", prompt_len - prompt_len // 2)]
        seqs.append((tl.add(f"r{i}", prompt, out), out, abort))
        tl.step()
        assert 0 <= engine.cache.used <= engine.cache.capacity
        assert engine.cache.available >= 0
        if abort and i % 2:
            engine.abort(seqs[-1][0])
    tl.run()
    for seq, out, _abort in seqs:
        if seq.status is Status.FINISHED:
            assert len(tl.emits[seq.request_id]) == out
        else:
            assert seq.status is Status.ABORTED
    assert engine.cache.used == 0
