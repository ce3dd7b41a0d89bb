"""Level runs in-process against the fake server: history, prefixes, context growth, window
semantics, censoring, and exactly one record per request sent."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from agentperf.errors import InputError
from agentperf.loadgen import (
    ClientSettings,
    EventKind,
    LevelEvent,
    LevelResult,
    LevelRunner,
    LevelSpec,
    LocalTools,
    MemorySink,
    RecordSink,
    ToolRunner,
    ToolSimTools,
    parse_record_id,
)
from agentperf.runtime.server import channel
from agentperf.trajectory import Phase, Trajectory, Turn
from agentperf.v1 import common_pb2

OK, FAILED, CENSORED = (
    common_pb2.REQUEST_STATUS_OK,
    common_pb2.REQUEST_STATUS_FAILED,
    common_pb2.REQUEST_STATUS_CENSORED,
)


async def run_level(
    url: str,
    trajectories: Sequence[Trajectory],
    *,
    tools: ToolRunner | None = None,
    sink: RecordSink | None = None,
    on_runner: Callable[[LevelRunner], None] | None = None,
    **spec: Any,
) -> tuple[LevelResult, list[LevelEvent], RecordSink]:
    spec.setdefault("run_id", "r")
    spec.setdefault("level", 2)
    spec.setdefault("window_s", 0.3)
    spec.setdefault("progress_interval_s", 0.05)
    settings = ClientSettings(url, "m")
    sink = sink or MemorySink()
    runner = LevelRunner(LevelSpec(**spec), trajectories, settings, tools or LocalTools(scale=0), sink)
    if on_runner is not None:
        on_runner(runner)
    events: list[LevelEvent] = []
    result = await asyncio.wait_for(runner.run(events.append), 20)
    return result, events, sink


def records_of(sink: RecordSink) -> list[common_pb2.RequestRecord]:
    assert isinstance(sink, MemorySink)
    return sink.records


def assert_one_record_per_request(result: LevelResult, records: Sequence[common_pb2.RequestRecord]) -> None:
    ids = [r.record_id for r in records]
    assert len(ids) == len(set(ids)) == result.counters.requests_sent == result.counters.requests_done
    assert result.delivery.delivered == result.counters.requests_sent
    assert result.counters.agents_in_flight == 0


def _words(text: str) -> int:
    return len(text.split())


async def _first_requests(llm: Any, trajectories: Sequence[Trajectory], **spec: Any) -> dict[int, Any]:
    """Each agent's first request (seq 0) of a level run with ``spec``."""
    llm.requests.clear()
    await run_level(llm.url, trajectories, level=8, window_s=0.2, **spec)
    first: dict[int, Any] = {}
    for req in llm.requests:
        key = parse_record_id(req.request_id)
        if key.traj_seq == 0 and (key.agent not in first or (key.phase, key.turn) < first[key.agent][0]):
            first[key.agent] = ((key.phase, key.turn), req)
    return first


async def test_random_start_prefills_the_turns_before_it(llm: Any, make_trajectory: Any) -> None:
    """An agent starting at turn k sends, first, the phase's history of turns 0..k-1 plus turn k."""
    llm.set(token_interval_s=0.001)
    turns = [(3 + i, 2 + i % 3, False) for i in range(6)]
    trajectories = [make_trajectory(f"t{i}", [turns, turns[:3]]) for i in range(8)]
    first = await _first_requests(llm, trajectories, start_random=True)
    assert len(first) == 8
    starts = {agent: where for agent, (where, _) in first.items()}
    assert len(set(starts.values())) > 2, "agents start at different turns"
    assert any(p == 1 for p, _ in starts.values()) and any(t > 2 for _, t in starts.values())
    for (phase, turn), req in first.values():
        spec = trajectories[0].phases[phase]
        messages = req.messages
        # system, then (user, assistant) per prefilled turn, then this turn's input
        assert len(messages) == 2 + 2 * turn
        for k in range(turn):
            assert _words(messages[1 + 2 * k]["content"]) == spec.turns[k].input_tokens
            assert _words(messages[2 + 2 * k]["content"]) == spec.turns[k].output_tokens
        assert _words(messages[-1]["content"]) == spec.turns[turn].input_tokens
    # seeded: the same agents start at the same turns again
    again = await _first_requests(llm, trajectories, start_random=True)
    assert {agent: where for agent, (where, _) in again.items()} == starts
    # the default start is turn 0 of phase 0 for every agent
    default = await _first_requests(llm, trajectories)
    assert {where for where, _ in default.values()} == {(0, 0)}


async def test_history_is_byte_identical_and_context_grows_by_output_plus_input(
    llm: Any, peers: Any, make_trajectory: Any
) -> None:
    llm.set(token_interval_s=0.001)
    trajectories = [
        make_trajectory("t0", [[(3, 4, True), (5, 2, False), (2, 3, True)], [(4, 2, True), (1, 5, False)]]),
        make_trajectory("t1", [[(2, 3, True), (6, 4, True)]], preamble_tokens=9),
        make_trajectory("t2", [[(7, 2, False), (3, 3, True), (2, 2, False)]]),
    ]
    by_id = {t.id: t for t in trajectories}
    async with channel(peers.target) as ch:
        result, _, sink = await run_level(
            llm.url,
            trajectories,
            tools=ToolSimTools(ch),
            window_s=0.4,
            min_window_requests=30,
            max_window_s=5,
        )
    assert_one_record_per_request(result, records_of(sink))
    groups: dict[tuple[int, int, str, int], dict[int, Any]] = defaultdict(dict)
    for req in llm.requests:
        key = parse_record_id(req.request_id)
        groups[(key.agent, key.traj_seq, key.trajectory_id, key.phase)][key.turn] = req
    # agent i replays trajectories i, i + N, ... (N = 2 agents, wrapping around 3 trajectories)
    starts = {(a, s): t for (a, s, t, _p) in groups}
    assert starts[(0, 0)] == "t0" and starts[(1, 0)] == "t1" and starts[(0, 1)] == "t2"
    assert starts.get((1, 1), "t0") == "t0"
    checked = 0
    prefixes = set()
    for (agent, seq, traj_id, phase), turns in groups.items():
        spec = by_id[traj_id].phases[phase]
        system = turns[0].messages[0]["content"]
        assert system.startswith(
            f"agentperf-prefix run=r level=2 agent={agent} seq={seq} phase={phase} nonce="
        )
        assert len(system.split()) == 7 + spec.preamble_tokens
        prefixes.add(system.split("\n")[0])
        for t, req in turns.items():
            assert req.messages[0]["content"] == system
            assert len(req.messages[-1]["content"].split()) == spec.turns[t].input_tokens
            prev = turns.get(t - 1)
            if prev is None:
                continue
            assistant = {"role": "assistant", "content": prev.generated}
            assert req.messages[:-1] == [*prev.messages, assistant]
            assert req.raw.startswith(prev.raw.split(b'],"model"')[0] + b",")
            grown = sum(len(m["content"].split()) for m in req.messages)
            before = sum(len(m["content"].split()) for m in prev.messages)
            assert grown == before + spec.turns[t - 1].output_tokens + spec.turns[t].input_tokens
            checked += 1
    assert checked >= 10
    assert len(prefixes) == len(groups), "every phase of every agent gets its own dynamic prefix"
    # a tool call after turn k is keyed <run>/<level>/<agent>/<seq>/<phase>/<turn>
    tool_keys = set(peers.toolsim.keys)
    for (agent, seq, traj_id, phase), turns in groups.items():
        for t in turns:
            if by_id[traj_id].phases[phase].turns[t].tool is not None and t + 1 in turns:
                assert f"r/2/{agent}/{seq}/{phase}/{t}" in tool_keys


async def test_recorded_text_is_sent_verbatim(llm: Any) -> None:
    traj = Trajectory(
        "txt",
        (
            Phase(
                (Turn(2, 3, input_text="fix the bug"), Turn(9, 2, input_text="tool said: ok")),
                preamble_tokens=50,
                preamble_text="You are a coding agent.",
            ),
        ),
    )
    await run_level(llm.url, [traj], level=1, window_s=0.05)
    first, second = llm.requests[0], llm.requests[1]
    assert first.messages[0]["content"].endswith("\nYou are a coding agent.")
    assert first.messages[1] == {"role": "user", "content": "fix the bug"}
    assert second.messages[-1] == {"role": "user", "content": "tool said: ok"}


async def test_failed_turn_leaves_history_untouched(llm: Any, make_trajectory: Any, behaviour: Any) -> None:
    def behave(i: int, req: Any) -> Any:
        key = parse_record_id(req.request_id)
        return behaviour(status=503) if key.turn == 1 else behaviour()

    llm.behave = behave
    traj = make_trajectory("f", [[(2, 2, False), (3, 2, False), (4, 2, False)]])
    result, _, sink = await run_level(llm.url, [traj], level=1, window_s=0.05)
    turns = {
        parse_record_id(r.request_id).turn: r for r in llm.requests if r.request_id.startswith("r/1/0/0/")
    }
    assert turns[2].messages == [
        *turns[0].messages,
        {"role": "assistant", "content": turns[0].generated},
        turns[2].messages[-1],
    ]
    failed = [r for r in records_of(sink) if r.status == FAILED]
    assert failed and all(r.failure_class == "http_503" and r.turn == 1 for r in failed)
    assert result.counters.failures_by_class["http_503"] == len(failed)


async def test_window_warmup_and_censoring(llm: Any, make_trajectory: Any, behaviour: Any) -> None:
    """Agent 0 stalls after 2 tokens, agent 1 never gets a first token, agent 2 runs freely."""

    def behave(i: int, req: Any) -> Any:
        key = parse_record_id(req.request_id)
        if key.turn == 0 and key.traj_seq == 0:
            return behaviour()
        return {0: behaviour(stall_after=2), 1: behaviour(first_token_delay_s=30)}.get(
            key.agent, behaviour(token_interval_s=0.002)
        )

    llm.behave = behave
    traj = make_trajectory("w", [[(2, 4, False)] * 6])
    result, events, sink = await run_level(llm.url, [traj], level=3, window_s=0.3)
    records = records_of(sink)
    assert_one_record_per_request(result, records)
    assert {r.request_id for r in llm.requests} <= {r.record_id for r in records}
    by_agent: dict[int, list[common_pb2.RequestRecord]] = defaultdict(list)
    for r in records:
        by_agent[r.agent].append(r)
    # every agent's first request was warm-up
    for agent in range(3):
        first = next(r for r in by_agent[agent] if r.turn == 0)
        assert first.status == OK and not first.in_window
    stalled = [r for r in by_agent[0] if r.status == CENSORED]
    assert len(stalled) == 1 and stalled[0].has_first_token and stalled[0].output_tokens == 2
    assert stalled[0].waited_s == 0
    waiting = [r for r in by_agent[1] if r.status == CENSORED]
    assert len(waiting) == 1 and not waiting[0].has_first_token
    assert result.window_s * 0.9 <= waiting[0].waited_s < result.window_s + 1.0
    in_window = [r for r in by_agent[2] if r.in_window]
    assert len(in_window) >= 5 and all(r.status in (OK, CENSORED) for r in in_window)
    assert result.counters.window_requests == sum(r.in_window for r in records)
    assert result.counters.censored == sum(r.status == CENSORED for r in records) <= 3
    kinds = [e.kind for e in events]
    assert kinds[0] is EventKind.STARTED and kinds[-2:] == [EventKind.WINDOW_CLOSED, EventKind.DONE]
    assert kinds.index(EventKind.WINDOW_OPEN) < kinds.index(EventKind.WINDOW_CLOSED)
    assert EventKind.PROGRESS in kinds
    assert events[-1].counters.records_delivered == result.counters.requests_sent


async def test_window_extends_until_min_requests(llm: Any, make_trajectory: Any) -> None:
    llm.set(token_interval_s=0.01)
    traj = make_trajectory("m", [[(2, 4, False)] * 50])
    result, _, _ = await run_level(llm.url, [traj], window_s=0.05, min_window_requests=30, max_window_s=10)
    assert result.counters.window_requests >= 30
    assert 0.05 < result.window_s < 10


async def test_window_never_passes_max_window_s(llm: Any, make_trajectory: Any) -> None:
    llm.set(token_interval_s=0.01)
    traj = make_trajectory("m", [[(2, 4, False)] * 50])
    result, _, _ = await run_level(llm.url, [traj], window_s=0.1, min_window_requests=10**6, max_window_s=0.4)
    assert 0.4 <= result.window_s < 0.8


async def test_warmup_timeout_opens_the_window_anyway(llm: Any, make_trajectory: Any, behaviour: Any) -> None:
    llm.behave = lambda i, req: (
        behaviour(first_token_delay_s=30) if req.request_id.startswith("r/2/1/") else behaviour()
    )
    traj = make_trajectory("s", [[(2, 2, False)] * 4])
    result, events, sink = await run_level(llm.url, [traj], warmup_timeout_s=0.2, window_s=0.1)
    opened = next(e for e in events if e.kind is EventKind.WINDOW_OPEN)
    assert "warm-up timed out" in opened.message and "1 of 2 agents" in opened.message
    assert result.warmup_timed_out
    assert_one_record_per_request(result, records_of(sink))
    slow = [r for r in records_of(sink) if r.agent == 1]
    assert len(slow) == 1 and slow[0].status == CENSORED and not slow[0].in_window


async def test_request_stop_closes_cleanly(llm: Any, make_trajectory: Any) -> None:
    llm.set(token_interval_s=0.005)
    traj = make_trajectory("x", [[(2, 4, True)] * 20])
    runners: list[LevelRunner] = []
    loop = asyncio.get_running_loop()

    def watch(runner: LevelRunner) -> None:
        runners.append(runner)
        loop.call_later(0.3, runner.request_stop, "operator said so")

    result, events, sink = await run_level(
        llm.url, [traj], tools=LocalTools(scale=1.0), window_s=30, on_runner=watch
    )
    assert result.window_s < 5 and result.stop_reason == "operator said so"
    assert "operator said so" in events[-2].message
    assert_one_record_per_request(result, records_of(sink))


async def test_shard_runs_its_share_of_agents(llm: Any, make_trajectory: Any) -> None:
    traj = make_trajectory("x", [[(2, 2, False)] * 3])
    result, _, sink = await run_level(llm.url, [traj], level=5, shard_index=1, shard_count=2, window_s=0.05)
    assert result.counters.agents == 2
    assert {r.agent for r in records_of(sink)} == {1, 3}
    assert {r.shard for r in records_of(sink)} == {1}, "the judge keeps one sketch per shard"


@pytest.mark.parametrize(
    ("field", "value"),
    [("run_id", "a/b"), ("run_id", ""), ("level", 0), ("window_s", 0), ("shard_index", 2)],
)
def test_bad_spec_is_an_input_error(field: str, value: Any, make_trajectory: Any) -> None:
    spec = {"run_id": "r", "level": 1, "window_s": 1.0, "shard_count": 2, field: value}
    with pytest.raises(InputError, match=field):
        LevelRunner(
            LevelSpec(**spec),
            [make_trajectory("x", [[(1, 1, False)]])],
            ClientSettings("http://127.0.0.1:1", "m"),
            LocalTools(),
            MemorySink(),
        )


def test_trajectories_without_turns_are_rejected() -> None:
    with pytest.raises(InputError, match="no trajectory"):
        LevelRunner(
            LevelSpec("r", 1, 1.0),
            [Trajectory("empty", (Phase(()),))],
            ClientSettings("http://127.0.0.1:1", "m"),
            LocalTools(),
            MemorySink(),
        )
