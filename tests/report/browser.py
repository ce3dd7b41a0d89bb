"""Open a page in a real headless Chromium and report what its SVG plots drew.

Speaks the Chrome DevTools Protocol over aiohttp's websocket client: no Selenium, no Playwright.
The browser is found on PATH (``chromium`` or ``chromium-browser``, as Debian and Ubuntu name
it), started with a throwaway profile and ``--remote-debugging-port=0`` (it prints the port it
chose on stderr), and always killed, with its whole process group, when done.

    from tests.report.browser import chromium_path, plots_rendered
    page = plots_rendered(Path("report.html"), screenshot=Path("shot.png"))
    page.plot("ttft").marks
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import shutil
import signal
import struct
import tempfile
import zlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

BROWSERS = ("chromium", "chromium-browser")
LAUNCH_TIMEOUT_S = 30.0
STEP_TIMEOUT_S = 20.0
_DEVTOOLS = re.compile(r"DevTools listening on (ws://\S+)")

# Runs in the page. A mark is a drawn data shape (class "mark"); a bound is an error bar; shapes
# counts every circle/rect/path/line/polyline. Drawn means a non-empty bounding box (a straight
# horizontal or vertical line has zero height or width, so either side counts).
_INSPECT_JS = """
(() => {
  const drawn = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 || r.height > 0; };
  const shapes = 'circle, rect, path, line, polyline';
  return Array.from(document.querySelectorAll('svg.plot')).map((svg) => {
    const box = svg.getBoundingClientRect();
    const count = (sel) => Array.from(svg.querySelectorAll(sel)).filter(drawn).length;
    return {
      name: svg.dataset.plot || '',
      width: box.width,
      height: box.height,
      marks: count(['circle', 'rect', 'path', 'line', 'polyline'].map((t) => t + '.mark').join(',')),
      bounds: count('path.bound'),
      shapes: count(shapes),
      title: (svg.querySelector(':scope > title') || {}).textContent || '',
    };
  });
})()
"""


class BrowserError(RuntimeError):
    """Chromium could not be started, or a DevTools step failed or timed out."""


@dataclass(frozen=True)
class PlotRender:
    """What one ``svg.plot`` drew, measured by the browser."""

    name: str
    width: float
    height: float
    marks: int  # data marks (class "mark") with a non-empty bounding box
    bounds: int  # error bars (path.bound) with a non-empty bounding box
    shapes: int  # every drawn circle/rect/path/line/polyline, frame and grid included
    title: str


@dataclass(frozen=True)
class PageRender:
    plots: list[PlotRender]
    title: str
    values: list[Any]  # what each of the caller's ``evaluate`` expressions returned, in order

    def plot(self, name: str) -> PlotRender:
        for p in self.plots:
            if p.name == name:
                return p
        raise KeyError(f"no svg.plot with data-plot={name!r}; the page has {[p.name for p in self.plots]}")


def chromium_path() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def plots_rendered(
    page: Path,
    *,
    screenshot: Path | None = None,
    evaluate: Sequence[str] = (),
    browser: str | None = None,
) -> PageRender:
    """Load ``page`` (a local HTML file) in headless Chromium; measure its plots (blocking).

    From async code call :func:`inspect_page` instead.
    """
    return asyncio.run(inspect_page(page, screenshot=screenshot, evaluate=evaluate, browser=browser))


async def inspect_page(
    page: Path,
    *,
    screenshot: Path | None = None,
    evaluate: Sequence[str] = (),
    browser: str | None = None,
) -> PageRender:
    """Load ``page``, wait for its load event, measure every ``svg.plot``, optionally save a PNG.

    ``evaluate``: further JavaScript expressions to run in the loaded page; their JSON values
    come back in ``PageRender.values``. ``browser``: the executable (default: :func:`chromium_path`).
    """
    exe = browser or chromium_path()
    if exe is None:
        raise BrowserError(f"no Chromium on PATH (looked for {', '.join(BROWSERS)})")
    async with (
        _chromium(exe) as ws_url,
        aiohttp.ClientSession() as http,
        http.ws_connect(ws_url, max_msg_size=0) as ws,
    ):
        cdp = _Cdp(ws)
        target = await cdp.call("Target.createTarget", {"url": "about:blank"})
        attached = await cdp.call("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})
        cdp.session = attached["sessionId"]
        await cdp.call("Page.enable")
        url = (await asyncio.to_thread(page.resolve)).as_uri()
        await cdp.call("Page.navigate", {"url": url})
        await cdp.event("Page.loadEventFired")
        found = await cdp.evaluate(_INSPECT_JS)
        title = await cdp.evaluate("document.title")
        values = [await cdp.evaluate(expression) for expression in evaluate]
        if screenshot is not None:
            await _screenshot(cdp, screenshot)
    plots = [PlotRender(**p) for p in found]
    return PageRender(plots=plots, title=str(title), values=values)


async def _screenshot(cdp: _Cdp, path: Path) -> None:
    metrics = await cdp.call("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
    shot = await cdp.call(
        "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
    )
    await asyncio.to_thread(_save, path, base64.b64decode(shot["data"]))


def _save(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@contextlib.asynccontextmanager
async def _chromium(exe: str) -> AsyncIterator[str]:
    """Start Chromium headless; yield its browser DevTools websocket URL; always kill it."""
    with tempfile.TemporaryDirectory(prefix="agentperf-chromium-") as profile:
        args = [
            "--headless=new",
            "--disable-gpu",
            f"--user-data-dir={profile}",
            "--remote-debugging-port=0",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--hide-scrollbars",
            "--disable-breakpad",
            "--disable-crash-reporter",
            "--window-size=1400,1000",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to start its sandbox as root
        # A session of its own, so the renderer and GPU helpers die with it.
        proc = await asyncio.create_subprocess_exec(
            exe,
            *args,
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        log: list[str] = []
        drain: asyncio.Task[None] | None = None
        try:
            ws_url = await _devtools_url(proc, log)
            assert proc.stderr is not None
            # Keep reading stderr: a full pipe would block the browser.
            drain = asyncio.create_task(_drain(proc.stderr, log))
            yield ws_url
        finally:
            await _kill(proc)
            if drain is not None:
                drain.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await drain


async def _devtools_url(proc: asyncio.subprocess.Process, log: list[str]) -> str:
    assert proc.stderr is not None
    try:
        async with asyncio.timeout(LAUNCH_TIMEOUT_S):
            while line := await proc.stderr.readline():
                text = line.decode(errors="replace").rstrip()
                log.append(text)
                if match := _DEVTOOLS.search(text):
                    return match.group(1)
    except TimeoutError:
        raise BrowserError(
            f"Chromium printed no DevTools address within {LAUNCH_TIMEOUT_S:.0f} s; stderr:\n"
            + "\n".join(log[-20:])
        ) from None
    raise BrowserError(
        f"Chromium exited (code {await proc.wait()}) before it listened; stderr:\n" + "\n".join(log[-20:])
    )


async def _drain(stream: asyncio.StreamReader, log: list[str]) -> None:
    while line := await stream.readline():
        log.append(line.decode(errors="replace").rstrip())
        del log[:-200]


async def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()


class _Cdp:
    """Sequential DevTools calls on one websocket; events that arrive meanwhile are kept."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.session: str | None = None
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if self.session:
            message["sessionId"] = self.session
        await self.ws.send_str(json.dumps(message))
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                while True:
                    reply = await self._receive(method)
                    if reply.get("id") == self.next_id:
                        break
                    if "method" in reply:
                        self.events.append(reply)
        except TimeoutError:
            raise BrowserError(f"DevTools {method} got no answer within {STEP_TIMEOUT_S:.0f} s") from None
        if "error" in reply:
            raise BrowserError(f"DevTools {method} failed: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    async def event(self, method: str) -> dict[str, Any]:
        """Wait for the next ``method`` event of the attached page (one that came already counts)."""
        try:
            async with asyncio.timeout(STEP_TIMEOUT_S):
                while True:
                    for i, ev in enumerate(self.events):
                        if ev.get("method") == method and ev.get("sessionId") == self.session:
                            return self.events.pop(i)
                    self.events.append(await self._receive(method))
        except TimeoutError:
            raise BrowserError(f"the page sent no {method} within {STEP_TIMEOUT_S:.0f} s") from None

    async def evaluate(self, expression: str) -> Any:
        reply = await self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise BrowserError(f"the page's JavaScript failed: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    async def _receive(self, waiting_for: str) -> dict[str, Any]:
        msg = await self.ws.receive()
        if msg.type != aiohttp.WSMsgType.TEXT:
            raise BrowserError(
                f"DevTools connection closed while waiting for {waiting_for} ({msg.type.name})"
            )
        data: dict[str, Any] = json.loads(msg.data)
        return data


@dataclass(frozen=True)
class PngInfo:
    width: int
    height: int
    size_bytes: int
    distinct_bytes: int  # distinct byte values in the decompressed pixels: 1-2 means a blank image


def read_png(path: Path) -> PngInfo:
    """Parse a PNG's header and pixel data; raise ValueError when it is not a valid PNG."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG (bad signature)")
    pos, width, height, idat = 8, 0, 0, b""
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if pos + 12 + length > len(data):
            raise ValueError(f"{path}: chunk {kind!r} runs past the end of the file (truncated)")
        body = data[pos + 8 : pos + 8 + length]
        crc = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])[0]
        if zlib.crc32(kind + body) != crc:
            raise ValueError(f"{path}: chunk {kind!r} has a bad CRC")
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    else:
        raise ValueError(f"{path}: no IEND chunk (truncated)")
    try:
        pixels = zlib.decompress(idat)
    except zlib.error as exc:
        raise ValueError(f"{path}: pixel data does not decompress: {exc}") from None
    if not width or not height:
        raise ValueError(f"{path}: no IHDR chunk")
    return PngInfo(width, height, len(data), len(set(pixels)))
