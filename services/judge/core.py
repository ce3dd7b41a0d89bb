"""The judge's pure core: per-tier samples, nearest-rank quantiles and verdicts.

No gRPC and no I/O: the servicer converts each ``RequestRecord`` to a :class:`Record` and
calls :func:`evaluate_level`. The rules (docs/measurement.md states them for users):

* only records with ``in_window`` count; warm-up records are held but never judged;
* OK (and CENSORED with a first token): TTFT = ``ttft_s``; speed = tokens after the first
  chunk / ``first_to_last_s``, only with at least ``min_speed_tokens`` such tokens and a
  positive duration, otherwise the request is in the TTFT sample only;
* FAILED, and OK without any token: a violation, TTFT = +inf and speed = 0;
* CENSORED without a first token: a violation for a tier whose ``max_ttft_s`` it already
  waited past (``waited_s > max_ttft_s``), otherwise absent from that tier's samples;
* P95 TTFT and P25 speed are nearest-rank: the ceil(p/100 * n)-th smallest value.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

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


@dataclass(frozen=True, slots=True)
class Samples:
    """One tier's samples, each sorted ascending."""

    ttft: tuple[float, ...]
    speed: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class TierResult:
    tier: Tier
    verdict: Verdict
    p95_ttft_s: float
    p25_output_speed: float
    ttft_samples: int
    speed_samples: int
    reason: str


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


def tier_samples(records: Iterable[Record], tier: Tier, min_speed_tokens: int) -> Samples:
    """The TTFT and speed samples of ``tier`` over in-window ``records``."""
    ttft: list[float] = []
    speed: list[float] = []
    for record in records:
        t, s = contribution(record, tier, min_speed_tokens)
        if t is not None:
            ttft.append(t)
        if s is not None:
            speed.append(s)
    return Samples(tuple(sorted(ttft)), tuple(sorted(speed)))


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4g}"


def judge_samples(tier: Tier, samples: Samples, rules: Rules) -> TierResult:
    """Apply nearest-rank P95 TTFT and P25 speed to ``samples`` and give the tier's verdict."""
    n_ttft, n_speed = len(samples.ttft), len(samples.speed)
    p95 = nearest_rank(samples.ttft, TTFT_PERCENT) if n_ttft else 0.0
    p25 = nearest_rank(samples.speed, SPEED_PERCENT) if n_speed else 0.0

    def result(verdict: Verdict, reason: str) -> TierResult:
        return TierResult(tier, verdict, p95, p25, n_ttft, n_speed, reason)

    if n_ttft < rules.min_samples:
        return result(
            Verdict.INSUFFICIENT, f"{n_ttft} TTFT samples, fewer than min_samples {rules.min_samples}"
        )
    ttft_text = f"P95 TTFT {_fmt(p95)} s {'>' if p95 > tier.max_ttft_s else '<='} {_fmt(tier.max_ttft_s)} s"
    failed = [ttft_text] if p95 > tier.max_ttft_s else []
    if n_speed == 0:
        if failed:
            return result(Verdict.FAIL, failed[0])
        return result(
            Verdict.INSUFFICIENT,
            f"{ttft_text}; no speed samples (no request had >= {rules.min_speed_tokens} tokens "
            "after its first chunk)",
        )
    low = p25 < tier.min_output_speed
    speed_text = f"P25 speed {_fmt(p25)} tok/s {'<' if low else '>='} {_fmt(tier.min_output_speed)} tok/s"
    if low:
        failed.append(speed_text)
    if failed:
        return result(Verdict.FAIL, "; ".join(failed))
    return result(Verdict.PASS, f"{ttft_text}; {speed_text}")


def evaluate_tier(window_records: Sequence[Record], tier: Tier, rules: Rules) -> TierResult:
    """The verdict of one tier over the in-window records of a level."""
    return judge_samples(tier, tier_samples(window_records, tier, rules.min_speed_tokens), rules)


def _last_seen(record: Record) -> float:
    """Wall-clock time the client last heard of ``record`` (send time plus what it waited)."""
    if record.has_first_token:
        return record.send_unix_s + record.ttft_s + record.first_to_last_s
    if record.status is Status.CENSORED:
        return record.send_unix_s + record.waited_s
    return record.send_unix_s


def derived_window_s(window_records: Sequence[Record]) -> float:
    """Span from the first in-window send to the last token (or wait) of any in-window record."""
    if not window_records:
        return 0.0
    start = min(r.send_unix_s for r in window_records)
    return max(_last_seen(r) for r in window_records) - start


def output_tokens_per_s(window_records: Sequence[Record], window_s: float = 0.0) -> float:
    """Output tokens of the in-window records over ``window_s`` (derived from the records when 0)."""
    span = window_s if window_s > 0 else derived_window_s(window_records)
    if span <= 0:
        return 0.0
    return sum(r.output_tokens for r in window_records) / span


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

    ``note`` (for example "incomplete: ...") is put in front of every tier's reason.
    """
    window = [r for r in records if r.in_window]
    results = []
    for tier in tiers:
        res = evaluate_tier(window, tier, rules)
        if note:
            res = replace(res, reason=f"{note}; {res.reason}")
        results.append(res)
    return LevelResult(
        run_id=run_id,
        level=level,
        tiers=tuple(results),
        records_total=len(records),
        records_window=len(window),
        failed=sum(1 for r in window if r.status is Status.FAILED),
        censored=sum(1 for r in window if r.status is Status.CENSORED),
        output_tokens_per_s=output_tokens_per_s(window, window_s),
    )
