"""The simulator process: aiohttp endpoints over the engine model, stepped in real time.

One asyncio task runs the engine: it asks :meth:`Engine.step` for a batch, sleeps until the
step's modelled end on the monotonic clock, then hands every emitted token to its request in
one pass (a flag and an event per request, no task per token). Step ends are scheduled from the
previous step's modelled end, not from when the loop woke, so timer slack does not accumulate:
the long-run pace equals the model's. The loop sleeps on an event while there is no work.

Process contract: prints ``{"event": "ready", "service": "sim", "http_port": P, "dcgm_port": Q}``
on stdout once both servers listen, logs to stderr, stops gracefully on SIGTERM / SIGINT.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from aiohttp import web
from opentelemetry import propagate, trace

from agentperf.errors import AgentperfError, InputError
from agentperf.runtime.entry import config_from_argv, setup_logging
from agentperf.runtime.net import bind_tcp
from agentperf.runtime.telemetry import setup_tracing, shutdown_tracing
from agentperf.sim.api import (
    ChatRequest,
    ChunkWriter,
    CompletionRequest,
    TextChunkWriter,
    completion_object,
    completion_prompt_ids,
    error_body,
    parse_chat_request,
    parse_completion_request,
    text_completion_object,
    usage,
)
from agentperf.sim.config import SimConfig
from agentperf.sim.engine import Engine, StepResult
from agentperf.sim.engine import Sequence as EngineSequence
from agentperf.sim.faults import NO_FAULT, FaultPlan, plan_faults, ramp_factor
from agentperf.sim.metrics import VllmMetrics, render_dcgm
from agentperf.sim.power import PowerModel
from agentperf.sim.profile import SimProfile, load_profile
from agentperf.sim.tokens import generate_words, prompt_token_ids

log = logging.getLogger(__name__)

SERVICE = "sim"
REQUEST_ID_HEADER = "X-Request-Id"
# After a stall (GC pause, busy CPU) the loop catches up by at most this much, so a long stall
# does not turn into a burst of back-dated steps that new arrivals would seem to have joined.
MAX_LAG_S = 0.05
SHUTDOWN_TIMEOUT_S = 2.0


@dataclass(eq=False)
class ActiveRequest:
    """A request between arrival and its log line; the engine loop and its handler share it."""

    request_id: str
    arrival_s: float
    arrival_unix_s: float
    messages: int
    prompt_tokens: int
    max_tokens: int
    stream: bool
    words: list[str]
    endpoint: str = "chat"
    fault: FaultPlan = NO_FAULT
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    seq: EngineSequence | None = None
    generated: int = 0
    finished: bool = False
    shut_down: bool = False
    admitted_s: float | None = None
    first_token_s: float | None = None
    # When the first token's chunk had been handed to the transport: the server's own HTTP stack
    # is part of the TTFT a client sees, so the ground truth for a client measurement is this.
    first_sent_s: float | None = None
    last_token_s: float | None = None


class RequestLog:
    """JSONL ground truth, one line per request, flushed per line so a reader never sees half a line."""

    def __init__(self, path: str | None) -> None:
        self._file: IO[str] | None = None
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- lives as long as the server

    def write(self, record: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class Simulator:
    """The engine, its real-time loop, and the HTTP handlers."""

    def __init__(self, config: SimConfig, profile: SimProfile) -> None:
        self.config = config
        self.profile = profile
        self.engine = Engine(profile)
        self.power = PowerModel(profile, time.monotonic())
        self.metrics = VllmMetrics(
            config.model,
            running=lambda: float(len(self.engine.running)),
            waiting=lambda: float(len(self.engine.waiting)),
            kv=lambda: self.engine.kv_usage,
        )
        self.request_log = RequestLog(config.request_log)
        self.tracer = trace.get_tracer("agentperf.sim")
        self._active: set[ActiveRequest] = set()
        self._work = asyncio.Event()
        self._vclock = 0.0
        self._started_s = time.monotonic()
        self._counter = 0
        self._closing = False
        self._loop_task: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self, on_failure: asyncio.Event) -> None:
        """Start the engine loop; if it ever fails, log why and set ``on_failure``."""
        self._loop_task = asyncio.get_running_loop().create_task(self._run(), name="sim-engine")

        def done(task: asyncio.Task[None]) -> None:
            if not task.cancelled() and task.exception() is not None:
                self.failure = task.exception()
                log.error("engine loop failed", exc_info=self.failure)
                on_failure.set()

        self._loop_task.add_done_callback(done)

    async def stop(self) -> None:
        """End every open request (logged as aborted), stop the engine loop, close the log."""
        self._closing = True
        for req in list(self._active):
            req.shut_down = True
            req.wake.set()
        for _ in range(100):
            if not self._active:
                break
            await asyncio.sleep(0.01)
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task
        self.request_log.close()

    # -- the engine loop ------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            if not self.engine.has_work():
                self._work.clear()
                await self._work.wait()
                # Work that arrives after idle starts now, never in the past.
                self._vclock = max(self._vclock, time.monotonic())
                continue
            now = time.monotonic()
            start = max(self._vclock, now - MAX_LAG_S)
            result = self.engine.step()
            if not result.emitted and not result.prefill_tokens:
                # Nothing could be scheduled (a valid profile rules this out): wait for news.
                log.warning("engine step scheduled nothing with %d waiting", len(self.engine.waiting))
                self._work.clear()
                await self._work.wait()
                continue
            duration = result.duration_s * ramp_factor(self.config.faults, start - self._started_s)
            self._vclock = start + duration
            self.power.record_step(start, duration, result.fill)
            self.metrics.observe_step(result)
            for seq in result.admitted:
                req: ActiveRequest = seq.tag
                if req.admitted_s is None:
                    req.admitted_s = max(start, req.arrival_s)
            # Always yield, even when behind, so handlers get to write what was delivered.
            await asyncio.sleep(max(0.0, self._vclock - time.monotonic()))
            self._deliver(result, time.monotonic())

    def _deliver(self, result: StepResult, now: float) -> None:
        for seq in result.emitted:
            req: ActiveRequest = seq.tag
            req.generated = seq.generated
            if req.first_token_s is None:
                req.first_token_s = now
                self.metrics.ttft.observe(now - req.arrival_s)
            req.last_token_s = now
            req.wake.set()
        for seq in result.finished:
            req = seq.tag
            req.finished = True
            self.metrics.e2e.observe(now - req.arrival_s)

    # -- HTTP -----------------------------------------------------------------------------
    def _new_request_id(self, request: web.Request) -> str:
        given = request.headers.get(REQUEST_ID_HEADER)
        return given if given else f"sim-{uuid.uuid4().hex}"

    def _words(self, seed: int | None, count: int) -> list[str]:
        self._counter += 1
        key: object = seed if seed is not None else f"{self.config.seed}:{self._counter}"
        return generate_words(random.Random(str(key)), count)

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/chat/completions``."""
        return await self._handle(request, "chat")

    async def completions(self, request: web.Request) -> web.StreamResponse:
        """``POST /v1/completions`` (legacy text completions)."""
        return await self._handle(request, "completions")

    def _parse(self, raw: bytes, endpoint: str) -> tuple[ChatRequest | CompletionRequest, list[str], int]:
        """The validated request, its prompt tokens, and its message count."""
        if endpoint == "chat":
            chat = parse_chat_request(raw, self.config.default_max_tokens)
            return chat, prompt_token_ids(chat.messages), len(chat.messages)
        text = parse_completion_request(raw, self.config.default_max_tokens)
        return text, completion_prompt_ids(text.prompt), 0

    async def _handle(self, request: web.Request, endpoint: str) -> web.StreamResponse:
        request_id = self._new_request_id(request)
        arrival_s, arrival_unix_s = time.monotonic(), time.time()
        if self._closing:
            body = error_body("server shutting down", None, 503)
            return web.json_response(body, status=503, headers={REQUEST_ID_HEADER: request_id})
        ctx = propagate.extract(request.headers)
        operation = "chat" if endpoint == "chat" else "text_completion"
        with self.tracer.start_as_current_span(
            f"{operation} {self.config.model}", context=ctx, kind=trace.SpanKind.SERVER
        ) as span:
            span.set_attribute("gen_ai.operation.name", operation)
            span.set_attribute("gen_ai.request.model", self.config.model)
            try:
                parsed, prompt, messages = self._parse(await request.read(), endpoint)
                self._check_length(
                    len(prompt), parsed.max_tokens, "messages" if endpoint == "chat" else "prompt"
                )
            except InputError as exc:
                return self._reject(request_id, arrival_s, arrival_unix_s, exc)
            req = ActiveRequest(
                request_id, arrival_s, arrival_unix_s, messages, len(prompt), parsed.max_tokens,
                parsed.stream, self._words(parsed.seed, parsed.max_tokens), endpoint,
                plan_faults(self.config.faults, self.config.seed, request_id, parsed.max_tokens),
            )  # fmt: skip
            if req.fault.http_status is not None:
                span.set_attribute("error.type", str(req.fault.http_status))
                return self._inject_http_error(req)
            response = await self._serve(request, req, parsed, prompt)
            span.set_attribute("gen_ai.usage.input_tokens", req.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", req.generated)
            return response

    def _inject_http_error(self, req: ActiveRequest) -> web.Response:
        status = req.fault.http_status or 500
        self._log(req, "error", error=f"injected HTTP {status}")
        body = error_body(f"injected fault: HTTP {status}", None, status)
        return web.json_response(body, status=status, headers={REQUEST_ID_HEADER: req.request_id})

    def _check_length(self, prompt_tokens: int, max_tokens: int, field: str) -> None:
        limit = self.profile.max_model_len
        if prompt_tokens + max_tokens > limit:
            raise InputError(
                f"this model's maximum context length is {limit} tokens; the request has {prompt_tokens} "
                f"prompt tokens and asks for {max_tokens} completion tokens",
                source="request body",
                field=field,
            )

    def _reject(
        self, request_id: str, arrival_s: float, arrival_unix_s: float, exc: InputError
    ) -> web.Response:
        self.request_log.write(
            {
                "request_id": request_id, "status": "error", "error": str(exc), "fault": None, "messages": 0,
                "prompt_tokens": 0, "cached_tokens": 0, "completion_tokens": 0, "max_tokens": 0,
                "arrival_unix_s": arrival_unix_s, "arrival_s": arrival_s, "first_token_s": None,
                "last_token_s": None, "end_s": time.monotonic(), "queue_s": None, "preemptions": 0,
            }
        )  # fmt: skip
        return web.json_response(
            error_body(str(exc), exc.field), status=400, headers={REQUEST_ID_HEADER: request_id}
        )

    async def _serve(
        self,
        request: web.Request,
        req: ActiveRequest,
        parsed: ChatRequest | CompletionRequest,
        prompt: list[str],
    ) -> web.StreamResponse:
        self._active.add(req)
        status = "aborted"
        try:
            if req.fault.stall_before_first_s > 0:
                # Held before the queue, so the stall adds to the model's TTFT without using the batch.
                await asyncio.sleep(req.fault.stall_before_first_s)
            req.seq = self.engine.add(req.request_id, prompt, req.words, req)
            self._work.set()
            if parsed.stream:
                response = await self._stream(request, req, parsed.include_usage)
            else:
                response = await self._complete(request, req)
            status = "ok" if req.finished and not req.shut_down else "aborted"
            return response
        finally:
            if req.seq is not None and not req.finished:
                self.engine.abort(req.seq)
            self._active.discard(req)
            self._log(req, status)

    def _writer(self, req: ActiveRequest) -> ChunkWriter | TextChunkWriter:
        created = int(req.arrival_unix_s)
        if req.endpoint == "chat":
            return ChunkWriter(f"chatcmpl-{req.request_id}", self.config.model, created)
        return TextChunkWriter(f"cmpl-{req.request_id}", self.config.model, created)

    def _deliverable(self, req: ActiveRequest, stalled: bool) -> int:
        """Tokens the handler may send now: the engine's, cut at a pending stall or disconnect."""
        limit = req.generated
        if req.fault.stall_after_token is not None and not stalled:
            limit = min(limit, req.fault.stall_after_token)
        if req.fault.disconnect_after is not None:
            limit = min(limit, req.fault.disconnect_after)
        return limit

    @staticmethod
    def _cut(request: web.Request, req: ActiveRequest) -> None:
        """Close the connection under the response: the client sees the stream end mid-way."""
        req.shut_down = True
        if request.transport is not None:
            request.transport.close()

    async def _stream(
        self, request: web.Request, req: ActiveRequest, include_usage: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                REQUEST_ID_HEADER: req.request_id,
            }
        )
        writer = self._writer(req)
        fault = req.fault
        sent = 0
        stalled = False
        try:
            # Inside the try: a client that gave up while queued is gone before the headers go out.
            await response.prepare(request)
            while True:
                limit = self._deliverable(req, stalled)
                if limit > sent:
                    await response.write(writer.tokens(req.words, sent, limit))
                    if not sent:
                        req.first_sent_s = time.monotonic()
                    sent = limit
                if fault.disconnect_after is not None and sent >= fault.disconnect_after:
                    self._cut(request, req)
                    return response
                if fault.stall_after_token is not None and not stalled and sent >= fault.stall_after_token:
                    stalled = True
                    await asyncio.sleep(fault.stall_mid_stream_s)
                    continue
                if req.finished and sent >= req.generated:
                    break
                await req.wake.wait()
                req.wake.clear()
                if req.shut_down:
                    return response
            stats = self._usage(req) if include_usage else None
            await response.write(writer.finish(stats))
            await response.write_eof()
        except ConnectionError:
            # The client went away mid-stream; the caller logs the request as aborted.
            req.shut_down = True
        return response

    async def _complete(self, request: web.Request, req: ActiveRequest) -> web.StreamResponse:
        fault = req.fault
        while not req.finished:
            if fault.disconnect_after is not None and req.generated >= fault.disconnect_after:
                break
            await req.wake.wait()
            req.wake.clear()
            if req.shut_down:
                return web.json_response(
                    error_body("server shutting down", None, 503), status=503,
                    headers={REQUEST_ID_HEADER: req.request_id},
                )  # fmt: skip
        if fault.stall_after_token is not None:
            await asyncio.sleep(fault.stall_mid_stream_s)
        if fault.disconnect_after is not None:
            self._cut(request, req)
            return web.Response(status=500)
        text = " ".join(req.words)
        if req.endpoint == "chat":
            body = completion_object(
                f"chatcmpl-{req.request_id}",
                self.config.model,
                int(req.arrival_unix_s),
                text,
                self._usage(req),
            )
        else:
            body = text_completion_object(
                f"cmpl-{req.request_id}", self.config.model, int(req.arrival_unix_s), text, self._usage(req)
            )
        return web.json_response(body, headers={REQUEST_ID_HEADER: req.request_id})

    def _usage(self, req: ActiveRequest) -> dict[str, Any]:
        cached = (req.seq.cached_tokens if req.seq else None) or 0
        return usage(req.prompt_tokens, req.generated, cached)

    def _log(self, req: ActiveRequest, status: str, error: str | None = None) -> None:
        seq = req.seq
        self.request_log.write(
            {
                "request_id": req.request_id,
                "status": status,
                **({"error": error} if error is not None else {}),
                "endpoint": req.endpoint,
                "fault": req.fault.label,
                "messages": req.messages,
                "prompt_tokens": req.prompt_tokens,
                "cached_tokens": (seq.cached_tokens if seq else None) or 0,
                "completion_tokens": req.generated,
                "max_tokens": req.max_tokens,
                "stream": req.stream,
                "arrival_unix_s": req.arrival_unix_s,
                "arrival_s": req.arrival_s,
                "first_token_s": req.first_token_s,
                "first_sent_s": req.first_sent_s,
                "last_token_s": req.last_token_s,
                "end_s": time.monotonic(),
                "queue_s": None if req.admitted_s is None else req.admitted_s - req.arrival_s,
                "preemptions": seq.preemptions if seq else 0,
            }
        )

    async def models(self, _request: web.Request) -> web.Response:
        card = {
            "id": self.config.model,
            "object": "model",
            "created": 0,
            "owned_by": "agentperf",
            "max_model_len": self.profile.max_model_len,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def health(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def vllm_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), content_type="text/plain", charset="utf-8")

    async def dcgm_metrics(self, _request: web.Request) -> web.Response:
        text = render_dcgm(self.power.reading(time.monotonic()), self.profile.gpus)
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    def app(self) -> web.Application:
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat_completions)
        app.router.add_post("/v1/completions", self.completions)
        app.router.add_get("/v1/models", self.models)
        app.router.add_get("/health", self.health)
        app.router.add_get("/metrics", self.vllm_metrics)
        return app

    def dcgm_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self.dcgm_metrics)
        return app


async def _start_site(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    # handler_cancellation: a client that disconnects while its request waits in the queue must
    # free the sequence at once, not when the first token finds the socket closed.
    runner = web.AppRunner(
        app, access_log=None, handler_cancellation=True, shutdown_timeout=SHUTDOWN_TIMEOUT_S
    )
    await runner.setup()
    sock = bind_tcp(host, port, "sim")
    await web.SockSite(runner, sock).start()
    return runner, int(sock.getsockname()[1])


async def serve(config: SimConfig, profile: SimProfile, stop_event: asyncio.Event | None = None) -> None:
    """Run the simulator until SIGTERM / SIGINT (or ``stop_event``), then stop gracefully."""
    setup_tracing("agentperf-sim")
    sim = Simulator(config, profile)
    stop = stop_event or asyncio.Event()
    sim.start(stop)
    runners = []
    runner, http_port = await _start_site(sim.app(), config.host, config.port)
    runners.append(runner)
    dcgm_port = -1
    if config.dcgm_port >= 0:
        runner, dcgm_port = await _start_site(sim.dcgm_app(), config.host, config.dcgm_port)
        runners.append(runner)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info(
        "sim serving HTTP on %s:%d, DCGM on %d, profile %s", config.host, http_port, dcgm_port, config.profile
    )
    ready = {"event": "ready", "service": SERVICE, "http_port": http_port, "dcgm_port": dcgm_port}
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    try:
        await stop.wait()
    finally:
        log.info("sim shutting down")
        await sim.stop()
        for runner in runners:
            await runner.cleanup()
        shutdown_tracing()
    if sim.failure is not None:
        raise AgentperfError(f"sim: engine loop failed: {sim.failure!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m agentperf.sim``; returns the exit code."""
    config = config_from_argv("sim", SimConfig, argv)
    if isinstance(config, int):
        return config
    try:
        profile = load_profile(config.profile, config.profile_overrides)
    except AgentperfError as exc:
        print(f"agentperf-sim: {exc}", file=sys.stderr)
        return 2
    setup_logging("sim", config.log_level, config)
    log.info("profile: %s", profile.model_dump_json())
    try:
        asyncio.run(serve(config, profile))
    except AgentperfError as exc:
        print(f"agentperf-sim: {exc}", file=sys.stderr)
        return 2
    return 0
