"""Virtual-time closed-loop agent simulation against the engine model, for calibrating profiles.

Each simulated agent replays synthetic trajectories one after another, as the laptop run's local
workload does: 4-12 turns per trajectory (one phase), a 300-token phase preamble behind a fresh
dynamic prefix, new input per turn lognormal (median 200 tokens, sigma 0.6), output lognormal
(median 60, sigma 0.5, at most 256), and a lognormal tool gap (median 1 s, sigma 0.5) after
every turn. Request k of a phase carries the whole phase history, built with the simulator's
own token rule, so prefix caching behaves as it does in the server. No real time passes: the
clock jumps by each step's modelled duration.

``--workload agentperf`` uses the distributions of the synthetic "agentperf" trajectory preset
instead (``AGENTPERF_WORKLOAD``). ``python -m agentperf.sim.calibrate --profile tiny --agents 1,2,4,8`` prints, per concurrency,
P25 output speed and P95 TTFT over the measurement window and which SLO tiers pass.
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import yaml

from agentperf.sim.engine import Engine
from agentperf.sim.power import PowerModel
from agentperf.sim.profile import SimProfile, load_profile
from agentperf.sim.tokens import PRIMING_IDS, generate_words, message_token_ids

# (P25 output speed floor in tokens/s, P95 TTFT ceiling in s), SLO #1..#3 of the AA-AgentPerf method.
TIERS: tuple[tuple[float, float], ...] = ((30.0, 10.0), (100.0, 5.0), (300.0, 3.0))
# Requests with fewer tokens than this give no meaningful speed; they still count for TTFT.
MIN_SPEED_TOKENS = 4


@dataclass(frozen=True)
class WorkloadSpec:
    """Distributions of the synthetic agent workload (token counts are simulator tokens)."""

    turns_min: int = 4
    turns_max: int = 12
    preamble_tokens: int = 300
    dynamic_prefix_tokens: int = 8
    input_median: float = 200.0
    input_sigma: float = 0.6
    output_median: float = 60.0
    output_sigma: float = 0.5
    output_max: int = 256
    gap_median_s: float = 1.0
    gap_sigma: float = 0.5
    # turns_sigma > 0 draws turns lognormal(turns_median, turns_sigma) clamped to the min/max.
    turns_median: float = 8.0
    turns_sigma: float = 0.0
    input_max: int = 0  # 0: no cap
    # A phase ends early when the next request would pass this many tokens (0: no cap).
    context_max: int = 0


# The synthetic "agentperf" trajectory preset (services/trajectory_store/synthetic.py), which
# follows the public AA-AgentPerf figures: 5-200 turns (lognormal, median 20), a 5000-token
# preamble, input median 150 (sigma 1.0), output median 150 with P95 2000 (sigma 1.575), tool gaps
# median 1 s (sigma 1.0), context capped at 131072 tokens.
AGENTPERF_WORKLOAD = WorkloadSpec(
    turns_min=5,
    turns_max=200,
    turns_median=20.0,
    turns_sigma=1.0,
    preamble_tokens=5000,
    input_median=150.0,
    input_sigma=1.0,
    input_max=32768,
    output_median=150.0,
    output_sigma=1.575,
    output_max=16384,
    gap_median_s=1.0,
    gap_sigma=1.0,
    context_max=131072,
)
WORKLOADS = {"local": WorkloadSpec(), "agentperf": AGENTPERF_WORKLOAD}


@dataclass
class Outcome:
    """One request as the client would see it, on the virtual clock."""

    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    cached_tokens: int = 0
    first_s: float | None = None
    last_s: float | None = None
    received: int = 0
    # Which agent sent it and when its last token came: lets a caller replay a load generator's
    # warm-up (every agent done once) and close a window at any virtual time (bench/search_cost.py).
    agent: int = -1
    done_s: float | None = None


@dataclass
class _Agent:
    index: int
    rng: random.Random
    history: list[str] = field(default_factory=list)
    turns_left: int = 0
    turn: int = 0
    phase: int = 0


@dataclass
class SimulationResult:
    outcomes: list[Outcome]
    mean_power_w: float
    end_s: float


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


class ClosedLoop:
    """N agents against one engine, in virtual time."""

    def __init__(
        self, profile: SimProfile, agents: int, spec: WorkloadSpec, seed: int, *, start_random: bool = False
    ) -> None:
        self.profile = profile
        self.spec = spec
        # As the load generator's agent_start=random_turn: each agent's first phase starts at a
        # random turn, the turns before it prefilled into the history (drawn from their own
        # RNG, so the default mode's draws and documented tables are unchanged).
        self._prefill_rngs = (
            {i: random.Random(f"{seed}:{i}:start") for i in range(agents)} if start_random else {}
        )
        self.engine = Engine(profile)
        self.power = PowerModel(profile, 0.0)
        self.agents = [_Agent(i, random.Random(f"{seed}:{i}")) for i in range(agents)]
        self.outcomes: list[Outcome] = []
        self.now = 0.0
        self._events: list[tuple[float, int]] = []
        start_rng = random.Random(f"{seed}:start")
        for agent in self.agents:
            heapq.heappush(self._events, (start_rng.uniform(0.0, spec.gap_median_s), agent.index))

    def run(self, duration_s: float) -> SimulationResult:
        self.advance(duration_s)
        reading = self.power.reading(self.now)
        mean_power = reading.energy_j / self.now if self.now > 0 else self.profile.idle_w
        return SimulationResult(self.outcomes, mean_power, self.now)

    def advance(self, until_s: float) -> float:
        """Run the clock to ``until_s`` (or a step past it); callable again to go on. Returns the clock."""
        while self.now < until_s:
            self._send_due()
            if self.engine.has_work():
                self._step()
            elif self._events:
                self.now = self._events[0][0]
            else:
                break
        return self.now

    def _send_due(self) -> None:
        while self._events and self._events[0][0] <= self.now:
            arrival, index = heapq.heappop(self._events)
            self._send(self.agents[index], arrival)

    def _step(self) -> None:
        result = self.engine.step()
        self.power.record_step(self.now, result.duration_s, result.fill)
        self.now += result.duration_s
        for seq in result.emitted:
            outcome: Outcome = seq.tag
            if outcome.first_s is None:
                outcome.first_s = self.now
                outcome.cached_tokens = seq.cached_tokens or 0
            outcome.last_s = self.now
            outcome.received = seq.generated
        for seq in result.finished:
            done: Outcome = seq.tag
            done.done_s = self.now
            agent = self.agents[int(seq.request_id.split(":")[0])]
            # The loadgen appends the generated text verbatim, so the next prompt extends this one.
            agent.history.extend(message_token_ids("assistant", " ".join(seq.tokens[seq.prompt_len :])))
            gap = _lognormal(agent.rng, self.spec.gap_median_s, self.spec.gap_sigma)
            heapq.heappush(self._events, (self.now + gap, agent.index))

    def _turns(self, rng: random.Random) -> int:
        spec = self.spec
        if spec.turns_sigma <= 0:
            return rng.randint(spec.turns_min, spec.turns_max)
        drawn = round(_lognormal(rng, spec.turns_median, spec.turns_sigma))
        return max(spec.turns_min, min(spec.turns_max, drawn))

    def _new_phase(self, agent: _Agent) -> None:
        spec, rng = self.spec, agent.rng
        agent.phase += 1
        agent.turns_left = self._turns(rng)
        prefix = [f"p{agent.index}x{agent.phase}x{i}" for i in range(spec.dynamic_prefix_tokens)]
        preamble = generate_words(rng, spec.preamble_tokens)
        agent.history = message_token_ids("system", " ".join(prefix + preamble))
        agent.turn = 0

    def _prefill(self, agent: _Agent) -> None:
        """Commit a random number of the first phase's turns without sending them."""
        rng, spec = self._prefill_rngs.pop(agent.index), self.spec
        for _ in range(rng.randrange(max(1, agent.turns_left))):
            new_input = max(1, round(_lognormal(rng, spec.input_median, spec.input_sigma)))
            output = min(
                spec.output_max, max(1, round(_lognormal(rng, spec.output_median, spec.output_sigma)))
            )
            if spec.input_max:
                new_input = min(spec.input_max, new_input)
            if spec.context_max and len(agent.history) + 2 * (new_input + output) > spec.context_max:
                break
            role = "tool" if agent.turn > 0 else "user"
            agent.history.extend(message_token_ids(role, " ".join(generate_words(rng, new_input))))
            agent.history.extend(message_token_ids("assistant", " ".join(generate_words(rng, output))))
            agent.turn += 1
            agent.turns_left -= 1

    def _send(self, agent: _Agent, arrival: float) -> None:
        spec, rng = self.spec, agent.rng
        if agent.turns_left == 0:
            self._new_phase(agent)
        if agent.index in self._prefill_rngs:
            self._prefill(agent)
        new_input = max(1, round(_lognormal(rng, spec.input_median, spec.input_sigma)))
        if spec.input_max:
            new_input = min(spec.input_max, new_input)
        # Draw order (input, its words, output) is fixed so a seed gives the documented tables.
        words = generate_words(rng, new_input)
        output = min(spec.output_max, max(1, round(_lognormal(rng, spec.output_median, spec.output_sigma))))
        if spec.context_max and agent.turn and len(agent.history) + new_input + output > spec.context_max:
            # As the synthetic generator does: a trajectory stops before it outgrows the context.
            self._new_phase(agent)
        role = "tool" if agent.turn > 0 else "user"
        agent.turn += 1
        agent.turns_left -= 1
        agent.history.extend(message_token_ids(role, " ".join(words)))
        prompt = [*agent.history, *PRIMING_IDS]
        outcome = Outcome(arrival, len(prompt), output, agent=agent.index)
        self.outcomes.append(outcome)
        self.engine.add(f"{agent.index}:{len(self.outcomes)}", prompt, generate_words(rng, output), outcome)


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile, ``q`` in 0..100; ``nan`` for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


@dataclass(frozen=True)
class LevelSummary:
    """SLO figures of one concurrency level over its measurement window."""

    agents: int
    requests: int
    p25_speed: float
    p95_ttft_s: float
    mean_power_w: float
    cached_fraction: float

    def passes(self, tier: int) -> bool:
        """Whether SLO tier ``tier`` (1-based) holds at this level."""
        speed, ttft = TIERS[tier - 1]
        return self.p25_speed >= speed and self.p95_ttft_s <= ttft


def summarise(agents: int, result: SimulationResult, window: tuple[float, float]) -> LevelSummary:
    """P25 speed and P95 TTFT of requests sent inside ``window``; unanswered ones count as infinite TTFT."""
    lo, hi = window
    chosen = [o for o in result.outcomes if lo <= o.arrival_s < hi]
    ttfts = [(o.first_s - o.arrival_s) if o.first_s is not None else math.inf for o in chosen]
    speeds = [
        (o.received - 1) / (o.last_s - o.first_s)
        for o in chosen
        if o.first_s is not None
        and o.last_s is not None
        and o.received >= MIN_SPEED_TOKENS
        and o.last_s > o.first_s
    ]
    prompt = sum(o.prompt_tokens for o in chosen if o.first_s is not None)
    cached = sum(o.cached_tokens for o in chosen if o.first_s is not None)
    return LevelSummary(
        agents=agents,
        requests=len(chosen),
        p25_speed=percentile(speeds, 25),
        p95_ttft_s=percentile(ttfts, 95) if ttfts else math.nan,
        mean_power_w=result.mean_power_w,
        cached_fraction=cached / prompt if prompt else 0.0,
    )


def run_level(
    profile: SimProfile,
    agents: int,
    *,
    duration_s: float = 120.0,
    warmup_s: float = 20.0,
    seed: int = 0,
    spec: WorkloadSpec | None = None,
) -> LevelSummary:
    """Simulate ``agents`` agents for ``duration_s`` virtual seconds and summarise after warm-up."""
    result = ClosedLoop(profile, agents, spec or WorkloadSpec(), seed).run(duration_s)
    return summarise(agents, result, (warmup_s, duration_s))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agentperf.sim.calibrate", description=__doc__)
    parser.add_argument("--profile", default="tiny", help="bundled profile name or YAML path")
    parser.add_argument(
        "--agents",
        default="1,2,3,4,5,6,8,10,12,14,16,20,24,28,32,36,40,48,64,96",
        help="comma-separated levels",
    )
    parser.add_argument("--duration", type=float, default=300.0, help="virtual seconds per level")
    parser.add_argument("--warmup", type=float, default=30.0, help="virtual seconds left out at the start")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--workload", default="local", choices=sorted(WORKLOADS), help="synthetic workload distributions"
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override one profile field"
    )
    args = parser.parse_args(argv)
    overrides = {k: yaml.safe_load(v) for k, _, v in (item.partition("=") for item in args.set)}
    profile = load_profile(args.profile, overrides)
    print("agents requests p25_speed_tok_s p95_ttft_s mean_power_w cached_frac tier1 tier2 tier3")
    for level in (int(x) for x in args.agents.split(",")):
        s = run_level(
            profile,
            level,
            duration_s=args.duration,
            warmup_s=args.warmup,
            seed=args.seed,
            spec=WORKLOADS[args.workload],
        )
        verdicts = " ".join("pass" if s.passes(t) else "FAIL" for t in (1, 2, 3))
        print(
            f"{s.agents:6d} {s.requests:8d} {s.p25_speed:15.1f} {s.p95_ttft_s:10.3f} "
            f"{s.mean_power_w:12.1f} {s.cached_fraction:11.3f} {verdicts}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
