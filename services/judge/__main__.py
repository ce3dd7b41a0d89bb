"""``python -m agentperf.services.judge``: run the SLO judge."""

from agentperf.runtime.server import service_main
from agentperf.services.judge.config import JudgeConfig
from agentperf.services.judge.servicer import JudgeService

raise SystemExit(service_main("judge", JudgeConfig, JudgeService))
