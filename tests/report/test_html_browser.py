"""The HTML run report in a real headless Chromium: every plot lays out and draws its marks.

Skips when no Chromium is on PATH, unless REQUIRE_CHROMIUM=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from agentperf.htmlreport import write_html
from tests.report.browser import BrowserError, chromium_path, plots_rendered, read_png

DATA = Path(__file__).parent / "data" / "sample_result.json"
PLOTS = ["ttft", "speed", "max-agents", "power", "throughput"]
HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'


@pytest.fixture(scope="module")
def browser() -> str:
    found = chromium_path()
    if found is None:
        reason = "no chromium or chromium-browser on PATH (apt-get install chromium)"
        if os.environ.get("REQUIRE_CHROMIUM") == "1":
            pytest.fail(f"REQUIRE_CHROMIUM=1 but {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture
def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


def test_every_plot_renders_with_its_marks(browser: str, sample: dict[str, Any], tmp_path: Path) -> None:
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    write_html(sample, page)
    seen = plots_rendered(page, screenshot=shot, browser=browser)
    assert seen.title == f"agentperf run {sample['run_id']}"
    assert [p.name for p in seen.plots] == PLOTS
    for plot in seen.plots:
        assert plot.width > 300 and plot.height > 150, plot
        assert plot.title, plot
    points = sum(len(lvl["verdicts"]) for lvl in sample["levels"])  # one per level and tier
    for name in ("ttft", "speed"):
        assert seen.plot(name).marks >= points
        assert seen.plot(name).bounds >= points
    assert seen.plot("throughput").marks >= len(sample["levels"])
    assert seen.plot("power").marks >= sum(1 for lvl in sample["levels"] if lvl["power_w"] is not None)
    assert seen.plot("max-agents").marks >= sum(1 for t in sample["tiers"] if t["max_agents"])
    png = read_png(shot)
    assert png.width >= 800 and png.height >= 1500, png  # the whole page, not just the viewport
    assert png.size_bytes > 50_000 and png.distinct_bytes > 64, png


def test_an_empty_run_still_lays_out_every_plot(browser: str, tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    write_html({"schema": "agentperf.run/v2", "run_id": "empty"}, page)
    seen = plots_rendered(page, browser=browser)
    assert [p.name for p in seen.plots] == PLOTS
    assert all(p.width > 300 and p.height > 150 and p.marks == 0 for p in seen.plots)


def test_hostile_names_run_no_script(browser: str, sample: dict[str, Any], tmp_path: Path) -> None:
    sample["dataset"]["name"] = HOSTILE
    sample["run_id"] = HOSTILE
    for tier in sample["tiers"]:
        tier["tier"] += HOSTILE
    for lvl in sample["levels"]:
        lvl["verdicts"] = {name + HOSTILE: v for name, v in lvl["verdicts"].items()}
    page = tmp_path / "hostile.html"
    write_html(sample, page)
    seen = plots_rendered(
        page,
        browser=browser,
        evaluate=["typeof window.__pwned", "document.scripts.length", "document.images.length"],
    )
    assert seen.values == ["undefined", 0, 0]
    assert seen.title == f"agentperf run {HOSTILE}"  # shown as text, verbatim
    assert [p.name for p in seen.plots] == PLOTS


def test_a_browser_that_does_not_start_is_a_clear_error(tmp_path: Path) -> None:
    page = tmp_path / "report.html"
    write_html({"schema": "agentperf.run/v2"}, page)
    with pytest.raises(BrowserError, match="exited"):
        plots_rendered(page, browser="/bin/false")


def test_read_png_rejects_what_is_not_a_png(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"<html>not a picture</html>")
    with pytest.raises(ValueError, match="not a PNG"):
        read_png(path)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR")
    with pytest.raises(ValueError):
        read_png(path)
