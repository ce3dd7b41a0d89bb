"""``python -m agentperf.services.loadgen``: run the load generator."""

from agentperf.runtime.server import service_main
from agentperf.services.loadgen.config import LoadGenConfig
from agentperf.services.loadgen.servicer import LoadGenService

# Guarded although multiprocessing's spawn skips package __main__ modules: a worker process
# must never start a second service.
if __name__ == "__main__":
    raise SystemExit(service_main("loadgen", LoadGenConfig, LoadGenService))
