"""``python -m agentperf.sim``: run the simulated inference server."""

from agentperf.sim.server import main

raise SystemExit(main())
