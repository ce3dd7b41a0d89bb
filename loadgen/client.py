"""OpenAI-compatible streaming chat client on aiohttp: the measuring hot path.

One :class:`ChatClient` (one aiohttp session, connection limit = agent count) serves every
agent of a worker. :meth:`ChatClient.stream` never raises except ``CancelledError``: it
fills an :class:`Exchange` as chunks arrive (so a cancelled request still shows what it had
received) and leaves ``failure`` empty on success or set to a failure class:

``http_<status>``, ``connect_error``, ``connect_timeout``, ``first_token_timeout``,
``idle_timeout``, ``disconnect`` (stream ended without ``[DONE]``, a finish_reason or the
final usage chunk), ``malformed`` (an undecodable event), ``stream_error`` (the server sent
an ``error`` event), ``client_error`` (anything else; logged once).

Only ``time.monotonic()`` is read inside the loop. Each ``data:`` line is decoded once with
the C JSON decoder (its text is needed for the history anyway); other SSE lines are skipped
without decoding. An event is expected on one ``data:`` line, as every OpenAI-compatible
server sends it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)
_logged_unexpected = False


@dataclass(frozen=True)
class ClientSettings:
    """Where and how to send chat requests."""

    target_url: str
    model: str
    engine_profile: str = "vllm"
    api_key: str = field(default="", repr=False)
    connect_timeout_s: float = 10.0
    first_token_timeout_s: float = 120.0
    idle_timeout_s: float = 60.0


class Exchange:
    """One request as seen so far. Times are ``time.monotonic()`` values; 0.0 means "not yet"."""

    __slots__ = (
        "answer",
        "chunks",
        "complete",
        "failure",
        "final_usage",
        "first_chunk_usage",
        "gap_max",
        "http_status",
        "parts",
        "send_unix",
        "t_answer",
        "t_first",
        "t_last",
        "t_send",
        "usage_cached",
        "usage_completion",
        "usage_prompt",
    )

    def __init__(self, t_send: float, send_unix: float) -> None:
        self.t_send = t_send
        self.send_unix = send_unix
        self.t_first = 0.0
        self.t_answer = 0.0
        self.t_last = 0.0
        self.chunks = 0  # token-bearing chunks
        self.gap_max = 0.0  # largest gap between consecutive token-bearing chunks
        self.parts: list[str] = []  # content text (what goes back into the history)
        self.usage_completion = -1
        self.usage_prompt = 0
        self.usage_cached = 0
        self.first_chunk_usage = -1
        self.final_usage = False
        self.answer = False  # [DONE] or a finish_reason seen
        self.http_status = 0
        self.failure = ""
        self.complete = False  # stream() returned (success or failure), not cancelled

    @property
    def text(self) -> str:
        return "".join(self.parts)

    @property
    def output_tokens(self) -> int:
        """usage.completion_tokens when the server reported it, else the token-bearing chunks."""
        return self.usage_completion if self.usage_completion >= 0 else self.chunks

    @property
    def first_chunk_tokens(self) -> int:
        """1 per first chunk, unless usage says otherwise.

        Usage says otherwise when the first token-bearing chunk itself carried usage
        (continuous usage stats), or when the whole answer came in one chunk.
        """
        if not self.t_first:
            return 0
        if self.first_chunk_usage >= 0:
            return self.first_chunk_usage
        if self.chunks == 1 and self.usage_completion >= 0:
            return self.usage_completion
        return 1


class _MalformedError(Exception):
    pass


class _StreamEventError(Exception):
    pass


class ChatClient:
    """Streams chat completions for every agent of one worker over one aiohttp session."""

    def __init__(self, settings: ClientSettings, agents: int) -> None:
        self._url = settings.target_url.rstrip("/") + "/v1/chat/completions"
        self._first_timeout = settings.first_token_timeout_s
        self._idle = settings.idle_timeout_s
        # Re-arming the idle timer on every chunk costs a timer handle each time; re-arming
        # once per 5 % of the idle limit keeps the effective limit within [0.95, 1] x idle.
        self._rearm = settings.idle_timeout_s * 0.05
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if settings.api_key:
            headers["Authorization"] = f"Bearer {settings.api_key}"
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max(1, agents), limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=settings.connect_timeout_s),
            headers=headers,
        )

    @property
    def url(self) -> str:
        """The chat completions endpoint."""
        return self._url

    async def close(self) -> None:
        await self._session.close()

    async def stream(
        self, body: bytes, request_id: str, ex: Exchange, trace_headers: dict[str, str] | None = None
    ) -> None:
        """Send ``body`` and read the stream into ``ex``; sets ``ex.failure`` on failure.

        ``trace_headers`` (W3C ``traceparent`` and the like) are added to the request when given.
        """
        deadline = asyncio.timeout_at(ex.t_send + self._first_timeout)
        headers = {"X-Request-Id": request_id}
        if trace_headers:
            headers.update(trace_headers)
        try:
            async with (
                deadline,
                self._session.post(self._url, data=body, headers=headers) as resp,
            ):
                ex.http_status = resp.status
                if resp.status != 200:
                    ex.failure = f"http_{resp.status}"
                else:
                    await self._read(resp, ex, deadline)
                    if not (ex.answer or ex.final_usage):
                        ex.failure = "disconnect"
        except TimeoutError as exc:
            ex.failure = _timeout_class(exc, ex, deadline.expired())
        except _MalformedError:
            ex.failure = "malformed"
        except _StreamEventError:
            ex.failure = "stream_error"
        except aiohttp.ClientConnectorError:
            ex.failure = "connect_error"
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError):
            ex.failure = "disconnect"
        except aiohttp.ClientOSError:
            ex.failure = "disconnect" if ex.http_status else "connect_error"
        except Exception as exc:
            ex.failure = "client_error"
            _log_unexpected(exc)
        # Not in a finally: a cancelled request must stay incomplete (it becomes CENSORED).
        ex.complete = True

    async def _read(self, resp: aiohttp.ClientResponse, ex: Exchange, deadline: asyncio.Timeout) -> None:
        try:
            async for line in resp.content:
                if line.startswith(b"data:"):
                    self._event(line[5:].strip(), ex, deadline)
        except ValueError as exc:  # a line longer than the reader's buffer
            raise _MalformedError from exc

    def _event(self, data: bytes, ex: Exchange, deadline: asyncio.Timeout) -> None:
        if data == b"[DONE]":
            ex.answer = True
            return
        try:
            event = json.loads(data)
            choices = event.get("choices")
            tokens = False
            if choices:
                choice = choices[0]
                delta = choice.get("delta")
                if delta:
                    tokens = self._delta(delta, ex, deadline)
                if choice.get("finish_reason"):
                    ex.answer = True
            usage = event.get("usage")
            if usage:
                _usage(usage, ex, tokens, not choices)
            if "error" in event:
                raise _StreamEventError
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise _MalformedError from exc

    def _delta(self, delta: dict[str, Any], ex: Exchange, deadline: asyncio.Timeout) -> bool:
        content = delta.get("content")
        if not (
            content or delta.get("reasoning_content") or delta.get("reasoning") or delta.get("tool_calls")
        ):
            return False
        now = time.monotonic()
        if not ex.t_first:
            ex.t_first = now
            deadline.reschedule(now + self._idle)
        else:
            ex.gap_max = max(ex.gap_max, now - ex.t_last)
            if now + self._idle - (deadline.when() or now) > self._rearm:
                deadline.reschedule(now + self._idle)
        ex.t_last = now
        ex.chunks += 1
        if content:
            ex.parts.append(content)
            if not ex.t_answer:
                ex.t_answer = now
        elif not ex.t_answer and delta.get("tool_calls"):
            ex.t_answer = now
        return True


def _usage(usage: dict[str, Any], ex: Exchange, tokens: bool, final: bool) -> None:
    completion = usage.get("completion_tokens")
    if completion is not None:
        ex.usage_completion = int(completion)
        if tokens and ex.chunks == 1:
            ex.first_chunk_usage = int(completion)
    ex.usage_prompt = int(usage.get("prompt_tokens") or 0)
    details = usage.get("prompt_tokens_details")
    if details:
        ex.usage_cached = int(details.get("cached_tokens") or 0)
    if final:
        ex.final_usage = True


def _timeout_class(exc: TimeoutError, ex: Exchange, ours: bool) -> str:
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return "connect_timeout"
    if ours or not isinstance(exc, aiohttp.ClientError):
        return "idle_timeout" if ex.t_first else "first_token_timeout"
    return "client_error"


def _log_unexpected(exc: BaseException) -> None:
    global _logged_unexpected
    if not _logged_unexpected:
        _logged_unexpected = True
        log.warning("unexpected client error (further ones counted as client_error only): %r", exc)
