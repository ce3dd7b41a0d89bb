"""An agent's requests in each prompt mode: byte-identical history, a new dynamic prefix per
phase, exact new inputs, recorded vs generated history, expected-vs-reported prompt tokens
and the calibrated mode's convergence."""

from __future__ import annotations

import re
from typing import Any

import pytest
from tokenizers import Tokenizer

from agentperf.loadgen.prompt import PromptBuilder, PromptSettings, PromptStats, load_tokenizer
from agentperf.sim.tokens import count_prompt_tokens
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn

MODES = ["words", "tokenizer", "calibrated"]
PREFIX = re.compile(
    r"^agentperf-prefix run=run1 level=1 agent=0 seq=(\d+) phase=(\d+) nonce=([0-9a-f]{16})\n"
)
REAL_INPUT = "$ pytest -q\nFAILED tests/test_area.py::test_circle - AssertionError: 3.14 != 3.1416 ✗\n"
REAL_PREAMBLE = "You are a coding agent. Fix the failing test in this repository.\n"


def trajectory() -> Trajectory:
    """Two phases of three turns: filler and real inputs, a filler and a real preamble."""
    tool = ToolCall("bash", "shell", 0.0)
    first = Phase(
        turns=(Turn(40, 6, tool=tool), Turn(25, 4, input_text=REAL_INPUT), Turn(300, 3)),
        preamble_tokens=120,
    )
    second = Phase(
        turns=(Turn(10, 5), Turn(7, 2, input_text=REAL_INPUT), Turn(1, 1)),
        preamble_tokens=60,
        preamble_text=REAL_PREAMBLE,
    )
    return Trajectory("traj/a", (first, second))


def settings(mode: str, phi3_path: str, **kw: Any) -> PromptSettings:
    return PromptSettings(mode=mode, tokenizer_path=phi3_path if mode == "tokenizer" else "", **kw)


def messages_bytes(raw: bytes) -> bytes:
    """The request body up to the end of its messages array (exclusive)."""
    return raw[: raw.index(b'],"model":')]


@pytest.mark.parametrize("mode", MODES)
async def test_history_is_byte_identical_and_each_phase_gets_a_new_prefix(
    mode: str, phi3_path: str, engine: Any, run_agent: Any
) -> None:
    await run_agent(trajectory(), PromptBuilder(settings(mode, phi3_path)), requests=7)
    bodies, raw = engine.bodies, engine.raw
    for k in (0, 1, 3, 4):  # consecutive requests of one phase
        earlier, later = messages_bytes(raw[k]), messages_bytes(raw[k + 1])
        assert later.startswith(earlier + b",")
        reply = bodies[k + 1]["messages"][len(bodies[k]["messages"])]
        assert reply == {"role": "assistant", "content": engine.generated[k]}
        assert len(bodies[k + 1]["messages"]) == len(bodies[k]["messages"]) + 2
    prefixes = [PREFIX.match(b["messages"][0]["content"]) for b in bodies]
    assert all(prefixes)
    seen = [(int(m.group(1)), int(m.group(2))) for m in prefixes if m]
    assert seen == [(0, 0)] * 3 + [(0, 1)] * 3 + [(1, 0)]
    nonces = {m.group(3) for m in prefixes if m}
    assert len(nonces) == 3  # phase 0, phase 1, and phase 0 of the next replay: all new
    preamble = bodies[3]["messages"][0]["content"].split("\n", 1)[1]
    if mode == "tokenizer":  # padded with filler to the phase's 60 tokens
        assert preamble.startswith(REAL_PREAMBLE) and len(preamble) > len(REAL_PREAMBLE)
    else:
        assert preamble == REAL_PREAMBLE


async def test_tokenizer_mode_sends_exact_new_inputs(phi3_path: str, engine: Any, run_agent: Any) -> None:
    tok: Tokenizer = load_tokenizer(phi3_path)
    traj = trajectory()
    await run_agent(traj, PromptBuilder(settings("tokenizer", phi3_path)), requests=7)
    turns = [t for p in traj.phases for t in p.turns]
    for body, turn in zip(engine.bodies, turns, strict=False):
        user = body["messages"][-1]["content"]
        assert len(tok.encode(user, add_special_tokens=False).ids) == turn.input_tokens
    for body, phase in ((engine.bodies[0], traj.phases[0]), (engine.bodies[3], traj.phases[1])):
        preamble = body["messages"][0]["content"].split("\n", 1)[1]
        assert len(tok.encode(preamble, add_special_tokens=False).ids) == phase.preamble_tokens
    fitted = engine.bodies[1]["messages"][-1]["content"]
    assert REAL_INPUT.startswith(fitted) or fitted.startswith(REAL_INPUT)


async def test_words_mode_sends_n_words_and_real_text_verbatim(engine: Any, run_agent: Any) -> None:
    traj = trajectory()
    await run_agent(traj, PromptBuilder(), requests=7)
    turns = [t for p in traj.phases for t in p.turns]
    for body, turn in zip(engine.bodies, turns, strict=False):
        user = body["messages"][-1]["content"]
        if turn.input_text:
            assert user == REAL_INPUT
        else:
            assert len(user.split()) == turn.input_tokens
    assert len(engine.bodies[0]["messages"][0]["content"].split("\n", 1)[1].split()) == 120


async def test_expected_prompt_tokens_match_a_server_counting_like_us(
    phi3_path: str, engine: Any, run_agent: Any
) -> None:
    tok = load_tokenizer(phi3_path)
    engine.prompt_tokens = lambda messages: sum(
        len(tok.encode(m["content"], add_special_tokens=False).ids) for m in messages
    )
    prompts = PromptBuilder(settings("tokenizer", phi3_path))
    await run_agent(trajectory(), prompts, requests=7)
    assert prompts.stats() == PromptStats(6, 0.0, 0.0, 0.0)


async def test_words_mode_error_is_zero_against_a_word_counting_server(engine: Any, run_agent: Any) -> None:
    prompts = PromptBuilder()
    await run_agent(trajectory(), prompts, requests=7)
    assert prompts.stats() == PromptStats(6, 0.0, 0.0, 1.0)


async def test_against_the_simulators_rule_the_error_is_its_template(engine: Any, run_agent: Any) -> None:
    engine.prompt_tokens = count_prompt_tokens  # 4 tokens per message, plus 3
    prompts = PromptBuilder()
    await run_agent(
        Trajectory("t", (Phase(turns=(Turn(9, 2), Turn(4, 3), Turn(6, 1))),)), prompts, requests=4
    )
    stats = prompts.stats()
    # The three requests carry 2, 4 and 6 messages.
    assert (stats.samples, stats.error_mean, stats.error_max) == (3, 19.0, 27.0)
    prompts.reset_stats()
    assert prompts.stats() == PromptStats(words_per_token=1.0)


async def test_calibrated_mode_converges_on_the_servers_ratio(engine: Any, run_agent: Any) -> None:
    k = 1.3
    engine.prompt_tokens = lambda messages: round(k * sum(len(m["content"].split()) for m in messages))
    traj = Trajectory("long", (Phase(turns=tuple(Turn(200, 4) for _ in range(12)), preamble_tokens=400),))
    prompts = PromptBuilder(PromptSettings(mode="calibrated"))
    await run_agent(traj, prompts, requests=3)
    assert prompts.stats().words_per_token == pytest.approx(1 / k, rel=0.02)
    prompts.reset_stats()
    await run_agent(traj, prompts, requests=3 + 13)
    stats = prompts.stats()
    assert stats.words_per_token == pytest.approx(1 / k, rel=0.02)
    # Residual: within 1 % of prompts of 400-2,800 tokens once calibrated.
    assert stats.samples == 12 and abs(stats.error_mean) < 10 and stats.error_max < 20
    sized = [len(b["messages"][-1]["content"].split()) * k for b in engine.bodies[4:]]
    assert all(abs(tokens - 200) <= 0.03 * 200 for tokens in sized)


@pytest.mark.parametrize("history", ["generated", "recorded"])
async def test_history_keeps_generated_or_recorded_text(history: str, engine: Any, run_agent: Any) -> None:
    turns = (Turn(5, 3, output_text="recorded answer one"), Turn(5, 3), Turn(5, 3, output_text="unused"))
    traj = Trajectory("rec", (Phase(turns=turns, preamble_tokens=5),))
    await run_agent(traj, PromptBuilder(PromptSettings(history_text=history)), requests=3)
    replies = [m["content"] for m in engine.bodies[2]["messages"] if m["role"] == "assistant"]
    if history == "recorded":
        assert replies == ["recorded answer one", engine.generated[1]]  # no recorded text: generated
    else:
        assert replies == engine.generated[:2]
