"""Configuration of the power-collector service."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, field_validator

from agentperf.config import ServiceConfig


class PowerCollectorConfig(ServiceConfig):
    """power-collector settings: which exporters to scrape, how often and for which GPUs."""

    endpoints: list[str] = Field(
        default_factory=list,
        description=(
            "URLs of DCGM exporter /metrics endpoints (the exporter serves http://<node>:9400/metrics). "
            "Empty: no power source; windows report no GPUs."
        ),
    )
    scrape_timeout_s: float = Field(5.0, gt=0, description="Seconds one scrape of one endpoint may take.")
    sample_interval_s: float = Field(
        1.0, gt=0, description="Seconds between background scrapes while any window is open."
    )
    gpu_filter: list[str] = Field(
        default_factory=list,
        description="GPU UUIDs or indices (the exporter's gpu label) to include; empty includes every GPU.",
    )
    max_open_windows: int = Field(
        64, ge=1, description="Open windows at most; BeginWindow beyond it fails with RESOURCE_EXHAUSTED."
    )

    @field_validator("endpoints")
    @classmethod
    def _http_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an http(s) URL: {url!r}")
        if len(set(value)) != len(value):
            raise ValueError("endpoints must not repeat")
        return value
