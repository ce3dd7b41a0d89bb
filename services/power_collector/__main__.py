"""``python -m agentperf.services.power_collector``: run the power collector."""

from agentperf.runtime.server import service_main
from agentperf.services.power_collector.config import PowerCollectorConfig
from agentperf.services.power_collector.servicer import PowerCollectorService

raise SystemExit(service_main("power-collector", PowerCollectorConfig, PowerCollectorService))
