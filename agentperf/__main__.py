"""``python -m agentperf`` is the ``agentperf`` command."""

import sys

from agentperf.cli import main

sys.exit(main())
