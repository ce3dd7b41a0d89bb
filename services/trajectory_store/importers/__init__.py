"""Import formats of the trajectory store, one module each, all behind :mod:`.base`.

``FORMATS`` maps a format name (the ``ImportChunk.format`` value) to its
:class:`~.base.ImportFormat`. Adding a format = one module + one line in :mod:`.registry`.
"""

from agentperf.services.trajectory_store.importers.base import (
    ImportContext,
    ImportFormat,
    ImportResult,
    Parser,
)
from agentperf.services.trajectory_store.importers.registry import FORMATS, get_format

__all__ = ["FORMATS", "ImportContext", "ImportFormat", "ImportResult", "Parser", "get_format"]
