"""The DCGM exporter parser on real captures (/work/shared/data/dcgm) and on the awkward cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from agentperf.errors import InputError
from agentperf.services.power_collector.core import (
    ENERGY_METRIC,
    POWER_METRIC,
    parse_dcgm,
    parse_line,
)

DCGM = Path(__file__).resolve().parents[3] / "shared" / "data" / "dcgm"
if not DCGM.is_dir():
    DCGM = Path("/work/shared/data/dcgm")
H100 = "gpu-node-1/GPU-c4529c8d-69c4-b61d-e0bc-7b2460096005"


def load(name: str) -> str:
    return (DCGM / name).read_text(encoding="utf-8")


def test_h100x8_pod_mapped_without_help_or_type_lines() -> None:
    gpus = parse_dcgm(load("h100x8-vllm-podmapped.prom"))
    assert len(gpus) == 8
    assert sorted(g.gpu for g in gpus.values()) == [str(i) for i in range(8)]
    g0 = gpus[H100]
    assert (g0.power_w, g0.energy_mj) == (113.611, None)
    assert (g0.hostname, g0.model_name) == ("gpu-node-1", "NVIDIA H100 80GB HBM3")
    assert (g0.pod, g0.namespace) == ("vllm-agg-0-vllmdecodeworker-s65j5", "dynamo-workload")
    g7 = gpus["gpu-node-1/GPU-04d228d3-3b5a-3534-f5cf-969706647d56"]
    assert (g7.gpu, g7.power_w, g7.pod) == ("7", 66.997, "")
    assert not any(g.simulated for g in gpus.values())


def test_t4_full_capture_with_help_and_type_lines() -> None:
    gpus = parse_dcgm(load("t4-full.prom"))
    # The capture holds two hosts; only 424773df46e0 exports power and energy series.
    assert list(gpus) == ["424773df46e0/GPU-20c56d28-0da5-6d26-a36a-e7af1ce2586e"]
    (t4,) = gpus.values()
    assert (t4.energy_mj, t4.power_w, t4.model_name) == (128996013.0, 8.969, "Tesla T4")


def test_a100_mig_capture() -> None:
    gpus = parse_dcgm(load("a100-mig.prom"))
    assert list(gpus) == ["ub20-a100-k8s/GPU-34319582-d595-d1c7-d1d2-179bcfa61660"]
    (a100,) = gpus.values()
    assert (a100.energy_mj, a100.power_w, a100.gpu, a100.model_name) == (319159391.0, 409.692, "0", "")


@pytest.mark.parametrize("name", ["h100x8-vllm-podmapped.prom", "t4-full.prom", "a100-mig.prom"])
def test_values_agree_with_prometheus_client_parser(name: str) -> None:
    text = load(name)
    ours = parse_dcgm(text)
    expected: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            # prometheus_client names a counter's samples <name>_total when a TYPE line says counter.
            name = sample.name.removesuffix("_total")
            if name in (ENERGY_METRIC, POWER_METRIC):
                key = f"{sample.labels['Hostname']}/{sample.labels['UUID']}"
                expected.setdefault((key, name), sample.value)
    got = {(k, ENERGY_METRIC): g.energy_mj for k, g in ours.items() if g.energy_mj is not None}
    got.update({(k, POWER_METRIC): g.power_w for k, g in ours.items() if g.power_w is not None})
    assert got == expected and got


def line(metric: str, value: str, **labels: str) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{metric}{{{body}}} {value}\n"


def test_blank_sentinels_and_absurd_values_are_missing() -> None:
    text = (
        line(ENERGY_METRIC, "9223372036854775792", gpu="0", UUID="GPU-a", Hostname="h")
        + line(POWER_METRIC, "140737488355328.000000", gpu="0", UUID="GPU-a", Hostname="h")
        + line(ENERGY_METRIC, "1e15", gpu="1", UUID="GPU-b", Hostname="h")
        + line(POWER_METRIC, "140737488355331", gpu="1", UUID="GPU-b", Hostname="h")
        + line(POWER_METRIC, "NaN", gpu="2", UUID="GPU-c", Hostname="h")
        + line(ENERGY_METRIC, "-5", gpu="2", UUID="GPU-c", Hostname="h")
        + line(ENERGY_METRIC, "140737488355328", gpu="3", UUID="GPU-d", Hostname="h")
    )
    gpus = parse_dcgm(text)
    assert [(g.energy_mj, g.power_w) for g in gpus.values()] == [
        (None, None), (None, None), (None, None), (140737488355328.0, None),
    ]  # fmt: skip


def test_hostname_label_variants_and_exported_pod_labels() -> None:
    text = (
        line(
            POWER_METRIC,
            "100",
            gpu="0",
            UUID="GPU-a",
            hostname="new-style",
            exported_pod="p",
            exported_namespace="ns",
        )
        + line(POWER_METRIC, "200", gpu="0", UUID="GPU-a", Hostname="old-style", pod="q", namespace="ns2")
        + line(POWER_METRIC, "300", gpu="1")
    )
    gpus = parse_dcgm(text, default_host="10.0.0.7:9400")
    assert list(gpus) == ["new-style/GPU-a", "old-style/GPU-a", "10.0.0.7:9400/gpu1"]
    assert (gpus["new-style/GPU-a"].pod, gpus["new-style/GPU-a"].namespace) == ("p", "ns")
    assert (gpus["old-style/GPU-a"].pod, gpus["old-style/GPU-a"].namespace) == ("q", "ns2")
    assert gpus["10.0.0.7:9400/gpu1"].hostname == "10.0.0.7:9400"


def test_repeated_gpu_series_first_usable_value_wins() -> None:
    text = (
        line(POWER_METRIC, "140737488355328", gpu="0", UUID="GPU-a", Hostname="h", pod="a")
        + line(POWER_METRIC, "250.5", gpu="0", UUID="GPU-a", Hostname="h", pod="b")
        + line(POWER_METRIC, "999", gpu="0", UUID="GPU-a", Hostname="h", pod="c")
    )
    (gpu,) = parse_dcgm(text).values()
    assert gpu.power_w == 250.5


def test_mig_instance_series_and_series_of_no_gpu_are_skipped() -> None:
    text = (
        line(POWER_METRIC, "50", gpu="0", UUID="GPU-a", Hostname="h", GPU_I_ID="13", GPU_I_PROFILE="1g.5gb")
        + line(POWER_METRIC, "60", Hostname="h")
        + line(POWER_METRIC, "70", gpu="0", UUID="GPU-a", Hostname="h")
    )
    (gpu,) = parse_dcgm(text).values()
    assert gpu.power_w == 70.0


def test_gpu_filter_by_uuid_or_index() -> None:
    text = load("h100x8-vllm-podmapped.prom")
    by_index = parse_dcgm(text, gpu_filter={"0", "3"})
    assert sorted(g.gpu for g in by_index.values()) == ["0", "3"]
    by_uuid = parse_dcgm(text, gpu_filter={"GPU-04d228d3-3b5a-3534-f5cf-969706647d56"})
    assert [g.gpu for g in by_uuid.values()] == ["7"]


def test_simulated_label_is_carried() -> None:
    text = line(POWER_METRIC, "10", gpu="0", UUID="GPU-s", Hostname="sim", simulated="true")
    assert parse_dcgm(text)["sim/GPU-s"].simulated


def test_label_escapes_timestamps_and_spacing() -> None:
    series = parse_line('DCGM_FI_DEV_POWER_USAGE{ a="x\\"y\\\\z\\n", b="{,}" ,} 12.5 1700000000000')
    assert series.labels == {"a": 'x"y\\z\n', "b": "{,}"}
    assert series.value == 12.5
    assert parse_line("DCGM_FI_DEV_POWER_USAGE 3").labels == {}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0" 5', "expected ',' or '}'"),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0} 5', "unterminated label value"),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0"} five', "not a number"),
        ('DCGM_FI_DEV_POWER_USAGE{gpu="0"}', "expected a value"),
        ('DCGM_FI_DEV_POWER_USAGE{0gpu="0"} 1', "bad label"),
    ],
)
def test_malformed_lines_name_source_and_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        parse_dcgm("# HELP x\n" + text + "\n", source="http://h:9400/metrics")
    assert str(info.value).startswith("http://h:9400/metrics:2")


def test_malformed_lines_of_other_metrics_are_not_read() -> None:
    text = 'DCGM_FI_DEV_GPU_TEMP{gpu="0" oops\n' + line(
        POWER_METRIC, "1", gpu="0", UUID="GPU-a", Hostname="h"
    )
    assert parse_dcgm(text)["h/GPU-a"].power_w == 1.0
