"""``python -m agentperf.services.toolsim``: run the tool-call simulator."""

from agentperf.runtime.server import service_main
from agentperf.services.toolsim.config import ToolSimConfig
from agentperf.services.toolsim.servicer import ToolSimService

raise SystemExit(service_main("toolsim", ToolSimConfig, ToolSimService))
