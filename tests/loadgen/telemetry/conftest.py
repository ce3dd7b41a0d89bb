"""Span collection for the telemetry tests: an in-memory SDK provider for the in-process engine
and a real OTLP/gRPC receiver for the processes (simulator, toolsim, loadgen service).

Spans from both are turned into one plain form (:class:`Seen`) so a test can check parentage
across processes by trace and span id.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2 as otlp_common
from opentelemetry.proto.trace.v1 import trace_pb2 as otlp_trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@dataclass(frozen=True)
class Seen:
    """One finished span, wherever it came from."""

    service: str
    name: str
    kind: str
    trace_id: int
    span_id: int
    parent_id: int  # 0: a root span
    attributes: dict[str, Any]
    error: bool
    links: tuple[int, ...] = ()  # span ids


def _otlp_value(value: otlp_common.AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.endpoint = ""

    async def Export(  # noqa: N802 -- OTLP method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()

    def env(self) -> dict[str, str]:
        """Environment that makes an agentperf process export its spans here."""
        return {"OTEL_EXPORTER_OTLP_ENDPOINT": self.endpoint, "OTEL_EXPORTER_OTLP_INSECURE": "true"}

    def spans(self) -> list[Seen]:
        out = []
        for request in self.requests:
            for rs in request.resource_spans:
                resource = {a.key: _otlp_value(a.value) for a in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for s in ss.spans:
                        out.append(
                            Seen(
                                service=str(resource.get("service.name", "")),
                                name=s.name,
                                kind=otlp_trace.Span.SpanKind.Name(s.kind).removeprefix("SPAN_KIND_"),
                                trace_id=int.from_bytes(s.trace_id, "big"),
                                span_id=int.from_bytes(s.span_id, "big"),
                                parent_id=int.from_bytes(s.parent_span_id, "big") if s.parent_span_id else 0,
                                attributes={a.key: _otlp_value(a.value) for a in s.attributes},
                                error=s.status.code == otlp_trace.Status.STATUS_CODE_ERROR,
                                links=tuple(int.from_bytes(k.span_id, "big") for k in s.links),
                            )
                        )
        return out


def seen_from_sdk(span: ReadableSpan, service: str = "in-process") -> Seen:
    ctx = span.context
    assert ctx is not None
    return Seen(
        service=service,
        name=span.name,
        kind=span.kind.name,
        trace_id=ctx.trace_id,
        span_id=ctx.span_id,
        parent_id=span.parent.span_id if span.parent is not None else 0,
        attributes=dict(span.attributes or {}),
        error=not span.status.is_ok,
        links=tuple(k.context.span_id for k in span.links),
    )


@dataclass
class Memory:
    """An SDK provider exporting to memory, for the engine run in-process."""

    provider: TracerProvider
    exporter: InMemorySpanExporter

    def spans(self) -> list[Seen]:
        return [seen_from_sdk(s) for s in self.exporter.get_finished_spans()]


@pytest.fixture
async def otlp() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    receiver.endpoint = f"http://127.0.0.1:{port}"
    yield receiver
    await server.stop(None)


@pytest.fixture
def memory_spans() -> Memory:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return Memory(provider, exporter)
