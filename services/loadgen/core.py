"""Pure bookkeeping of the loadgen service: one level at a time, and totals per run."""

from __future__ import annotations

from dataclasses import dataclass

from agentperf.errors import ConflictError, NotFoundError
from agentperf.loadgen.level import LevelResult


class LevelGate:
    """Admits one level at a time; a second concurrent one is a ConflictError."""

    def __init__(self) -> None:
        self.holder = ""

    def acquire(self, what: str) -> None:
        if self.holder:
            raise ConflictError(f"loadgen is busy with {self.holder}; it runs one level at a time")
        self.holder = what

    def release(self) -> None:
        self.holder = ""


@dataclass
class RunTotals:
    requests_sent: int = 0
    records_delivered: int = 0
    failed: int = 0
    censored: int = 0
    levels: int = 0


class RunBook:
    """Totals of every level this loadgen ran, per run id."""

    def __init__(self) -> None:
        self._runs: dict[str, RunTotals] = {}

    def add(self, run_id: str, result: LevelResult) -> None:
        totals = self._runs.setdefault(run_id, RunTotals())
        totals.requests_sent += result.counters.requests_sent
        totals.records_delivered += result.delivery.delivered
        totals.failed += result.counters.failed
        totals.censored += result.counters.censored
        totals.levels += 1

    def totals(self, run_id: str) -> RunTotals:
        try:
            return self._runs[run_id]
        except KeyError:
            raise NotFoundError(f"run {run_id!r}: this loadgen ran no level of it") from None
