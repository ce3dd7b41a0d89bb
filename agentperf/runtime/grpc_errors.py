"""The one place where agentperf errors become gRPC status codes, and back.

Servicer methods are wrapped with :func:`grpc_method`: an :class:`AgentperfError` aborts the
call with the mapped status and its message; anything else is logged with its traceback and
answered ``INTERNAL`` so that a bad request never takes the service down.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar, cast

import grpc

from agentperf import errors

log = logging.getLogger(__name__)

_TO_STATUS: tuple[tuple[type[errors.AgentperfError], grpc.StatusCode], ...] = (
    (errors.InputError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFoundError, grpc.StatusCode.NOT_FOUND),
    (errors.ConflictError, grpc.StatusCode.ALREADY_EXISTS),
    (errors.LimitExceededError, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.UnavailableError, grpc.StatusCode.UNAVAILABLE),
)

_FROM_STATUS: dict[grpc.StatusCode, type[errors.AgentperfError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InputError,
    grpc.StatusCode.NOT_FOUND: errors.NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: errors.ConflictError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.LimitExceededError,
    grpc.StatusCode.UNAVAILABLE: errors.UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.UnavailableError,
}


def status_for(exc: errors.AgentperfError) -> grpc.StatusCode:
    for kind, code in _TO_STATUS:
        if isinstance(exc, kind):
            return code
    return grpc.StatusCode.UNKNOWN


def error_from_rpc(exc: grpc.aio.AioRpcError, peer: str) -> errors.AgentperfError:
    """Turn a failed call into the matching AgentperfError, naming the peer service."""
    kind = _FROM_STATUS.get(exc.code(), errors.AgentperfError)
    return kind(f"{peer}: {exc.code().name}: {exc.details()}")


F = TypeVar("F", bound=Callable[..., Any])


async def _abort(context: grpc.aio.ServicerContext, exc: BaseException, name: str) -> None:
    if isinstance(exc, errors.AgentperfError):
        await context.abort(status_for(exc), str(exc))
    log.exception("unexpected error in %s", name, exc_info=exc)
    await context.abort(grpc.StatusCode.INTERNAL, f"internal error in {name} (logged by the service)")


def grpc_method(fn: F) -> F:
    """Wrap a unary / stream-in coroutine or a server-streaming async generator servicer method."""
    name = fn.__qualname__
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def gen_wrapper(
            self: Any, request: Any, context: grpc.aio.ServicerContext
        ) -> AsyncIterator[Any]:
            try:
                async for item in fn(self, request, context):
                    yield item
            except (grpc.aio.AbortError, GeneratorExit):
                raise
            except Exception as exc:
                await _abort(context, exc, name)

        return cast(F, gen_wrapper)

    @functools.wraps(fn)
    async def wrapper(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await cast(Callable[..., Awaitable[Any]], fn)(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, name)

    return cast(F, wrapper)
