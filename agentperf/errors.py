"""The error tree of agentperf. Every layer raises these; transports map them in one place.

    AgentperfError
    ├── ConfigError            bad configuration (file, key or value named)
    ├── InputError             bad user data: names source, line/record and field
    ├── NotFoundError          a named dataset / run / level / window does not exist
    ├── ConflictError          the thing exists already, or the request contradicts state
    ├── LimitExceededError     a configured size limit was exceeded
    └── UnavailableError       a dependency (peer service, inference server) cannot be reached

``agentperf.runtime.grpc_errors`` maps them to gRPC status codes; the CLI maps them to exit codes.
"""

from __future__ import annotations


class AgentperfError(Exception):
    """Base of every error agentperf raises on purpose."""


class ConfigError(AgentperfError):
    """A configuration file, variable or flag is invalid."""


class InputError(AgentperfError):
    """User-supplied data is malformed. The message names source, line (or record) and field."""

    def __init__(self, message: str, *, source: str = "", line: int | None = None, field: str = "") -> None:
        where = source + (f":{line}" if line is not None else "")
        if field:
            where = f"{where} field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {message}" if where else message)
        self.source = source
        self.line = line
        self.field = field


class NotFoundError(AgentperfError):
    """A named object does not exist."""


class ConflictError(AgentperfError):
    """The request contradicts existing state (for example a dataset of that name exists)."""


class LimitExceededError(AgentperfError):
    """A configured limit (size, count, length) was exceeded."""


class UnavailableError(AgentperfError):
    """A dependency cannot be reached right now; retrying later may succeed."""
