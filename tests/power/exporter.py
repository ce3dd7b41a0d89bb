"""A fake DCGM exporter for the power tests: a real aiohttp server on loopback.

Every scrape advances each GPU's energy counter by its ``step_mj`` and answers the power given
by ``power_w(hit)``, so a test knows exactly what the collector saw.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class FakeGpu:
    uuid: str
    index: str
    step_mj: float = 0.0
    base_mj: float = 1_000_000_000.0
    power_w: Callable[[int], float] = lambda hit: 100.0


@dataclass
class FakeExporter:
    gpus: list[FakeGpu]
    hostname: str = "fake-node"
    simulated: bool = False
    status: int = 200
    body: str | None = None
    hits: int = 0
    _waiters: list[tuple[int, asyncio.Event]] = field(default_factory=list)
    _runner: web.AppRunner | None = None
    url: str = ""

    def page(self, hit: int) -> str:
        extra = ',simulated="true"' if self.simulated else ""
        lines = []
        for g in self.gpus:
            labels = f'gpu="{g.index}",UUID="{g.uuid}",modelName="Fake GPU",Hostname="{self.hostname}"{extra}'
            energy = g.base_mj + g.step_mj * hit
            lines.append(f"DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{labels}}} {energy:.0f}")
            lines.append(f"DCGM_FI_DEV_POWER_USAGE{{{labels}}} {g.power_w(hit):.6f}")
        return "\n".join(lines) + "\n"

    async def _handle(self, request: web.Request) -> web.Response:
        if self.status != 200:
            return web.Response(status=self.status, text="exporter trouble")
        self.hits += 1
        for target, event in self._waiters:
            if self.hits >= target:
                event.set()
        return web.Response(text=self.body if self.body is not None else self.page(self.hits))

    async def wait_hits(self, target: int, timeout_s: float = 10.0) -> None:
        event = asyncio.Event()
        self._waiters.append((target, event))
        if self.hits >= target:
            event.set()
        await asyncio.wait_for(event.wait(), timeout_s)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/metrics", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}/metrics"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


def closed_port_url() -> str:
    """A loopback URL on which nothing listens (the port was just free)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"
