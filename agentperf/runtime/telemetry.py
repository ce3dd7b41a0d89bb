"""OpenTelemetry set-up driven only by the standard OTEL_* variables (no custom switch).

Traces go to an OTLP/gRPC exporter when ``OTEL_TRACES_EXPORTER`` is ``otlp`` (the default
whenever an ``OTEL_EXPORTER_OTLP_*ENDPOINT`` is set) and nowhere otherwise; the propagator is
the SDK default (W3C tracecontext + baggage, or ``OTEL_PROPAGATORS``).
"""

from __future__ import annotations

import logging
import os

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import agentperf

log = logging.getLogger(__name__)
_provider: TracerProvider | None = None


def _exporter_wanted() -> bool:
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    choice = os.environ.get("OTEL_TRACES_EXPORTER")
    if choice is None:
        return bool(
            os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        )
    return choice.strip().lower() == "otlp"


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the process-wide tracer provider once; later calls return the same provider."""
    global _provider
    if _provider is not None:
        return _provider
    resource = Resource.create({"service.name": service_name, "service.version": agentperf.__version__})
    provider = TracerProvider(resource=resource)
    if _exporter_wanted():
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        log.info("tracing: exporting spans over OTLP/gRPC")
    trace.set_tracer_provider(provider)
    _provider = provider
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter so no finished span is lost at exit."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None
