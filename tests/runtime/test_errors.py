"""Error messages name where the problem is; the gRPC mapping is one table, both ways."""

from __future__ import annotations

import grpc
import pytest

from agentperf import errors
from agentperf.runtime.grpc_errors import status_for


@pytest.mark.parametrize(
    ("kwargs", "text"),
    [
        ({"source": "t.jsonl", "line": 3, "field": "turns[0]"}, "t.jsonl:3 field 'turns[0]': bad"),
        ({"source": "t.jsonl", "line": 3}, "t.jsonl:3: bad"),
        ({"field": "key"}, "field 'key': bad"),
        ({}, "bad"),
    ],
)
def test_input_error_names_source_line_and_field(kwargs: dict[str, object], text: str) -> None:
    assert str(errors.InputError("bad", **kwargs)) == text  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (errors.InputError("x"), grpc.StatusCode.INVALID_ARGUMENT),
        (errors.NotFoundError("x"), grpc.StatusCode.NOT_FOUND),
        (errors.ConflictError("x"), grpc.StatusCode.ALREADY_EXISTS),
        (errors.LimitExceededError("x"), grpc.StatusCode.RESOURCE_EXHAUSTED),
        (errors.UnavailableError("x"), grpc.StatusCode.UNAVAILABLE),
        (errors.AgentperfError("x"), grpc.StatusCode.UNKNOWN),
    ],
)
def test_status_mapping(exc: errors.AgentperfError, code: grpc.StatusCode) -> None:
    assert status_for(exc) == code
