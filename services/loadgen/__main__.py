"""``python -m agentperf.services.loadgen``: run the load generator."""

from agentperf.runtime.server import service_main
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.loadgen.servicer import LoadGenService

raise SystemExit(service_main("loadgen", LoadGenConfig, LoadGenService))
