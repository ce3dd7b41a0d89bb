"""What the simulator exports: vLLM-style engine metrics and a DCGM-exporter-style power page.

The vLLM metrics live in a registry of their own (never the process-global one), so several
simulators, or a simulator and other services in one test process, never collide. The DCGM page
is written by hand in the exporter's exact layout (HELP/TYPE lines, then one series per GPU),
with ``simulated="true"`` on every series so a power collector can tell it from real hardware.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from agentperf.sim.engine import StepResult
from agentperf.sim.power import PowerReading

# vLLM's own buckets, so dashboards built for vLLM read the simulator unchanged.
TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0)


class VllmMetrics:
    """Engine metrics under vLLM's names, labelled with ``model_name``."""

    def __init__(
        self,
        model_name: str,
        running: Callable[[], float],
        waiting: Callable[[], float],
        kv: Callable[[], float],
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["model_name"]
        r = self.registry

        def gauge(name: str, doc: str, source: Callable[[], float]) -> None:
            Gauge(name, doc, labels, registry=r).labels(model_name).set_function(source)

        gauge("vllm:num_requests_running", "Number of requests in model execution batches.", running)
        gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting)
        gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv)
        self.prefix_queries = Counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            labels,
            registry=r,
        ).labels(model_name)
        self.prefix_hits = Counter(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            labels,
            registry=r,
        ).labels(model_name)
        self.prompt_tokens = Counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", labels, registry=r
        ).labels(model_name)
        self.generation_tokens = Counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", labels, registry=r
        ).labels(model_name)
        self.preemptions = Counter(
            "vllm:num_preemptions", "Cumulative number of preemptions from the engine.", labels, registry=r
        ).labels(model_name)
        self.ttft = Histogram(
            "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", labels,
            registry=r, buckets=TTFT_BUCKETS,
        ).labels(model_name)  # fmt: skip
        self.e2e = Histogram(
            "vllm:e2e_request_latency_seconds", "Histogram of end to end request latency in seconds.", labels,
            registry=r, buckets=LATENCY_BUCKETS,
        ).labels(model_name)  # fmt: skip

    def observe_step(self, result: StepResult) -> None:
        """Count one step's tokens, cache lookups and preemptions."""
        if result.emitted:
            self.generation_tokens.inc(result.emitted_tokens)  # > one per sequence with speculation
        if result.prefix_queried_tokens:
            self.prefix_queries.inc(result.prefix_queried_tokens)
            self.prefix_hits.inc(result.prefix_hit_tokens)
        if result.prefill_tokens:
            self.prompt_tokens.inc(result.prefill_tokens)
        if result.preempted:
            self.preemptions.inc(len(result.preempted))

    def render(self) -> bytes:
        return generate_latest(self.registry)


_DCGM_FIELDS = (
    ("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ)."),
    ("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
)


def dcgm_labels(gpu: int) -> str:
    """The label set of simulated GPU ``gpu``, in the exporter's order, plus ``simulated``."""
    return (
        f'gpu="{gpu}",UUID="GPU-sim-{gpu:04d}-0000-0000-000000000000",pci_bus_id="00000000:{0x10 + gpu:02X}:00.0",'
        f'device="nvidia{gpu}",modelName="agentperf simulated GPU",Hostname="agentperf-sim",simulated="true"'
    )


def render_dcgm(reading: PowerReading, gpus: int) -> str:
    """The exporter page for ``gpus`` identical GPUs at one reading."""
    values = (
        f"{reading.power_w:.6f}",
        str(int(reading.energy_j * 1000.0)),
        str(round(reading.utilisation * 100.0)),
    )
    lines: list[str] = []
    for (name, kind, doc), value in zip(_DCGM_FIELDS, values, strict=True):
        lines.append(f"# HELP {name} {doc}")
        lines.append(f"# TYPE {name} {kind}")
        lines.extend(f"{name}{{{dcgm_labels(gpu)}}} {value}" for gpu in range(gpus))
    return "\n".join(lines) + "\n"
