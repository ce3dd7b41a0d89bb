"""OTel set-up from the standard OTEL_* variables: a service exports its server spans over OTLP."""

from __future__ import annotations

from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.v1 import judge_pb2, judge_pb2_grpc


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """A real OTLP/gRPC trace receiver that keeps what it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []

    async def Export(  # noqa: N802 -- OTLP method name
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        return trace_service_pb2.ExportTraceServiceResponse()


async def test_service_exports_server_spans_to_otlp_endpoint(tmp_path: Path) -> None:
    receiver = Receiver()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
        "OTEL_EXPORTER_OTLP_INSECURE": "true",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test",
    }
    args = ["--set", "http_port=0", "--set", f"db_path={tmp_path / 'judge.db'}"]
    child = await start_child("judge", "agentperf.services.judge", args, log_dir=tmp_path, env=env)
    try:
        async with channel(child.grpc_target) as ch:
            await judge_pb2_grpc.JudgeStub(ch).GetRunStats(judge_pb2.GetRunStatsRequest(run_id="r1"))
    finally:
        assert await child.stop() == 0  # shutdown flushes the batch processor
        await server.stop(None)
    spans = []
    for request in receiver.requests:
        for rs in request.resource_spans:
            attrs = {a.key: a.value.string_value for a in rs.resource.attributes}
            spans += [(attrs, s) for ss in rs.scope_spans for s in ss.spans]
    names = [s.name for _, s in spans]
    assert "/agentperf.v1.Judge/GetRunStats" in names, names
    attrs = spans[names.index("/agentperf.v1.Judge/GetRunStats")][0]
    assert attrs["service.name"] == "agentperf-judge"
    assert attrs["deployment.environment"] == "test"
