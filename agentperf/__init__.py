"""agentperf: how many concurrent AI coding agents an inference deployment holds within an SLO.

Import root of the whole distribution. The repository maps ``services/`` to
``agentperf.services`` and ``loadgen/`` to ``agentperf.loadgen`` (see setup.py).
"""

__version__ = "0.1.0"
