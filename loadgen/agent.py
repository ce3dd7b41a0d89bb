"""One closed-loop agent: replays trajectories turn by turn, keeping one request in flight.

Per phase the conversation restarts with a fresh dynamic prefix (unique per run, level,
agent, trajectory sequence and phase, plus a random nonce) followed by the phase preamble,
both in the system message. Per turn the agent appends a user message (the turn's
input_text, else filler of input_tokens tokens, as the prompt mode builds them: prompt.py),
sends, and on success appends the reply the history keeps (by default the text the server
actually generated) as the assistant message. A failed turn leaves the history untouched.
Then, if the turn has a tool call, it waits the tool gap; the tool's result is the next
turn's input, so no extra message is added.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from agentperf.loadgen.client import ChatClient, Exchange
from agentperf.loadgen.history import Conversation
from agentperf.loadgen.profiles import request_tail
from agentperf.loadgen.prompt import PromptBuilder
from agentperf.loadgen.records import RecordKey, build_record
from agentperf.loadgen.tools import ToolRunner
from agentperf.loadgen.tracing import agent_tracing
from agentperf.trajectory import Trajectory, Turn
from agentperf.v1 import common_pb2

log = logging.getLogger(__name__)


class LevelState:
    """What agents share with their level runner; read and written on one event loop."""

    def __init__(self, agents: int, min_window_requests: int) -> None:
        self.window_open = False
        self.close_mono: float | None = None
        self.agents_in_flight = 0
        self.requests_sent = 0
        self.requests_done = 0
        self.window_requests = 0
        self.ok = 0
        self.failed = 0
        self.censored = 0
        self.agent_errors = 0
        self.failures_by_class: dict[str, int] = {}
        self.warm_agents = 0
        self.warm = asyncio.Event()
        self.enough = asyncio.Event()
        self._agents = agents
        self._min_window_requests = min_window_requests
        self.sink_put: Callable[[common_pb2.RequestRecord], None] = lambda record: None
        if agents == 0:
            self.warm.set()

    def sent(self) -> bool:
        """Count a send; returns whether it is inside the measurement window."""
        self.requests_sent += 1
        self.agents_in_flight += 1
        if not self.window_open:
            return False
        self.window_requests += 1
        if self.window_requests >= self._min_window_requests:
            self.enough.set()
        return True

    def done(self, record: common_pb2.RequestRecord) -> None:
        """Count a finished (or censored) request and hand its record to the sink."""
        self.agents_in_flight -= 1
        self.requests_done += 1
        if record.status == common_pb2.REQUEST_STATUS_OK:
            self.ok += 1
        elif record.status == common_pb2.REQUEST_STATUS_CENSORED:
            self.censored += 1
        else:
            self.failed += 1
            self.failures_by_class[record.failure_class] = (
                self.failures_by_class.get(record.failure_class, 0) + 1
            )
        self.sink_put(record)

    def agent_warm(self) -> None:
        self.warm_agents += 1
        if self.warm_agents >= self._agents:
            self.warm.set()


@dataclass(frozen=True)
class AgentEnv:
    """Everything an agent needs that is the same for every agent of a level."""

    run_id: str
    level: int
    seed: int
    model: str
    engine_profile: str
    trajectories: Sequence[Trajectory]
    client: ChatClient
    tools: ToolRunner
    state: LevelState
    prompts: PromptBuilder = field(default_factory=PromptBuilder)
    shard: int = 0  # this load generator's shard index: the judge keeps one sketch per shard
    # Each agent's first trajectory starts at a random turn, its earlier turns prefilled into
    # the history: a level's contexts then look like a long-running fleet's from the start.
    start_random: bool = False


class Agent:
    """Agent ``number`` (global within the level); ``slot`` of ``slots`` on this loadgen."""

    def __init__(self, env: AgentEnv, number: int, slot: int, slots: int) -> None:
        self._env = env
        self.number = number
        self._slot = slot
        self._slots = slots
        self._warm = False
        self._trace = agent_tracing(env.run_id, env.level, number, model=env.model, url=env.client.url)

    async def run(self, start_delay_s: float = 0.0) -> None:
        """Replay trajectories slot, slot + slots, ... (wrapping around) until cancelled."""
        if start_delay_s > 0:
            await asyncio.sleep(start_delay_s)
        trajectories = self._env.trajectories
        seq = 0
        with self._trace.session():
            while True:
                trajectory = trajectories[(self._slot + seq * self._slots) % len(trajectories)]
                start = self._start_point(trajectory) if seq == 0 and self._env.start_random else (0, 0)
                try:
                    await self._replay(trajectory, seq, start)
                except Exception:
                    # A bug must not silently cost the level an agent: log, pause, go on.
                    log.exception("agent %d failed on trajectory %s", self.number, trajectory.id)
                    self._env.state.agent_errors += 1
                    await asyncio.sleep(1.0)
                seq += 1

    def _start_point(self, trajectory: Trajectory) -> tuple[int, int]:
        """(phase, turn) where this agent's first trajectory starts: uniform over its turns.

        Seeded by the run's seed, the level and the agent, so a rerun starts at the same turns.
        """
        turns = [(p, t) for p, phase in enumerate(trajectory.phases) for t in range(len(phase.turns))]
        if not turns:
            return 0, 0
        rng = random.Random(f"{self._env.seed}:{self._env.level}:{self.number}:start")
        return turns[rng.randrange(len(turns))]

    async def _replay(self, trajectory: Trajectory, seq: int, start: tuple[int, int] = (0, 0)) -> None:
        env = self._env
        prompts = env.prompts
        for p, phase in enumerate(trajectory.phases):
            if p < start[0]:
                continue
            system = await prompts.system(
                self._prefix(seq, p), env.seed, f"{trajectory.id}/{p}/preamble", phase
            )
            conversation = Conversation(system.text, system.units)
            for t, turn in enumerate(phase.turns):
                if p == start[0] and t < start[1]:
                    await self._prefill(conversation, f"{trajectory.id}/{p}/{t}", turn)
                    continue
                key = RecordKey(env.run_id, env.level, self.number, seq, trajectory.id, p, t)
                with self._trace.turn(key, max(1, turn.output_tokens)):
                    user = await prompts.user(env.seed, f"{trajectory.id}/{p}/{t}/input", turn)
                    tail = request_tail(env.model, env.engine_profile, max(1, turn.output_tokens))
                    body, encoded_user = conversation.body(user.text, tail)
                    units = conversation.units + user.units
                    expected = prompts.expected_tokens(units)
                    exchange = await self._send(key, body)
                    prompts.observe(exchange, units, expected)
                    if not exchange.failure:
                        reply = await prompts.reply(turn, exchange.text)
                        conversation.commit(encoded_user, reply.text, user.units + reply.units)
                    if turn.tool is not None:
                        with self._trace.tool(turn.tool):
                            await env.tools.run_tool(turn.tool, key.tool_key())

    async def _prefill(self, conversation: Conversation, key: str, turn: Turn) -> None:
        """Commit a turn the agent starts after: its input and (recorded or filler) answer.

        Nothing is sent; the first request then carries the whole history, uncached, during
        warm-up, as an agent that had been running all along would have had it.
        """
        prompts = self._env.prompts
        user = await prompts.user(self._env.seed, f"{key}/input", turn)
        reply = await prompts.prefilled_reply(self._env.seed, f"{key}/output", turn)
        conversation.commit(Conversation.user_message(user.text), reply.text, user.units + reply.units)

    def _prefix(self, seq: int, p: int) -> str:
        env = self._env
        # The nonce is deliberately not seeded: a rerun with the same run id and seed must not
        # hit KV cache left behind by the earlier run.
        return (
            f"agentperf-prefix run={env.run_id} level={env.level} agent={self.number} "
            f"seq={seq} phase={p} nonce={secrets.token_hex(8)}"
        )

    async def _send(self, key: RecordKey, body: bytes) -> Exchange:
        state = self._env.state
        exchange = Exchange(time.monotonic(), time.time())
        in_window = state.sent()
        chat = self._trace.chat()
        try:
            await self._env.client.stream(body, key.record_id(), exchange, chat.headers)
        except asyncio.CancelledError:
            close = None if exchange.complete else (state.close_mono or time.monotonic())
            record = build_record(key, exchange, in_window=in_window, close_mono=close, shard=self._env.shard)
            chat.end(record)
            state.done(record)
            raise
        record = build_record(key, exchange, in_window=in_window, shard=self._env.shard)
        chat.end(record)
        state.done(record)
        if not self._warm:
            self._warm = True
            state.agent_warm()
        return exchange
