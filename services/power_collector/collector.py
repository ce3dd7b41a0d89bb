"""Windows and scraping: the I/O around the pure core.

:class:`MetricsSource` is the seam to the exporters (:class:`HttpMetricsSource` uses aiohttp);
:class:`PowerCollector` owns the open windows and the one background sampling task that runs
while any window is open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import Counter, Gauge

from agentperf.errors import ConflictError, InputError, LimitExceededError, NotFoundError, UnavailableError
from agentperf.services.power_collector.config import PowerCollectorConfig
from agentperf.services.power_collector.core import (
    GpuReading,
    Snapshot,
    WindowPower,
    parse_dcgm,
    window_power,
)

log = logging.getLogger(__name__)

SCRAPES = Counter(
    "agentperf_power_scrapes",
    "Scrapes of DCGM exporter endpoints, by endpoint and outcome.",
    ["endpoint", "outcome"],
)
OPEN_WINDOWS = Gauge("agentperf_power_open_windows", "Measurement windows currently open.")
LAST_WINDOW_POWER = Gauge(
    "agentperf_power_last_window_power_watts", "Total mean GPU power of the most recently closed window."
)


class MetricsSource(Protocol):
    """Fetches one exporter page."""

    async def fetch(self, url: str) -> str:
        """The page's text; UnavailableError naming ``url`` when it cannot be had."""
        ...


class HttpMetricsSource:
    """:class:`MetricsSource` over HTTP (aiohttp), one session for the service's lifetime."""

    def __init__(self, timeout_s: float) -> None:
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def fetch(self, url: str) -> str:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise UnavailableError(f"{url}: HTTP {resp.status} from the exporter")
                return await resp.text()
        except (aiohttp.ClientError, TimeoutError, UnicodeDecodeError) as exc:
            raise UnavailableError(f"{url}: cannot scrape: {type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass
class _Window:
    begin: Snapshot
    samples: list[Snapshot] = field(default_factory=list)


class PowerCollector:
    """Open windows, their snapshots and the sampler that feeds them."""

    def __init__(
        self,
        config: PowerCollectorConfig,
        source: MetricsSource,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._source = source
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._sampler: asyncio.Task[None] | None = None

    @property
    def source_text(self) -> str:
        return ",".join(self.config.endpoints)

    async def snapshot(self) -> Snapshot:
        """Scrape every endpoint concurrently; UnavailableError naming each endpoint that failed."""
        urls = self.config.endpoints
        pages = await asyncio.gather(*(self._source.fetch(u) for u in urls), return_exceptions=True)
        t = self._clock()
        gpus: dict[str, GpuReading] = {}
        failures: list[str] = []
        for url, page in zip(urls, pages, strict=True):
            try:
                gpus.update(self._parse(url, page))
            except UnavailableError as exc:
                SCRAPES.labels(url, "error").inc()
                failures.append(str(exc))
                continue
            SCRAPES.labels(url, "ok").inc()
        if failures:
            raise UnavailableError("; ".join(failures))
        return Snapshot(t, gpus)

    def _parse(self, url: str, page: str | BaseException) -> dict[str, GpuReading]:
        if isinstance(page, BaseException):
            raise page
        try:
            return parse_dcgm(
                page, source=url, default_host=urlsplit(url).netloc, gpu_filter=set(self.config.gpu_filter)
            )
        except InputError as exc:
            raise UnavailableError(f"{url}: unreadable exporter page: {exc}") from exc

    async def begin(self, window_id: str) -> int:
        """Open ``window_id`` with a fresh snapshot; returns the number of GPUs seen."""
        if not window_id.strip():
            raise InputError("must not be empty", source="BeginWindowRequest", field="window_id")
        self._check_new(window_id)
        if len(self._windows) >= self.config.max_open_windows:
            raise LimitExceededError(
                f"{len(self._windows)} windows are open (max_open_windows {self.config.max_open_windows})"
            )
        snap = await self.snapshot()
        self._check_new(window_id)  # another BeginWindow may have opened it while we scraped
        self._windows[window_id] = _Window(snap)
        OPEN_WINDOWS.set(len(self._windows))
        if self.config.endpoints and (self._sampler is None or self._sampler.done()):
            self._sampler = asyncio.get_running_loop().create_task(self._sample_while_open())
        return len(snap.gpus)

    def _check_new(self, window_id: str) -> None:
        if window_id in self._windows:
            raise ConflictError(f"window {window_id!r} is already open")

    async def end(self, window_id: str) -> WindowPower:
        """Close ``window_id`` with a final snapshot. On a failed scrape the window stays open."""
        if window_id not in self._windows:
            raise NotFoundError(f"no open window {window_id!r}")
        snap = await self.snapshot()
        window = self._windows.pop(window_id, None)
        if window is None:
            raise NotFoundError(f"window {window_id!r} was closed by a concurrent EndWindow")
        OPEN_WINDOWS.set(len(self._windows))
        result = window_power(window.begin, window.samples, snap)
        LAST_WINDOW_POWER.set(result.total_mean_power_w)
        return result

    async def _sample_while_open(self) -> None:
        while self._windows:
            await asyncio.sleep(self.config.sample_interval_s)
            if not self._windows:
                return
            try:
                snap = await self.snapshot()
            except UnavailableError as exc:
                # A missed sample only thins the power-sample fallback; EndWindow's scrape decides.
                log.warning("background sample failed: %s", exc)
                continue
            for window in self._windows.values():
                if snap.t > window.begin.t:
                    window.samples.append(snap)

    async def stop(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
            self._sampler = None
