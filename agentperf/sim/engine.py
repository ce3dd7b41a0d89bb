"""A continuous-batching inference engine model: pure, no I/O, no clock, no sleeping.

Each :meth:`Engine.step` decides one batch and returns its modelled duration; the caller (the
server's real-time loop, or a virtual-time simulation) lets that much time pass and then hands
each emitted sequence its new tokens. Per step:

1. every running sequence past its prefill decodes one token (with speculative decoding, one plus
   the draft tokens accepted this step, drawn from the engine's seeded RNG: each of the
   ``tokens_per_step`` drafts is accepted with probability ``acceptance_rate``, stopping at the
   first rejection); if it needs a new KV block and none is available, the most recently
   admitted running sequence is preempted (its blocks released, it returns to the front of the
   queue and later recomputes prompt plus generated tokens);
2. sequences in the middle of a chunked prefill continue, oldest first, within the step's
   prefill token budget;
3. waiting sequences are admitted strictly FIFO while the budget lasts, ``max_num_seqs`` allows,
   and the KV cache has blocks for their uncached tokens plus an output reserve.

A sequence emits its first token in the step its prefill completes. The step costs::

    step_overhead_s + decode_per_seq_s * decode_batch + prefill_per_token_s * prefill_tokens
        + attention_per_kv_token_s * kv_tokens_of_the_batch
        + speculative.per_draft_token_s * tokens_per_step * decode_batch   (when speculative)
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from typing import Any

from agentperf.sim.kvcache import KVCache, chain_hashes
from agentperf.sim.profile import SimProfile


class Status(enum.Enum):
    WAITING = "waiting"
    RUNNING = "running"
    FINISHED = "finished"
    ABORTED = "aborted"


@dataclass(eq=False)
class Sequence:
    """One request inside the engine. ``tokens`` is prompt followed by the whole planned output."""

    request_id: str
    tokens: list[Any]
    prompt_len: int
    max_tokens: int
    tag: Any = None
    status: Status = Status.WAITING
    generated: int = 0
    num_computed: int = 0
    target: int = 0
    cached_tokens: int | None = None
    preemptions: int = 0
    held: list[int] = field(default_factory=list)
    anonymous: int = 0
    hashes: list[int] = field(default_factory=list)

    @property
    def prefilling(self) -> bool:
        return self.num_computed < self.target

    @property
    def done(self) -> bool:
        return self.generated >= self.max_tokens


@dataclass
class StepResult:
    """What one step did.

    ``emitted`` sequences each produced at least one token (more with speculative decoding; their
    ``generated`` is the running total); ``emitted_tokens`` counts the tokens of the whole step.
    """

    duration_s: float
    decode_batch: int = 0
    prefill_tokens: int = 0
    kv_tokens: int = 0
    fill: float = 0.0
    emitted: list[Sequence] = field(default_factory=list)
    emitted_tokens: int = 0
    drafted_tokens: int = 0
    accepted_tokens: int = 0
    finished: list[Sequence] = field(default_factory=list)
    admitted: list[Sequence] = field(default_factory=list)
    preempted: list[Sequence] = field(default_factory=list)
    prefix_queried_tokens: int = 0
    prefix_hit_tokens: int = 0


class Engine:
    """The scheduler and step-time model of one simulated deployment."""

    def __init__(self, profile: SimProfile, rng: random.Random | None = None) -> None:
        """``rng`` draws speculative acceptances; by default it is seeded from the profile."""
        self.profile = profile
        spec = profile.speculative
        self._rng = rng or random.Random(spec.seed if spec else 0)
        self.cache = KVCache(profile.kv_blocks, profile.block_size)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._reserve_blocks = -(-profile.output_reserve_tokens // profile.block_size)

    # -- requests -------------------------------------------------------------------------
    def add(self, request_id: str, prompt: Seq[Any], output: Seq[Any], tag: Any = None) -> Sequence:
        """Queue a request that will emit exactly the tokens of ``output`` (at least one)."""
        if not output:
            raise ValueError("a sequence must generate at least one token")
        seq = Sequence(request_id, [*prompt, *output], len(prompt), len(output), tag)
        self.waiting.append(seq)
        return seq

    def abort(self, seq: Sequence) -> None:
        """Drop a sequence wherever it is; its computed blocks stay in the prefix cache."""
        if seq.status is Status.WAITING:
            self.waiting.remove(seq)
        elif seq.status is Status.RUNNING:
            self.running.remove(seq)
            self._release(seq)
        else:
            return
        seq.status = Status.ABORTED

    def has_work(self) -> bool:
        return bool(self.running or self.waiting)

    @property
    def kv_usage(self) -> float:
        """Fraction of KV blocks referenced by sequences (0..1)."""
        return self.cache.used / self.cache.capacity

    # -- one step -------------------------------------------------------------------------
    def step(self) -> StepResult:
        """Schedule one batch, advance every sequence in it, and return the step's duration."""
        result = StepResult(duration_s=0.0)
        decoding = self._schedule_decodes(result)
        prefills = self._schedule_prefills(result)
        result.decode_batch = len(decoding)
        if self.profile.speculative:
            result.drafted_tokens = self.profile.speculative.tokens_per_step * len(decoding)
        result.prefill_tokens = sum(chunk for _seq, chunk in prefills)
        result.kv_tokens = sum(s.num_computed + 1 for s, _n in decoding) + sum(
            s.num_computed + chunk for s, chunk in prefills
        )
        result.duration_s = self._duration(result)
        result.fill = min(
            1.0,
            result.decode_batch / self.profile.max_num_seqs
            + result.prefill_tokens / self.profile.prefill_chunk_tokens,
        )
        for seq, n in decoding:
            seq.num_computed += n
            result.accepted_tokens += n - 1
            self._emit(seq, result, n)
        for seq, chunk in prefills:
            seq.num_computed += chunk
            if not seq.prefilling:
                self._emit(seq, result)
            else:
                self._commit(seq)
        if result.finished:
            self.running = [s for s in self.running if s.status is Status.RUNNING]
        return result

    def _duration(self, r: StepResult) -> float:
        if not r.decode_batch and not r.prefill_tokens:
            return 0.0
        p = self.profile
        return (
            p.step_overhead_s
            + p.decode_per_seq_s * r.decode_batch
            + p.prefill_per_token_s * r.prefill_tokens
            + p.attention_per_kv_token_s * r.kv_tokens
            + (p.speculative.per_draft_token_s * r.drafted_tokens if p.speculative else 0.0)
        )

    def _schedule_decodes(self, result: StepResult) -> list[tuple[Sequence, int]]:
        """Running sequences that decode this step, each with the tokens it emits."""
        decoding: list[tuple[Sequence, int]] = []
        for seq in list(self.running):
            if seq.status is not Status.RUNNING or seq.prefilling:
                continue
            n = min(1 + self._accepted_drafts(), seq.max_tokens - seq.generated)
            if self._grow(seq, n, result):
                decoding.append((seq, n))
        return decoding

    def _accepted_drafts(self) -> int:
        """Drafts accepted in one step: leading successes of ``tokens_per_step`` Bernoulli trials."""
        spec = self.profile.speculative
        if spec is None:
            return 0
        accepted = 0
        while accepted < spec.tokens_per_step and self._rng.random() < spec.acceptance_rate:
            accepted += 1
        return accepted

    def _grow(self, seq: Sequence, n: int, result: StepResult) -> bool:
        """Make room for ``n`` more tokens of ``seq``, preempting the newest sequences if needed."""
        need = -(-(seq.num_computed + n) // self.cache.block_size) - len(seq.held) - seq.anonymous
        if need <= 0:
            return True
        while not self.cache.allocate(need):
            victim = self.running.pop()
            self._preempt(victim, result)
            if victim is seq:
                return False
        seq.anonymous += need
        return True

    def _preempt(self, seq: Sequence, result: StepResult) -> None:
        self._release(seq)
        seq.status = Status.WAITING
        seq.num_computed = 0
        seq.target = 0
        seq.preemptions += 1
        self.waiting.appendleft(seq)
        result.preempted.append(seq)

    def _schedule_prefills(self, result: StepResult) -> list[tuple[Sequence, int]]:
        budget = self.profile.prefill_chunk_tokens
        prefills: list[tuple[Sequence, int]] = []
        for seq in self.running:
            if budget <= 0:
                break
            if seq.prefilling:
                chunk = min(budget, seq.target - seq.num_computed)
                prefills.append((seq, chunk))
                budget -= chunk
        while budget > 0 and self.waiting and len(self.running) < self.profile.max_num_seqs:
            seq = self.waiting[0]
            if not self._admit(seq, result):
                break
            self.waiting.popleft()
            self.running.append(seq)
            result.admitted.append(seq)
            chunk = min(budget, seq.target - seq.num_computed)
            prefills.append((seq, chunk))
            budget -= chunk
        return prefills

    def _admit(self, seq: Sequence, result: StepResult) -> bool:
        """Take cached blocks and allocate the rest of the prompt if the cache has room."""
        bs = self.cache.block_size
        total = seq.prompt_len + seq.generated
        seq.hashes = chain_hashes(seq.tokens[:total], bs, seq.hashes[: total // bs])
        # At least one token is always computed, as vLLM does, so the step has logits to sample.
        hits = min(self.cache.match(seq.hashes[: total // bs]), (total - 1) // bs)
        hit_hashes = seq.hashes[:hits]
        need = -(-total // bs) - hits
        room = self.cache.available - self.cache.evictable_among(hit_hashes)
        if room < need + self._reserve_blocks:
            return False
        self.cache.acquire(hit_hashes)
        self.cache.allocate(need)
        seq.held = list(hit_hashes)
        seq.anonymous = need
        seq.num_computed = hits * bs
        seq.target = total
        seq.status = Status.RUNNING
        if seq.cached_tokens is None:
            seq.cached_tokens = hits * bs
        result.prefix_queried_tokens += total
        result.prefix_hit_tokens += hits * bs
        return True

    def _emit(self, seq: Sequence, result: StepResult, n: int = 1) -> None:
        seq.generated += n
        result.emitted_tokens += n
        self._commit(seq)
        result.emitted.append(seq)
        if seq.done:
            self._release(seq)
            seq.status = Status.FINISHED
            result.finished.append(seq)

    def _commit(self, seq: Sequence) -> None:
        """Name the blocks that became full and computed, so later requests can reuse them."""
        bs = self.cache.block_size
        full = seq.num_computed // bs
        if len(seq.held) >= full:
            return
        if len(seq.hashes) < full:
            seq.hashes = chain_hashes(seq.tokens[: full * bs], bs, seq.hashes)
        for block in seq.hashes[len(seq.held) : full]:
            self.cache.commit(block)
            seq.anonymous -= 1
            seq.held.append(block)

    def _release(self, seq: Sequence) -> None:
        self.cache.release(seq.held, seq.anonymous)
        seq.held = []
        seq.anonymous = 0
