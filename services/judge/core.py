"""The judge's pure core: records, tiers, rules, each record's contribution and verdict types.

No gRPC and no I/O: the servicer converts each ``RequestRecord`` to a :class:`Record`; the
records of a level are folded into mergeable sketches (``stats.LevelAggregate``) and judged
with confidence bounds (``stats.evaluate_aggregate``). The rules (docs/measurement.md states
them for users):

* only records with ``in_window`` count; warm-up records are held but never judged;
* OK (and CENSORED with a first token): TTFT = ``ttft_s``; speed = tokens after the first
  chunk / ``first_to_last_s``, only with at least ``min_speed_tokens`` such tokens and a
  positive duration, otherwise the request is in the TTFT sample only;
* FAILED, and OK without any token: a violation, TTFT = +inf and speed = 0;
* CENSORED without a first token: a violation for a tier whose ``max_ttft_s`` it already
  waited past (``waited_s > max_ttft_s``), otherwise absent from that tier's samples;
* P95 TTFT and P25 speed are nearest-rank: the ceil(p/100 * n)-th smallest value, with
  one-sided distribution-free bounds at ``Rules.confidence``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from agentperf.errors import InputError

INF = math.inf
TTFT_PERCENT = 95
SPEED_PERCENT = 25


class Status(enum.IntEnum):
    """Mirrors ``agentperf.v1.RequestStatus`` (same numbers)."""

    UNSPECIFIED = 0
    OK = 1
    FAILED = 2
    CENSORED = 3


class Verdict(enum.IntEnum):
    """Mirrors ``agentperf.v1.Verdict`` (same numbers)."""

    PASS = 1
    FAIL = 2
    INSUFFICIENT = 3
    INCONCLUSIVE = 4


@dataclass(frozen=True, slots=True)
class Record:
    """The part of a ``RequestRecord`` the judge needs."""

    record_id: str
    run_id: str
    level: int
    status: Status
    in_window: bool
    send_unix_s: float = 0.0
    has_first_token: bool = False
    ttft_s: float = 0.0
    ttfa_s: float = 0.0
    first_to_last_s: float = 0.0
    output_tokens: int = 0
    first_chunk_tokens: int = 0
    waited_s: float = 0.0
    shard: int = 0


@dataclass(frozen=True, slots=True)
class Tier:
    name: str
    min_output_speed: float
    max_ttft_s: float


@dataclass(frozen=True, slots=True)
class Rules:
    """Sample rules shared by every tier (from the service config)."""

    min_samples: int = 20
    min_speed_tokens: int = 2
    # One-sided confidence of the bounds a verdict needs (stats.evaluate_tier).
    confidence: float = 0.9
    relative_accuracy: float = 0.01


@dataclass(frozen=True, slots=True)
class TierResult:
    tier: Tier
    verdict: Verdict
    p95_ttft_s: float
    p25_output_speed: float
    ttft_samples: int
    speed_samples: int
    reason: str
    p95_ttft_low_s: float = 0.0
    p95_ttft_high_s: float = INF
    p25_speed_low: float = 0.0
    p25_speed_high: float = INF
    confidence: float = 0.0


@dataclass(frozen=True, slots=True)
class LevelResult:
    run_id: str
    level: int
    tiers: tuple[TierResult, ...]
    records_total: int
    records_window: int
    failed: int
    censored: int
    output_tokens_per_s: float


_DURATIONS = ("ttft_s", "ttfa_s", "first_to_last_s", "waited_s", "send_unix_s")
_COUNTS = ("output_tokens", "first_chunk_tokens")


def record_problem(record: Record) -> tuple[str, str] | None:
    """The first invalid field of ``record`` as (field, what is wrong), or None when it is valid."""
    if not record.record_id.strip():
        return "record_id", "must not be empty"
    if not record.run_id.strip():
        return "run_id", "must not be empty"
    if record.level <= 0:
        return "level", f"must be > 0, got {record.level}"
    if record.status is Status.UNSPECIFIED:
        return "status", "must be OK, FAILED or CENSORED"
    for name in _DURATIONS:
        value = getattr(record, name)
        if not math.isfinite(value) or value < 0:
            return name, f"must be a finite number >= 0, got {value}"
    for name in _COUNTS:
        if getattr(record, name) < 0:
            return name, f"must be >= 0, got {getattr(record, name)}"
    return None


def validate_tiers(tiers: Sequence[Tier], *, source: str) -> None:
    """Raise InputError naming ``tiers[i].<field>`` for a non-positive bound or a repeated name."""
    seen: set[str] = set()
    for i, tier in enumerate(tiers):
        if not tier.name.strip():
            raise InputError("must not be empty", source=source, field=f"tiers[{i}].name")
        if tier.name in seen:
            raise InputError(f"repeats tier {tier.name!r}", source=source, field=f"tiers[{i}].name")
        seen.add(tier.name)
        for field in ("min_output_speed", "max_ttft_s"):
            value = getattr(tier, field)
            if not (math.isfinite(value) and value > 0):
                raise InputError(
                    f"must be a finite number > 0, got {value}", source=source, field=f"tiers[{i}].{field}"
                )


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """The ceil(percent/100 * n)-th smallest of ``sorted_values`` (ascending, non-empty).

    Integer arithmetic keeps the rank exact: 0.95 * 60 in floating point is 56.99999999999999.
    """
    n = len(sorted_values)
    if n == 0:
        raise ValueError("nearest_rank of an empty sample")
    if not 0 < percent <= 100:
        raise ValueError(f"percent must be in (0, 100], got {percent}")
    rank = -(-percent * n // 100)
    return sorted_values[rank - 1]


def request_speed(record: Record, min_speed_tokens: int) -> float | None:
    """Tokens after the first chunk per second after the first token; None when too few to say."""
    tokens = record.output_tokens - record.first_chunk_tokens
    if tokens < min_speed_tokens or record.first_to_last_s <= 0:
        return None
    return tokens / record.first_to_last_s


def contribution(record: Record, tier: Tier, min_speed_tokens: int) -> tuple[float | None, float | None]:
    """(TTFT, speed) this in-window record adds to ``tier``'s samples; None leaves it out."""
    if record.status is Status.FAILED:
        return INF, 0.0
    if record.has_first_token:
        return record.ttft_s, request_speed(record, min_speed_tokens)
    if record.status is Status.CENSORED:
        # Still waiting at window end: only a wait already past the limit is known to violate.
        return (INF, 0.0) if record.waited_s > tier.max_ttft_s else (None, None)
    # OK without a single token: the user never saw a first token, so it cannot count as served.
    return INF, 0.0


def last_seen_unix_s(record: Record) -> float:
    """Wall-clock time the client last heard of ``record`` (send time plus what it waited)."""
    if record.has_first_token:
        return record.send_unix_s + record.ttft_s + record.first_to_last_s
    if record.status is Status.CENSORED:
        return record.send_unix_s + record.waited_s
    return record.send_unix_s


def evaluate_level(
    run_id: str,
    level: int,
    records: Sequence[Record],
    tiers: Sequence[Tier],
    rules: Rules,
    *,
    window_s: float = 0.0,
    note: str = "",
) -> LevelResult:
    """Judge every tier over ``records`` (all records held for the level, warm-up included).

    One aggregate of the records, judged by ``stats.evaluate_aggregate``. ``note`` (for example
    "incomplete: ...") is put in front of every tier's reason.
    """
    # stats imports this module; importing it here keeps the dependency one way at import time.
    from agentperf.services.judge import stats

    agg = stats.aggregate(records, rules)
    return stats.evaluate_aggregate(run_id, level, agg, tiers, rules, window_s=window_s, note=note)
