"""``python -m agentperf.services.trajectory_store``: run the trajectory store."""

from agentperf.runtime.server import service_main
from agentperf.services.trajectory_store.config import TrajectoryStoreConfig
from agentperf.services.trajectory_store.servicer import TrajectoryStoreService

raise SystemExit(service_main("trajectory-store", TrajectoryStoreConfig, TrajectoryStoreService))
