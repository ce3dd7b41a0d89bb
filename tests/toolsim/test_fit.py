"""Fitting tool delays to recorded durations: the draws match the recording, the fall-back rules hold."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from agentperf.errors import InputError
from agentperf.services.toolsim.config import ClassModel, ToolSimConfig
from agentperf.services.toolsim.core import ToolModel
from agentperf.services.toolsim.fit import DurationCollector, Empirical, fit_durations, lognormal_mle

DRAWS = 10_000


def recorded_p50_p90(sample: list[float]) -> tuple[float, float]:
    return statistics.median(sample), statistics.quantiles(sample, n=10, method="inclusive")[8]


def drawn(model: ToolModel, tool_class: str) -> list[float]:
    return [model.draw(f"run/agent-{i}/turn", tool_class).modelled_s for i in range(DRAWS)]


def fitted_model(durations: dict[str, list[float]], **config: object) -> ToolModel:
    fit = fit_durations(durations, dataset="ds", min_fit_samples=20)
    return ToolModel(ToolSimConfig(model="fitted", **config)).with_fit(fit)


def heavy_tailed(n: int, seed: int) -> list[float]:
    """Mostly sub-second calls with a Pareto tail (alpha 1.1) reaching minutes."""
    rng = random.Random(seed)
    return [
        0.2 * rng.paretovariate(1.1) if rng.random() < 0.7 else rng.lognormvariate(0.5, 1.2) for _ in range(n)
    ]


@pytest.mark.parametrize("sample_name", ["openhands_shell", "heavy_tailed"])
def test_fitted_median_and_p90_match_the_recorded_ones(
    sample_name: str, request: pytest.FixtureRequest
) -> None:
    sample = (
        request.getfixturevalue("openhands_shell")
        if sample_name == "openhands_shell"
        else heavy_tailed(3000, 5)
    )
    draws = drawn(fitted_model({"shell": sample}), "shell")
    p50, p90 = recorded_p50_p90(sample)
    d50, d90 = recorded_p50_p90(draws)
    assert d50 == pytest.approx(p50, rel=0.10)
    assert d90 == pytest.approx(p90, rel=0.10)
    # The whole shape, not just two points: at every recorded decile the share of draws below it
    # is within 3 points of the recorded share; the support is the recorded one.
    deciles = statistics.quantiles(sample, n=10, method="inclusive")
    for k, x in enumerate(deciles, start=1):
        assert sum(d <= x for d in draws) / DRAWS == pytest.approx(k / 10, abs=0.03)
    assert min(sample) <= min(draws) and max(draws) <= max(sample)


def test_openhands_shell_sample_is_what_the_data_readme_states(openhands_shell: list[float]) -> None:
    # /work/shared/data/README.md: "shell p50 0.6 s, tail 265 s"; the fit keeps that tail.
    assert len(openhands_shell) == 49
    assert statistics.median(openhands_shell) == pytest.approx(0.615, abs=0.001)
    assert max(openhands_shell) == pytest.approx(265.46, abs=0.01)
    report = fitted_model({"shell": openhands_shell}).report()
    shell = next(c for c in report.classes if c.tool_class == "shell")
    assert (shell.model, shell.fit_source, shell.samples, shell.class_samples) == ("fitted", "class", 49, 49)
    assert shell.p50_s == pytest.approx(statistics.median(openhands_shell), rel=1e-9)
    assert shell.distribution == "fitted(dataset=ds,class=shell,n=49)"


def test_inverse_cdf_interpolates_log_linearly_between_order_statistics() -> None:
    dist = Empirical([4.0, 1.0, 16.0])
    assert [dist.quantile(q) for q in (0.0, 0.25, 0.5, 0.75, 1.0)] == pytest.approx(
        [1.0, 2.0, 4.0, 8.0, 16.0]
    )
    assert Empirical([3.0]).quantile(0.9) == 3.0
    assert Empirical([0.0, 2.0, 8.0]).samples == 2  # 0 means "not recorded"
    with pytest.raises(ValueError, match="at least one positive"):
        Empirical([0.0])


def test_fall_back_rules() -> None:
    rng = random.Random(1)
    shell = [rng.lognormvariate(0, 1) for _ in range(20)]  # exactly min_fit_samples: its own fit
    read = [5.0] * 19  # one short: pooled
    fit = fit_durations({"shell": shell, "read": read}, dataset="d", min_fit_samples=20)
    classes = fit.classes
    assert (classes["shell"].source, classes["shell"].samples) == ("class", 20)
    assert (classes["read"].source, classes["read"].samples, classes["read"].class_samples) == (
        "pooled",
        39,
        19,
    )
    assert (classes["edit"].source, classes["edit"].samples, classes["edit"].class_samples) == (
        "pooled",
        39,
        0,
    )
    assert classes["edit"].distribution is classes["read"].distribution

    model = ToolModel(ToolSimConfig(model="fitted")).with_fit(fit)
    assert model.draw("k", "read").model == "fitted(dataset=d,pooled,n=39)"
    assert model.draw("k", "shell").model == "fitted(dataset=d,class=shell,n=20)"

    # Fewer than min_fit_samples even pooled, nothing recorded, or no fit installed: the lognormal.
    for few in (
        fit_durations({"shell": shell[:19]}, dataset="d", min_fit_samples=20),
        fit_durations({}, dataset="d", min_fit_samples=20),
    ):
        assert {c.source for c in few.classes.values()} == {"none"}
        assert ToolModel(ToolSimConfig(model="fitted")).with_fit(few).draw("k", "shell").model == (
            "lognormal(median=1.0s,sigma=0.8)"
        )
    assert (
        ToolModel(ToolSimConfig(model="fitted")).draw("k", "shell").model
        == "lognormal(median=1.0s,sigma=0.8)"
    )


def test_a_fit_only_changes_classes_whose_model_uses_it() -> None:
    fit = fit_durations({"shell": [2.0] * 30}, dataset="d", min_fit_samples=20)
    config = ToolSimConfig(
        model="fitted", classes={"read": ClassModel(model="lognormal"), "test": ClassModel(model="recorded")}
    )
    model = ToolModel(config).with_fit(fit)
    assert model.draw("k", "shell").modelled_s == 2.0
    assert model.draw("k", "read").model == "lognormal(median=1.0s,sigma=0.8)"
    assert (model.draw("k", "test", 7.0).model, model.draw("k", "test", 7.0).modelled_s) == ("recorded", 7.0)
    assert model.draw("k", "edit").model == "fitted(dataset=d,pooled,n=30)"


def test_fitted_draws_are_deterministic_per_key_and_capped() -> None:
    sample = heavy_tailed(500, 9)
    a = fitted_model({"test": sample}, seed=3, max_delay_s=4.0)
    b = fitted_model({"test": sample}, seed=3, max_delay_s=4.0)
    draws = [a.draw(f"k{i}", "test") for i in range(300)]
    assert draws == [b.draw(f"k{i}", "test") for i in range(300)]
    assert max(d.modelled_s for d in draws) == 4.0 and any(d.capped for d in draws)
    assert all(d.capped == (d.modelled_s == 4.0) for d in draws)


def test_lognormal_mle_recovers_known_parameters() -> None:
    rng = random.Random(2)
    sample = [rng.lognormvariate(0.3, 0.7) for _ in range(20_000)]
    fit = lognormal_mle(sample)
    assert fit is not None
    assert fit.mu == pytest.approx(0.3, abs=0.02) and fit.sigma == pytest.approx(0.7, abs=0.02)
    assert fit.samples == 20_000
    exact = lognormal_mle([1.0, math.e**2])  # logs 0 and 2: mean 1, MLE sigma 1 (divides by n)
    assert exact is not None and exact.mu == pytest.approx(1.0) and exact.sigma == pytest.approx(1.0)
    assert lognormal_mle([0.0]) is None


def test_report_states_the_fit_per_class_and_in_one_summary_line(openhands_shell: list[float]) -> None:
    model = fitted_model(
        {"shell": openhands_shell}, classes={"edit": ClassModel(model="lognormal", median_s=0.5)}
    )
    report = model.report()
    shell = next(c for c in report.classes if c.tool_class == "shell")
    mle = lognormal_mle(openhands_shell)
    assert mle is not None and (shell.lognormal_mu, shell.lognormal_sigma) == (mle.mu, mle.sigma)
    assert (report.dataset, report.recorded_durations) == ("ds", 49)
    pooled = next(c for c in report.classes if c.tool_class == "read")
    assert (pooled.p50_s, pooled.p90_s) == (shell.p50_s, shell.p90_s)  # one sample behind both
    figures = f"p50={shell.p50_s:.3g}s p90={shell.p90_s:.3g}s"
    assert report.summary == (
        f"tool model: read,search,test,other=fitted(dataset=ds,pooled,n=49) {figures}; "
        "edit=lognormal(median=0.5s,sigma=0.8) p50=0.5s p90=1.39s; "
        f"shell=fitted(dataset=ds,class=shell,n=49) {figures}"
        " | fitted to dataset 'ds': 49 recorded durations of 0 tool calls, min_fit_samples=20"
        " | cap 300s, max_concurrent unlimited, seed 0"
    )


def test_default_summary() -> None:
    assert ToolModel(ToolSimConfig(time_scale=0.5)).report().summary == (
        "tool model: all classes=lognormal(median=1.0s,sigma=0.8) p50=1s p90=2.79s"
        " | cap 300s, max_concurrent unlimited, seed 0, time_scale 0.5 (tool gaps scaled)"
    )


def test_collector_counts_calls_and_rejects_bad_values() -> None:
    collector = DurationCollector("mine")
    collector.add("shell", 1.5, "trajectory 't' phases[0].turns[0].tool")
    collector.add("", 0.0, "trajectory 't' phases[0].turns[1].tool")  # no class: other; 0: unknown duration
    assert (collector.tool_calls, collector.durations["shell"], collector.durations["other"]) == (
        2,
        [1.5],
        [],
    )
    with pytest.raises(
        InputError, match=r"dataset 'mine' trajectory 't' phases\[0\].turns\[2\].tool field 'tool_class'"
    ):
        collector.add("network", 1.0, "trajectory 't' phases[0].turns[2].tool")
    with pytest.raises(InputError, match="field 'recorded_duration_s': must be a finite number"):
        collector.add("shell", float("inf"), "x")
