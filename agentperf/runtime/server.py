"""Service bootstrap: one way to start, report, probe and stop every agentperf gRPC service.

A service is a small object (see :class:`Service`) that registers its servicers and owns
its resources. :func:`service_main` turns it into a process:

* config: the service's strict model, from ``--config`` / env / ``--set`` (agentperf.config);
* a grpc.aio server with standard health checking (``grpc.health.v1``) and reflection;
* a Prometheus ``/metrics`` endpoint;
* OpenTelemetry from OTEL_* variables, with gRPC server spans;
* a ready line on stdout, ``{"event": "ready", "service": ..., "grpc_port": ..., "metrics_port": ...}``,
  so a parent that asked for port 0 learns the real ports without racing for them;
* graceful shutdown on SIGTERM / SIGINT: health turns NOT_SERVING, in-flight RPCs get
  ``shutdown_grace_s``, then the service's own ``stop`` runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor
from prometheus_client import start_http_server

from agentperf.config import ServiceConfig
from agentperf.errors import AgentperfError
from agentperf.runtime.entry import config_from_argv, setup_logging
from agentperf.runtime.telemetry import setup_tracing, shutdown_tracing

log = logging.getLogger(__name__)

# Trajectories with real text can be large; the default 4 MiB would reject them.
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = (
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
)


class Service(Protocol):
    """What a service provides to the bootstrap."""

    def register(self, server: grpc.aio.Server) -> list[str]:
        """Add servicers to ``server``; return their full names (for health and reflection)."""
        ...

    async def start(self) -> None:
        """Acquire resources (open stores, start background tasks) before serving."""
        ...

    async def stop(self) -> None:
        """Release resources after the server stopped; must not lose acknowledged data.

        Optional: ``ready_fields() -> Mapping[str, Any]`` adds keys (such as ``http_port``) to the
        ready line, for listeners the service opens itself in ``start``.
        """
        ...


def channel(target: str) -> grpc.aio.Channel:
    """A client channel with the shared options and trace-context propagation."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS, interceptors=aio_client_interceptors())  # type: ignore[no-untyped-call]


@contextlib.asynccontextmanager
async def in_process(service: Service) -> AsyncIterator[grpc.aio.Channel]:
    """Serve ``service`` on a free loopback port inside this process; yield a channel to it.

    For tests and embedding: the same servicers as the process, without health, reflection,
    metrics or signal handling. Everything is stopped on exit, the service last.
    """
    await service.start()
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    service.register(server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with channel(f"127.0.0.1:{port}") as ch:
            yield ch
    finally:
        await server.stop(0)
        await service.stop()


def _ready_line(name: str, grpc_port: int, metrics_port: int, extra: Mapping[str, Any]) -> None:
    line = {"event": "ready", "service": name, "grpc_port": grpc_port, "metrics_port": metrics_port, **extra}
    sys.stdout.write(json.dumps(line) + "\n")
    sys.stdout.flush()


async def serve(
    name: str, config: ServiceConfig, service: Service, stop_event: asyncio.Event | None = None
) -> None:
    """Run ``service`` until SIGTERM/SIGINT (or ``stop_event``), then shut down gracefully."""
    setup_tracing(f"agentperf-{name}")
    await service.start()
    tracing = aio_server_interceptor()  # type: ignore[no-untyped-call]
    server = grpc.aio.server(interceptors=[tracing], options=CHANNEL_OPTIONS)
    names = service.register(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    grpc_port = server.add_insecure_port(f"{config.host}:{config.port}")
    if grpc_port == 0:
        raise AgentperfError(f"{name}: cannot bind gRPC port {config.host}:{config.port}")
    await server.start()
    metrics_port = -1
    metrics_server = None
    if config.metrics_port >= 0:
        metrics_server, _thread = start_http_server(config.metrics_port, addr=config.host)
        metrics_port = metrics_server.server_port
    for full in ["", *names]:
        await health_servicer.set(full, health_pb2.HealthCheckResponse.SERVING)
    stop = stop_event or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    log.info("%s serving gRPC on %s:%d, metrics on %d", name, config.host, grpc_port, metrics_port)
    # A service with more listeners than gRPC and metrics (the judge's HTTP API) reports their
    # bound ports through an optional ``ready_fields()``.
    extra = getattr(service, "ready_fields", None)
    _ready_line(name, grpc_port, metrics_port, extra() if callable(extra) else {})
    try:
        await stop.wait()
    finally:
        log.info("%s shutting down", name)
        await health_servicer.enter_graceful_shutdown()
        await server.stop(config.shutdown_grace_s)
        await service.stop()
        if metrics_server is not None:
            metrics_server.shutdown()
        shutdown_tracing()


def service_main(
    name: str,
    model: type[ServiceConfig],
    factory: Callable[[Any], Service],
    argv: Sequence[str] | None = None,
) -> int:
    """Entry point of ``python -m agentperf.services.<name>``; returns the exit code."""
    config = config_from_argv(name, model, argv)
    if isinstance(config, int):
        return config
    setup_logging(name, config.log_level, config)
    try:
        asyncio.run(serve(name, config, factory(config)))
    except AgentperfError as exc:
        print(f"agentperf-{name}: {exc}", file=sys.stderr)
        return 2
    return 0
