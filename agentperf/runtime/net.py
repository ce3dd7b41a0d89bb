"""Listening sockets for the HTTP servers the services run beside gRPC (simulator, judge API)."""

from __future__ import annotations

import socket

from agentperf.errors import UnavailableError


def bind_tcp(host: str, port: int, what: str) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: a free port), ready for ``listen``.

    ``SO_REUSEADDR``: a restarted service must get its fixed port back while old connections
    sit in TIME_WAIT. A port that cannot be bound is an ``UnavailableError`` naming ``what``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UnavailableError(f"{what}: cannot bind {host}:{port}: {exc.strerror}") from exc
    return sock
