"""The load generator against a real OpenAI-compatible server nobody here wrote: ``transformers
serve`` with a tiny random-weight Llama built on the spot (2 layers, hidden size 64), on CPU.

Needs the separate env made by ``scripts/live_env.sh`` (torch + transformers[serving] in
.venv-live); the server is found through $AGENTPERF_LIVE_TRANSFORMERS, else
.venv-live/bin/transformers. Without it, or if the model cannot be built or the server does
not come up, every test here skips and says why.

What ``transformers serve`` does differently from our simulator: it rejects unknown request
fields (vLLM's ``ignore_eos`` / ``min_tokens``) with HTTP 422, sends usage only in the last
chunk (together with the finish_reason) and ends the stream without ``data: [DONE]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from agentperf.loadgen import ClientSettings, LevelRunner, LevelSpec, LocalTools, MemorySink
from agentperf.loadgen.client import ChatClient, Exchange
from agentperf.loadgen.records import parse_record_id
from agentperf.trajectory import Phase, ToolCall, Trajectory, Turn
from agentperf.v1 import common_pb2

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
ENV_VAR = "AGENTPERF_LIVE_TRANSFORMERS"
TOKENIZER = REPO / ".." / "shared" / "data" / "tokenizers" / "phi-3-mini"
# The engine profile for servers that reject unknown fields (sends max_completion_tokens only).
STRICT_PROFILE = "openai"
START_TIMEOUT_S = 180.0

# Run with the live env's python: argv = output dir, tokenizer dir ("" builds a byte-level BPE).
BUILD_MODEL = r"""
import sys
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

out, tokenizer_dir = sys.argv[1], sys.argv[2]
if tokenizer_dir:
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
else:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    text = "the quick brown fox jumps over the lazy dog while agents call tools and read files " * 50
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    raw.train_from_iterator([text], trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="</s>"
    )
    tok.chat_template = (
        "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}<|assistant|>\n"
    )
torch.manual_seed(0)
config = LlamaConfig(
    vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=4096,
    bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
)
LlamaForCausalLM(config).save_pretrained(out)
tok.save_pretrained(out)
"""


@dataclass(frozen=True)
class Live:
    url: str
    model: str  # the server is pinned to the model folder and wants its path as the model name
    log: Path


def _executable() -> Path | None:
    given = os.environ.get(ENV_VAR)
    path = Path(given) if given else REPO / ".venv-live" / "bin" / "transformers"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def _build_model(python: Path, out: Path, log: Path) -> None:
    tokenizer = str(TOKENIZER) if (TOKENIZER / "tokenizer.json").is_file() else ""
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            str(python), "-c", BUILD_MODEL, str(out), tokenizer, stdout=err, stderr=err
        )
        code = await proc.wait()
    if code != 0:
        pytest.skip(f"could not build the tiny Llama with {python} (exit {code}):\n{_tail(log)}")


async def _wait_healthy(proc: asyncio.subprocess.Process, url: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                pytest.skip(f"transformers serve exited with {proc.returncode}:\n{_tail(log)}")
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"{url}/health") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.25)
    pytest.skip(f"transformers serve not healthy after {START_TIMEOUT_S:g} s:\n{_tail(log)}")


async def _warm_up(url: str, model: str, log: Path) -> None:
    """One small request first: the server's first generation takes seconds (set-up), which
    would otherwise land in the first level's warm-up."""
    body = {"messages": [{"role": "user", "content": "hi"}], "model": model, "max_completion_tokens": 2}
    timeout = aiohttp.ClientTimeout(total=START_TIMEOUT_S)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.post(f"{url}/v1/chat/completions", json=body) as resp,
    ):
        if resp.status != 200:
            pytest.skip(f"transformers serve answers {resp.status} to a plain request:\n{_tail(log)}")


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 15)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def live(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Live]:
    exe = _executable()
    if exe is None:
        pytest.skip(
            f"transformers serve not installed: run scripts/live_env.sh (creates .venv-live) or set "
            f"{ENV_VAR}=/path/to/bin/transformers"
        )
    tmp = tmp_path_factory.mktemp("live")
    model = tmp / "tiny-llama"
    await _build_model(exe.parent / "python", model, tmp / "build.log")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp / "hf"), "TOKENIZERS_PARALLELISM": "false"}
    args = ["serve", str(model), "--host", "127.0.0.1", "--port", str(port)]
    args += ["--device", "cpu", "--continuous-batching", "--log-level", "info"]
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            str(exe), *args, stdout=out, stderr=out, env=env, start_new_session=True
        )
    try:
        await _wait_healthy(proc, url, log)
        await _warm_up(url, str(model), log)
        yield Live(url, str(model), log)
    finally:
        await _stop(proc)


def _trajectories(output_tokens: int, tool_s: float) -> list[Trajectory]:
    def turns(inputs: list[int]) -> tuple[Turn, ...]:
        return tuple(Turn(i, output_tokens, tool=ToolCall("bash", "shell", tool_s)) for i in inputs)

    return [
        Trajectory(f"live-{k}", (Phase(turns([24, 12, 9]), preamble_tokens=30), Phase(turns([16, 8]), 20)))
        for k in range(2)
    ]


async def test_strict_profile_replays_agents_with_usage_counts(live: Live) -> None:
    sink = MemorySink()
    output_tokens = 12
    # 6 sends in the window by 3 agents mean at least 3 completed in it (an agent sends its next
    # request only after the previous one ended), each right after an earlier turn of its agent.
    spec = LevelSpec(
        "live1", level=3, window_s=0.5, min_window_requests=6, max_window_s=120, warmup_timeout_s=120
    )
    runner = LevelRunner(
        spec,
        _trajectories(output_tokens, tool_s=0.05),
        ClientSettings(live.url, live.model, STRICT_PROFILE),
        LocalTools(),
        sink,
    )
    result = await runner.run(lambda event: None)
    counters = result.counters
    assert counters.failed == 0 and counters.agent_errors == 0, (counters, _tail(live.log))
    assert counters.window_requests >= 6, result.stop_reason
    assert counters.ok >= 3 + 3 and counters.ok + counters.censored == counters.requests_sent
    done = [r for r in sink.records if r.status == common_pb2.REQUEST_STATUS_OK]
    for record in done:
        assert record.has_first_token and record.ttft_s > 0
        assert record.http_status == 200
        # From usage (the last chunk); a random model may emit EOS early, never more than asked.
        assert 0 < record.output_tokens <= output_tokens
        assert record.prompt_tokens > 0
    # The history grows turn to turn: each prompt holds the previous one, its answer and more.
    by_phase: dict[tuple[int, int, str, int], list[common_pb2.RequestRecord]] = {}
    for record in done:
        key = parse_record_id(record.record_id)
        by_phase.setdefault((key.agent, key.traj_seq, key.trajectory_id, key.phase), []).append(record)
    grown = 0
    for records in by_phase.values():
        records.sort(key=lambda r: r.turn)
        for prev, cur in itertools.pairwise(records):
            if cur.turn == prev.turn + 1:
                assert cur.prompt_tokens > prev.prompt_tokens + prev.output_tokens
                grown += 1
    assert grown >= 1


async def test_client_takes_usage_from_the_last_chunk_without_done(live: Live) -> None:
    client = ChatClient(ClientSettings(live.url, live.model, STRICT_PROFILE), agents=1)
    body = {
        "messages": [{"role": "user", "content": "count the files in the repository"}],
        "model": live.model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_completion_tokens": 7,
    }
    ex = Exchange(time.monotonic(), time.time())
    try:
        await client.stream(json.dumps(body).encode(), "live-direct", ex)
    finally:
        await client.close()
    assert ex.failure == "" and ex.http_status == 200
    assert ex.answer, "the finish_reason ends the stream (no [DONE] from this server)"
    assert 0 < ex.usage_completion <= 7 and ex.output_tokens == ex.usage_completion
    assert ex.usage_prompt > 0
    assert ex.t_send < ex.t_first <= ex.t_last
    assert ex.text


async def test_vllm_profile_is_refused_with_422_and_the_level_goes_on(live: Live) -> None:
    sink = MemorySink()
    runner = LevelRunner(
        LevelSpec("live2", level=2, window_s=0.3, warmup_timeout_s=30),
        _trajectories(4, tool_s=0.02),
        ClientSettings(live.url, live.model, "vllm"),
        LocalTools(),
        sink,
    )
    result = await runner.run(lambda event: None)
    counters = result.counters
    assert counters.requests_sent >= 2 and counters.agent_errors == 0
    assert counters.ok == 0 and counters.failures_by_class == {"http_422": counters.failed}
    assert result.delivery.delivered == counters.requests_sent
    failed = [r for r in sink.records if r.status == common_pb2.REQUEST_STATUS_FAILED]
    assert failed and all(r.http_status == 422 and not r.has_first_token for r in failed)
