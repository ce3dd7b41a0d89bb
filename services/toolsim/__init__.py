"""toolsim: models an agent's tool call; nothing from a request or a trajectory is ever executed.

Per tool class the duration is a seeded lognormal draw, the call's recorded duration, a draw
from a distribution fitted to a dataset's recorded durations (``FitFromDataset``), or a task
from a fixed CPU catalogue sized to take a drawn time on the reference CPU. Modules:
``core`` (the pure tool model), ``fit`` (distributions and fitting, pure), ``catalogue`` (the
CPU tasks), ``calibrate`` (seconds per unit of work on a machine), ``servicer`` (gRPC, the
store client and the process pool). See docs/toolsim.md.
"""
