"""gRPC face of the power collector: protobuf <-> collector calls, and the Service object."""

from __future__ import annotations

import grpc

from agentperf.runtime.grpc_errors import grpc_method
from agentperf.services.power_collector.collector import HttpMetricsSource, PowerCollector
from agentperf.services.power_collector.config import PowerCollectorConfig
from agentperf.services.power_collector.core import WindowPower
from agentperf.v1 import common_pb2, power_pb2, power_pb2_grpc


def window_to_proto(window_id: str, power: WindowPower, source: str) -> common_pb2.PowerWindow:
    return common_pb2.PowerWindow(
        window_id=window_id,
        duration_s=power.duration_s,
        gpus=[
            common_pb2.GpuPower(
                gpu=g.reading.gpu,
                uuid=g.reading.uuid,
                hostname=g.reading.hostname,
                model_name=g.reading.model_name,
                mean_power_w=g.mean_power_w,
                energy_j=g.energy_j,
                method=g.method,
            )
            for g in power.gpus
        ],
        total_mean_power_w=power.total_mean_power_w,
        simulated=power.simulated,
        source=source,
    )


class PowerCollectorServicer(power_pb2_grpc.PowerCollectorServicer):
    """BeginWindow / EndWindow over one :class:`PowerCollector`."""

    def __init__(self, collector: PowerCollector) -> None:
        self._collector = collector

    @grpc_method
    async def BeginWindow(  # noqa: N802 -- gRPC method name
        self, request: power_pb2.BeginWindowRequest, context: grpc.aio.ServicerContext
    ) -> power_pb2.BeginWindowResponse:
        return power_pb2.BeginWindowResponse(gpus=await self._collector.begin(request.window_id))

    @grpc_method
    async def EndWindow(  # noqa: N802 -- gRPC method name
        self, request: power_pb2.EndWindowRequest, context: grpc.aio.ServicerContext
    ) -> common_pb2.PowerWindow:
        power = await self._collector.end(request.window_id)
        return window_to_proto(request.window_id, power, self._collector.source_text)


class PowerCollectorService:
    """The power collector as the bootstrap sees it (see agentperf.runtime.server.Service)."""

    def __init__(self, config: PowerCollectorConfig) -> None:
        self.config = config
        self._source = HttpMetricsSource(config.scrape_timeout_s)
        self.collector = PowerCollector(config, self._source)

    def register(self, server: grpc.aio.Server) -> list[str]:
        power_pb2_grpc.add_PowerCollectorServicer_to_server(PowerCollectorServicer(self.collector), server)
        return [power_pb2.DESCRIPTOR.services_by_name["PowerCollector"].full_name]

    async def start(self) -> None:
        """Nothing to open: the HTTP session starts with the first scrape."""

    async def stop(self) -> None:
        await self.collector.stop()
        await self._source.close()
