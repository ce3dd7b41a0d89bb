"""Client cost of the agent-session spans: CPU microseconds per request, tracing off and on.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/loadgen_tracing.py [--requests 20000]

Drives the same hooks an agent calls per request (``agent.turn``, the chat span with its
traceparent and outcome attributes, an ``agent.tool`` span) outside any network I/O, so only
the tracing work is timed (process CPU time, export threads included); ``added_us_per_request``
subtracts the same loop without hooks (record id, header dict):

- ``off``: no exporter (what runtime.telemetry installs without an OTLP endpoint): no spans;
- ``sampled_out``: exporting, but ``OTEL_TRACES_SAMPLER=parentbased_traceidratio`` dropped the
  session: non-recording spans, traceparent still sent;
- ``on``: a BatchSpanProcessor whose exporter encodes every span to OTLP protobuf bytes (what
  the OTLP exporter does before sending), so encoding is counted but no network.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from agentperf.loadgen.records import RecordKey
from agentperf.loadgen.tracing import AgentTracing, agent_tracing
from agentperf.trajectory import ToolCall
from agentperf.v1 import common_pb2


class EncodingExporter(SpanExporter):
    """Encodes spans as the OTLP exporter would, then drops the bytes."""

    def __init__(self) -> None:
        self.spans = 0
        self.bytes = 0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans += len(spans)
        self.bytes += len(encode_spans(spans).SerializeToString())
        return SpanExportResult.SUCCESS


def _baseline(n: int) -> None:
    """What the agent does per request anyway, around the hooks (the reference to subtract)."""
    for i in range(n):
        key = RecordKey("run", 64, 3, 0, "traj", 0, i)
        headers = {"X-Request-Id": key.record_id()}
        headers.update({})


def _requests(hooks: AgentTracing, n: int) -> None:
    tool = ToolCall("bash", "shell", 1.5)
    record = common_pb2.RequestRecord(
        status=common_pb2.REQUEST_STATUS_OK,
        http_status=200,
        prompt_tokens=12000,
        cached_tokens=11000,
        output_tokens=300,
        has_first_token=True,
        ttft_s=0.25,
    )
    with hooks.session():
        for i in range(n):
            key = RecordKey("run", 64, 3, 0, "traj", 0, i)
            with hooks.turn(key, 300):
                chat = hooks.chat()
                headers = {"X-Request-Id": key.record_id()}
                if chat.headers:
                    headers.update(chat.headers)
                chat.end(record)
                with hooks.tool(tool):
                    pass


def _measure(name: str, provider: TracerProvider | None, n: int) -> dict[str, object]:
    exporter = EncodingExporter()
    if provider is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=1 << 20))
    hooks = (
        agent_tracing("run", 64, 3, model="m", url="http://127.0.0.1:8000/v1", provider=provider)
        if provider is not None
        else AgentTracing()
    )
    _requests(hooks, 1000)  # warm-up
    base0 = time.process_time()
    _baseline(n)
    cpu0 = time.process_time()
    baseline = cpu0 - base0
    _requests(hooks, n)
    if provider is not None:
        provider.force_flush()
    cpu = time.process_time() - cpu0
    if provider is not None:
        provider.shutdown()
    return {
        "mode": name,
        "requests": n,
        "cpu_us_per_request": round(cpu / n * 1e6, 2),
        "added_us_per_request": round((cpu - baseline) / n * 1e6, 2),
        "spans_exported": exporter.spans,
        "otlp_bytes_per_request": round(exporter.bytes / (n + 1000), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    modes: list[tuple[str, TracerProvider | None]] = [
        ("off", None),
        ("sampled_out", TracerProvider(sampler=ParentBased(TraceIdRatioBased(0.0)))),
        ("on", TracerProvider()),
    ]
    for name, provider in modes:
        print(json.dumps(_measure(name, provider, args.requests)))


if __name__ == "__main__":
    main()
