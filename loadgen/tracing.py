"""OpenTelemetry spans of the agent sessions: one trace per agent per level.

Span tree (names and attributes: docs/loadgen.md, "Telemetry")::

    agent.session       root span of one agent for one level (links to the caller's span)
      agent.turn        one per turn
        chat <model>    the HTTP request, CLIENT kind, GenAI semantic conventions; its context
                        goes to the inference server as a W3C ``traceparent`` header
        agent.tool      the tool gap; the RunTool gRPC client span (interceptor) is its child

Spans are opened per request and per tool call, never per chunk: the chat span's attributes
are set once, from the finished ``RequestRecord``, so span and record cannot disagree.

When this process would export nothing (no tracer provider was installed, or the SDK provider
of ``agentperf.runtime.telemetry`` has no span processor because no OTLP endpoint is set) no span
object is made at all: every hook is a shared no-op context manager and no ``traceparent`` is
sent. Sampling (``OTEL_TRACES_SAMPLER``) decides at the root, so a session is kept or dropped
whole; the spans of a dropped session are non-recording.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

import agentperf
from agentperf.loadgen.records import RecordKey
from agentperf.trajectory import ToolCall
from agentperf.v1 import common_pb2

TRACER_NAME = "agentperf.loadgen"
SESSION_SPAN = "agent.session"
TURN_SPAN = "agent.turn"
TOOL_SPAN = "agent.tool"

_STATUS = {
    common_pb2.REQUEST_STATUS_OK: "ok",
    common_pb2.REQUEST_STATUS_FAILED: "failed",
    common_pb2.REQUEST_STATUS_CENSORED: "censored",
}


def exporting(provider: trace.TracerProvider | None = None) -> bool:
    """Whether spans made through ``provider`` (default: the global one) can go anywhere."""
    provider = provider or trace.get_tracer_provider()
    if isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider):
        return False
    # The SDK has no public way to ask for its processors; setup_tracing adds none when no
    # exporter is configured, and such a provider would build every span only to drop it.
    processor = getattr(provider, "_active_span_processor", None)
    processors = getattr(processor, "_span_processors", None)
    return processors is None or len(processors) > 0


def server_of(url: str) -> tuple[str, int]:
    """``server.address`` and ``server.port`` of a base or endpoint URL."""
    parts = urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return parts.hostname or "", parts.port or default


class ChatSpan:
    """The span of one chat request; this no-op base sends no headers and records nothing.

    Not a context manager: the chat client never raises but ``CancelledError``, and both ways
    out of a request end in :meth:`end` with the request's record.
    """

    __slots__ = ()

    headers: dict[str, str] | None = None

    def end(self, record: common_pb2.RequestRecord) -> None:
        """Set the outcome attributes from the request's record and end the span."""


_NO_CHAT = ChatSpan()
_NO_SPAN: AbstractContextManager[None] = nullcontext()


class _RecordingChat(ChatSpan):
    __slots__ = ("_span", "headers")

    def __init__(self, span: trace.Span) -> None:
        self._span = span
        self.headers: dict[str, str] | None = {}
        propagate.inject(self.headers, context=trace.set_span_in_context(span))

    def end(self, record: common_pb2.RequestRecord) -> None:
        span = self._span
        if span.is_recording():
            _outcome(span, record)
        span.end()


def _outcome(span: trace.Span, record: common_pb2.RequestRecord) -> None:
    span.set_attribute("agentperf.request.status", _STATUS.get(record.status, "unknown"))
    if record.http_status:
        span.set_attribute("http.response.status_code", record.http_status)
    if record.prompt_tokens:
        # prompt_tokens > 0: the server reported usage, its cached count included (maybe 0).
        span.set_attribute("gen_ai.usage.input_tokens", record.prompt_tokens)
        span.set_attribute("gen_ai.usage.cache_read.input_tokens", record.cached_tokens)
    if record.has_first_token:
        span.set_attribute("gen_ai.usage.output_tokens", record.output_tokens)
        span.set_attribute("gen_ai.response.time_to_first_chunk", record.ttft_s)
    if record.status == common_pb2.REQUEST_STATUS_FAILED:
        span.set_attribute("error.type", record.failure_class)
        span.set_status(Status(StatusCode.ERROR, record.failure_class))


class AgentTracing:
    """The span hooks of one agent; this base class is the no-op used when nothing is exported."""

    def session(self) -> AbstractContextManager[Any]:
        """The root span around everything the agent does in the level."""
        return _NO_SPAN

    def turn(self, key: RecordKey, max_tokens: int) -> AbstractContextManager[Any]:
        """The span of one turn: its chat request and, if any, its tool gap."""
        return _NO_SPAN

    def chat(self) -> ChatSpan:
        """Start the chat request span; its ``headers`` go on the HTTP request."""
        return _NO_CHAT

    def tool(self, tool: ToolCall) -> AbstractContextManager[Any]:
        """The span of one tool gap; current while toolsim is called, so RunTool carries it."""
        return _NO_SPAN


class _RecordingAgentTracing(AgentTracing):
    def __init__(
        self, tracer: trace.Tracer, run_id: str, level: int, agent: int, *, model: str, url: str
    ) -> None:
        self._tracer = tracer
        self._session_attributes: dict[str, str | int] = {
            "agentperf.run_id": run_id,
            "agentperf.level": level,
            "agentperf.agent": agent,
        }
        address, port = server_of(url)
        self._chat_name = f"chat {model}"
        self._chat_attributes: dict[str, str | int] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            "server.address": address,
            "server.port": port,
        }
        self._max_tokens = 0

    def session(self) -> AbstractContextManager[Any]:
        caller = trace.get_current_span().get_span_context()
        links = [Link(caller)] if caller.is_valid else None
        # An empty context: a session is its own trace, not part of the RunLevel call's.
        return self._tracer.start_as_current_span(
            SESSION_SPAN,
            context=otel_context.Context(),
            kind=SpanKind.INTERNAL,
            attributes=self._session_attributes,
            links=links,
        )

    def turn(self, key: RecordKey, max_tokens: int) -> AbstractContextManager[Any]:
        # One request at a time per agent: the chat span of this turn picks the value up.
        self._max_tokens = max_tokens
        return self._tracer.start_as_current_span(
            TURN_SPAN,
            attributes={
                "agentperf.trajectory.id": key.trajectory_id,
                "agentperf.trajectory.seq": key.traj_seq,
                "agentperf.phase": key.phase,
                "agentperf.turn": key.turn,
                "agentperf.record_id": key.record_id(),
            },
        )

    def chat(self) -> ChatSpan:
        span = self._tracer.start_span(
            self._chat_name,
            kind=SpanKind.CLIENT,
            attributes={**self._chat_attributes, "gen_ai.request.max_tokens": self._max_tokens},
        )
        return _RecordingChat(span)

    def tool(self, tool: ToolCall) -> AbstractContextManager[Any]:
        return self._tool(tool)

    @contextmanager
    def _tool(self, tool: ToolCall) -> Iterator[None]:
        attributes: dict[str, str | float] = {
            "gen_ai.tool.name": tool.name,
            "agentperf.tool.class": tool.tool_class,
        }
        if tool.recorded_duration_s:
            attributes["agentperf.tool.recorded_duration_s"] = tool.recorded_duration_s
        with self._tracer.start_as_current_span(TOOL_SPAN, attributes=attributes) as span:
            start = time.monotonic()
            try:
                yield
            except asyncio.CancelledError:
                span.set_attribute("agentperf.tool.cancelled", True)  # cut off by the window close
                raise
            finally:
                span.set_attribute("agentperf.tool.delay_s", time.monotonic() - start)


def agent_tracing(
    run_id: str,
    level: int,
    agent: int,
    *,
    model: str,
    url: str,
    provider: trace.TracerProvider | None = None,
) -> AgentTracing:
    """The hooks for one agent: recording ones if ``provider`` (default: the global) exports."""
    provider = provider or trace.get_tracer_provider()
    if not exporting(provider):
        return AgentTracing()
    tracer = provider.get_tracer(TRACER_NAME, agentperf.__version__)
    return _RecordingAgentTracing(tracer, run_id, level, agent, model=model, url=url)
