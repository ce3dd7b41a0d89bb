"""The HTML run report without a browser: content, escaping, lenient reading, the CLI, the doc."""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from agentperf.cli import main
from agentperf.htmlreport import Run, auto_scale, render_html, write_html
from agentperf.report import SCHEMA, LevelSummary, RunReport, TierSummary

DATA = Path(__file__).parent / "data" / "sample_result.json"
DOC = Path(__file__).parents[2] / "docs" / "report.md"
PLOTS = ("ttft", "speed", "max-agents", "power", "throughput")
HOSTILE = "<script>alert(1)</script>"
V2_LEVEL_KEYS = ("extensions", "stopped_early", "window_start_unix_s", "window_end_unix_s", "started_unix_s")
V2_VERDICT_KEYS = ("p95_ttft_low_s", "p95_ttft_high_s", "p25_speed_low", "p25_speed_high", "confidence")


@pytest.fixture
def sample() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DATA.read_text())
    return data


def v1_shape(result: dict[str, Any]) -> dict[str, Any]:
    """The sample as a v1-era result.json: none of the keys v2 added."""
    old = copy.deepcopy(result)
    old["schema"] = "agentperf.run/v1"
    for key in ("gpu_seconds", "confidence", "gate", "error"):
        old.pop(key)
    for lvl in old["levels"]:
        for key in (*V2_LEVEL_KEYS, "gpu_seconds"):
            lvl.pop(key)
        for verdict in lvl["verdicts"].values():
            for key in V2_VERDICT_KEYS:
                verdict.pop(key)
    for tier in old["tiers"]:
        tier.pop("inconclusive")
    return old


def svg(page: str, name: str) -> str:
    match = re.search(rf'<svg class="plot" data-plot="{name}".*?</svg>', page, re.S)
    assert match, f"no {name} plot"
    return match.group(0)


def marks(fragment: str) -> int:
    return len(re.findall(r'<(?:circle|rect|path|line|polyline) class="mark', fragment))


def test_every_plot_is_there_in_order_with_title_and_label(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    assert re.findall(r'data-plot="([^"]+)"', page) == list(PLOTS)
    for name in PLOTS:
        plot = svg(page, name)
        assert 'role="img"' in plot
        assert re.search(r'aria-label="[^"]{10,}"', plot)
        assert re.search(r"<title>[^<]{10,}</title>", plot)


def test_sections_come_in_the_documented_order(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    order = [
        page.index(marker) for marker in ("<header>", 'id="answers"', 'id="plots"', 'id="levels"', 'id="run"')
    ]
    assert order == sorted(order)
    assert "<details><summary>Effective configuration</summary>" in page


def test_the_header_and_answer_table_show_the_run(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    header = page[: page.index('id="answers"')]
    for text in ("agentperf run sample", "agentperf-sim", "synthetic-local", "gate: pass", "90% confidence"):
        assert text in header
    answers = page[page.index('id="answers"') : page.index('id="plots"')]
    for tier in ("slo1", "slo2", "slo3"):
        assert tier in answers
    assert "≥32?" in answers  # never failed, level cap hit
    assert "16?" in answers and "inconclusive" in answers
    assert f"{sample['gpu_seconds']:,.1f} GPU-seconds" in answers


def test_thresholds_are_labelled_lines_per_tier(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    ttft, speed = svg(page, "ttft"), svg(page, "speed")
    for tier in sample["tiers"]:
        assert f"{tier['tier']} {tier['max_ttft_s']:g} s</text>" in ttft
        assert f"{tier['tier']} {tier['min_output_speed']:g}</text>" in speed
    assert ttft.count('class="threshold"') == len(sample["tiers"])


def test_one_mark_per_level_and_tier_with_bounds(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    points = sum(len(lvl["verdicts"]) for lvl in sample["levels"])
    for name in ("ttft", "speed"):
        assert marks(svg(page, name)) == points
        assert svg(page, name).count('class="bound"') == points
    assert marks(svg(page, "throughput")) == len(sample["levels"])
    assert marks(svg(page, "power")) == len(sample["levels"])
    bars = sum(1 for t in sample["tiers"] if t["max_agents"])
    failing = sum(1 for t in sample["tiers"] if t["lowest_failing"] is not None)
    assert marks(svg(page, "max-agents")) == bars + failing


def test_verdicts_are_drawn_with_distinct_shapes(sample: dict[str, Any]) -> None:
    ttft = svg(render_html(sample), "ttft")
    # pass: filled circles; fail: crosses (stroke-only paths); inconclusive: white diamonds
    passes = sum(v["verdict"] == "pass" for lvl in sample["levels"] for v in lvl["verdicts"].values())
    assert len(re.findall(r'<circle class="mark"[^>]*r="4.5" fill="#', ttft)) == passes
    assert 'stroke-width="2.2" fill="none"' in ttft
    assert 'Z" stroke=' in ttft and "inconclusive" in ttft


def test_power_is_drawn_over_time_when_windows_are_known(sample: dict[str, Any]) -> None:
    power = svg(render_html(sample), "power")
    assert "seconds since the run started" in power
    assert "(simulated)" in power
    v1 = svg(render_html(v1_shape(sample)), "power")
    assert "measurement order" in v1


def test_a_v1_result_renders_without_bounds(sample: dict[str, Any]) -> None:
    page = render_html(v1_shape(sample))
    assert re.findall(r'data-plot="([^"]+)"', page) == list(PLOTS)
    assert 'class="bound"' not in page
    assert "gate:" not in page
    assert "GPU-seconds not recorded" in page
    assert marks(svg(page, "ttft")) == sum(len(lvl["verdicts"]) for lvl in sample["levels"])


@pytest.mark.parametrize("result", [{}, {"schema": "agentperf.run/v2", "levels": [], "tiers": []}])
def test_zero_levels_still_give_every_plot(result: dict[str, Any]) -> None:
    page = render_html(result)
    assert re.findall(r'data-plot="([^"]+)"', page) == list(PLOTS)
    assert "No level was measured." in page
    assert "no level measured" in svg(page, "ttft")
    assert marks(page) == 0


def test_tiers_from_the_config_when_the_summary_is_missing(sample: dict[str, Any]) -> None:
    sample["tiers"] = []
    sample["levels"] = []
    ttft = svg(render_html(sample), "ttft")
    assert "slo3 3 s</text>" in ttft  # the limits still show


def test_one_level(sample: dict[str, Any]) -> None:
    sample["levels"] = sample["levels"][:1]
    page = render_html(sample)
    assert marks(svg(page, "ttft")) == len(sample["levels"][0]["verdicts"])
    assert "(log scale)" not in svg(page, "ttft")


def test_nulls_infinities_and_wrong_types_do_not_break_it(sample: dict[str, Any]) -> None:
    level = sample["levels"][-1]
    level["verdicts"]["slo3"].update(verdict="fail", p95_ttft_s=None, p95_ttft_high_s=None)
    level["verdicts"]["slo2"].update(p25_output_speed=float("nan"), ttft_samples="many")
    level.update(power_w=None, output_tokens_per_s=float("inf"), extensions=None, level="x")
    sample["tiers"][0].update(agents_per_mw=None, max_agents=None, converged=None)
    sample["started_unix_s"] = None
    page = render_html(sample)
    ttft = svg(page, "ttft")
    assert "∞ (too many failed requests)" in ttft  # an unbounded P95 sits at the top edge
    assert "TTFT ∞" in page[page.index('id="levels"') :]
    assert marks(svg(page, "power")) == len(sample["levels"]) - 1
    assert "NaN" not in page and "nan " not in page


def test_concurrency_axis_is_logarithmic_over_a_wide_span(sample: dict[str, Any]) -> None:
    assert "(log scale)" in svg(render_html(sample), "ttft")  # 4 .. 32
    narrow = copy.deepcopy(sample)
    narrow["levels"] = [lvl for lvl in narrow["levels"] if lvl["level"] in (16, 24, 32)]
    assert "(log scale)" not in svg(render_html(narrow), "ttft")
    assert auto_scale([1, 100], 0, 100, span=8, zero=True).log
    assert not auto_scale([0, 100], 0, 100, span=8, zero=True).log


def test_a_zero_lower_bound_keeps_the_ttft_axis_logarithmic(sample: dict[str, Any]) -> None:
    """The judge reports a lower bound that does not exist yet as 0."""
    sample["levels"][0]["verdicts"]["slo1"]["p95_ttft_low_s"] = 0.0
    ttft = svg(render_html(sample), "ttft")
    assert ">0.02</text>" in ttft and ">0.05</text>" in ttft  # 1-2-5 ticks of a log axis


def test_hostile_strings_are_escaped_everywhere(sample: dict[str, Any]) -> None:
    attr = '" onmouseover="alert(2)'
    sample["run_id"] = HOSTILE
    sample["dataset"]["name"] = HOSTILE
    sample["dataset"]["source"] = attr
    sample["target"] = HOSTILE
    sample["tool_model"] = HOSTILE
    sample["error"] = HOSTILE
    sample["gate"] = {"status": attr, "rules": [HOSTILE], "reasons": [{"x": HOSTILE}]}
    sample["config"]["note"] = HOSTILE
    sample["versions"][HOSTILE] = HOSTILE
    for tier in sample["tiers"]:
        tier["tier"] = tier["tier"] + HOSTILE
    for lvl in sample["levels"]:
        lvl["invalid_reason"] = HOSTILE
        lvl["extensions"] = HOSTILE  # not a number: read as 0
        lvl["verdicts"] = {name + HOSTILE: {**v, "reason": attr} for name, v in lvl["verdicts"].items()}
    page = render_html(sample)
    assert "<script" not in page
    assert "onmouseover=" not in page.replace("&quot; onmouseover=&quot;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "The run failed: &lt;script&gt;" in page


def test_the_page_loads_nothing_from_anywhere(sample: dict[str, Any]) -> None:
    page = render_html(sample)
    assert not re.search(r"""\b(?:src|href|xlink:href|action)\s*=\s*["']?\s*(?:[a-z]+:)?//""", page, re.I)
    assert not re.search(r"\b(?:src|href)\s*=", page, re.I)
    for banned in ("<script", "<link", "<img", "<iframe", "@import", "url(", "@font-face"):
        assert banned not in page.lower()


def test_write_html_is_atomic_and_readable(sample: dict[str, Any], tmp_path: Path) -> None:
    out = tmp_path / "deep" / "report.html"
    write_html(sample, out)
    assert out.read_text(encoding="utf-8") == render_html(sample)
    assert out.stat().st_mode & 0o444 == 0o444
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]


def test_render_is_deterministic(sample: dict[str, Any]) -> None:
    assert render_html(sample) == render_html(copy.deepcopy(sample))


def test_cli_writes_report_next_to_the_result(sample: dict[str, Any], tmp_path: Path, capsys: Any) -> None:
    result = tmp_path / "run" / "result.json"
    result.parent.mkdir()
    result.write_text(json.dumps(sample))
    assert main(["report", str(result)]) == 0
    written = tmp_path / "run" / "report.html"
    assert written.read_text(encoding="utf-8") == render_html(sample)
    assert capsys.readouterr().out.strip() == str(written)
    elsewhere = tmp_path / "out" / "page.html"
    assert main(["report", str(result), "--html", str(elsewhere)]) == 0
    assert elsewhere.is_file()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ('{"schema": "agentperf.run/v2", ', "not valid JSON"),
        ("[1, 2]", "not an agentperf run result"),
        ('{"levels": []}', "not an agentperf run result"),
    ],
)
def test_cli_bad_file_is_a_clear_error(
    tmp_path: Path, capsys: Any, content: str | None, message: str
) -> None:
    path = tmp_path / "result.json"
    if content is not None:
        path.write_text(content)
    assert main(["report", str(path)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err
    assert "Traceback" not in err
    assert not (tmp_path / "report.html").exists()


def test_cli_as_a_process_exits_2_without_a_traceback(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    done = subprocess.run(
        [sys.executable, "-m", "agentperf.cli", "report", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert str(missing) in done.stderr and "Traceback" not in done.stderr


def test_sample_data_is_a_v2_result_the_report_module_can_load(sample: dict[str, Any]) -> None:
    """The test data keeps up with RunReport: every field of the dataclasses is in it."""
    assert sample["schema"] == SCHEMA
    assert {f.name for f in dataclasses.fields(RunReport)} <= set(sample)
    for lvl in sample["levels"]:
        assert {f.name for f in dataclasses.fields(LevelSummary)} <= set(lvl)
        for verdict in lvl["verdicts"].values():
            assert set(V2_VERDICT_KEYS) <= set(verdict)
    for tier in sample["tiers"]:
        assert {f.name for f in dataclasses.fields(TierSummary)} <= set(tier)
    assert len(Run.parse(sample).levels) == len(sample["levels"])


def test_the_doc_names_every_result_key() -> None:
    doc = DOC.read_text(encoding="utf-8")
    for cls in (RunReport, LevelSummary, TierSummary):
        missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in doc]
        assert not missing, f"docs/report.md does not describe {cls.__name__} keys {missing}"
    for key in ("verdict", "p95_ttft_s", "p25_output_speed", "ttft_samples", "speed_samples", "reason"):
        assert f"`{key}`" in doc
    for key in V2_VERDICT_KEYS:
        assert f"`{key}`" in doc
