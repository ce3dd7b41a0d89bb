"""Mergeable level statistics: sketches per (run, level, shard), confidence bounds, verdicts.

The judge keeps no raw samples: each (run, level, shard) has one :class:`LevelAggregate`
(counters, two DDSketch quantile sketches and the exact sorted list of censored waits).
Aggregates of shards and of repeated measurements merge by addition, so a merge equals one
aggregate of all records. Verdicts come from the merged aggregate with distribution-free
confidence bounds (docs/measurement.md, "Confidence"):

* PASS: the upper bound of P95 TTFT <= max_ttft_s and the lower bound of P25 speed >= min speed;
* FAIL: the lower bound of P95 TTFT > max_ttft_s or the upper bound of P25 speed < min speed;
* INCONCLUSIVE: neither (the interval straddles a bound, or there is no speed sample): measure
  longer;
* INSUFFICIENT: fewer than ``rules.min_samples`` TTFT samples.

The bounds are order statistics of the sample: with n samples and quantile p, the number of
samples below the true quantile is Binomial(n, p), which gives the ranks of
:func:`rank_bounds` whatever the distribution.
"""

from __future__ import annotations

import bisect
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from agentperf.errors import InputError
from agentperf.services.judge.core import (
    INF,
    SPEED_PERCENT,
    TTFT_PERCENT,
    LevelResult,
    Record,
    Rules,
    Status,
    Tier,
    TierResult,
    Verdict,
    last_seen_unix_s,
    request_speed,
)
from agentperf.services.judge.sketch import DDSketch, sketch_from_proto
from agentperf.v1 import judge_pb2

_COUNTERS = ("records_total", "records_window", "failed", "no_token", "censored", "output_tokens")


@dataclass
class LevelAggregate:
    """Everything kept for one (run, level, shard); see ``agentperf.v1.LevelAggregate``.

    ``censored_waits_s`` is kept sorted, so equal content compares equal whatever the order the
    records (or shards) came in.
    """

    ttft: DDSketch
    speed: DDSketch
    records_total: int = 0
    records_window: int = 0
    failed: int = 0
    no_token: int = 0
    censored: int = 0
    censored_waits_s: list[float] = field(default_factory=list)
    output_tokens: int = 0
    first_send_unix_s: float = 0.0
    last_seen_unix_s: float = 0.0

    @classmethod
    def empty(cls, relative_accuracy: float = 0.01) -> LevelAggregate:
        return cls(DDSketch(relative_accuracy), DDSketch(relative_accuracy))

    @property
    def relative_accuracy(self) -> float:
        return self.ttft.relative_accuracy

    def add(self, record: Record, rules: Rules) -> None:
        """Fold one record in (the caller guarantees it is new: idempotency is the store's job)."""
        self.records_total += 1
        if not record.in_window:
            return
        self._widen(record.send_unix_s, last_seen_unix_s(record))
        self.records_window += 1
        self.output_tokens += record.output_tokens
        if record.status is Status.CENSORED:
            self.censored += 1
        if record.status is Status.FAILED:
            self.failed += 1
        elif record.has_first_token:
            self.ttft.add(record.ttft_s)
            speed = request_speed(record, rules.min_speed_tokens)
            if speed is not None:
                self.speed.add(speed)
        elif record.status is Status.CENSORED:
            bisect.insort(self.censored_waits_s, record.waited_s)
        else:
            # OK without a single token: the user never saw a first token.
            self.no_token += 1

    def _widen(self, first_send: float, last_seen: float) -> None:
        """Stretch the time span over [first_send, last_seen]; call before counting the window."""
        if self.records_window == 0:
            self.first_send_unix_s, self.last_seen_unix_s = first_send, last_seen
        else:
            self.first_send_unix_s = min(self.first_send_unix_s, first_send)
            self.last_seen_unix_s = max(self.last_seen_unix_s, last_seen)

    def merge(self, other: LevelAggregate) -> None:
        """Add ``other`` into this aggregate (commutative, associative; ValueError on other accuracy)."""
        if other.relative_accuracy != self.relative_accuracy:
            raise ValueError(
                f"cannot merge aggregates of accuracy {self.relative_accuracy} and {other.relative_accuracy}"
            )
        self.ttft.merge(other.ttft)
        self.speed.merge(other.speed)
        if other.records_window:
            self._widen(other.first_send_unix_s, other.last_seen_unix_s)
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.censored_waits_s = sorted(self.censored_waits_s + other.censored_waits_s)

    def copy(self) -> LevelAggregate:
        out = LevelAggregate.empty(self.relative_accuracy)
        out.merge(self)
        return out

    def to_proto(self) -> judge_pb2.LevelAggregate:
        return judge_pb2.LevelAggregate(
            records_total=self.records_total,
            records_window=self.records_window,
            failed=self.failed,
            no_token=self.no_token,
            censored=self.censored,
            censored_waits_s=self.censored_waits_s,
            output_tokens=self.output_tokens,
            first_send_unix_s=self.first_send_unix_s,
            last_seen_unix_s=self.last_seen_unix_s,
            ttft=self.ttft.to_proto(),
            speed=self.speed.to_proto(),
        )

    @classmethod
    def from_proto(cls, msg: judge_pb2.LevelAggregate) -> LevelAggregate:
        """The aggregate in ``msg``; InputError naming the field when it is malformed or inconsistent."""
        source = "LevelAggregate"
        for name in ("ttft", "speed"):
            if not msg.HasField(name):
                raise InputError("is missing", source=source, field=name)
        ttft = sketch_from_proto(msg.ttft, source=source, prefix="ttft.")
        speed = sketch_from_proto(msg.speed, source=source, prefix="speed.")
        if speed.relative_accuracy != ttft.relative_accuracy:
            raise InputError(
                f"is {speed.relative_accuracy} but ttft.relative_accuracy is {ttft.relative_accuracy}",
                source=source,
                field="speed.relative_accuracy",
            )
        agg = cls(ttft, speed, censored_waits_s=sorted(msg.censored_waits_s))
        for name in _COUNTERS:
            value = getattr(msg, name)
            if value < 0:
                raise InputError(f"must be >= 0, got {value}", source=source, field=name)
            setattr(agg, name, value)
        for name in ("first_send_unix_s", "last_seen_unix_s"):
            value = getattr(msg, name)
            if not (math.isfinite(value) and value >= 0):
                raise InputError(f"must be a finite number >= 0, got {value}", source=source, field=name)
            setattr(agg, name, value)
        problem = agg._consistency_problem()
        if problem is not None:
            raise InputError(problem[1], source=source, field=problem[0])
        return agg

    def _consistency_problem(self) -> tuple[str, str] | None:
        """(field, message) when the counters cannot come from one set of records."""
        waits = self.censored_waits_s
        if any(not (math.isfinite(w) and w >= 0) for w in waits):
            return "censored_waits_s", "must hold finite numbers >= 0"
        if self.speed.count > self.ttft.count:
            return "speed", f"holds {self.speed.count} values, more than ttft's {self.ttft.count}"
        if self.censored < len(waits):
            return "censored", f"is {self.censored}, fewer than the {len(waits)} censored waits"
        parts = self.failed + self.no_token + self.ttft.count + len(waits)
        if self.records_window != parts:
            return "records_window", (
                f"is {self.records_window} but failed + no_token + ttft.count + censored waits = {parts}"
            )
        if self.records_total < self.records_window:
            return (
                "records_total",
                f"is {self.records_total}, fewer than records_window {self.records_window}",
            )
        if self.censored > self.records_window - self.failed - self.no_token:
            return "censored", f"is {self.censored}, more than the records that could be censored"
        return None

    def output_tokens_per_s(self, window_s: float = 0.0) -> float:
        """Output tokens over ``window_s``, or over first send to last seen when it is 0."""
        span = window_s if window_s > 0 else self.last_seen_unix_s - self.first_send_unix_s
        if span <= 0 or self.records_window == 0:
            return 0.0
        return self.output_tokens / span


def aggregate(records: Sequence[Record], rules: Rules) -> LevelAggregate:
    """One aggregate of ``records`` (warm-up included: it only counts in records_total)."""
    agg = LevelAggregate.empty(rules.relative_accuracy)
    for record in records:
        agg.add(record, rules)
    return agg


def merged(aggregates: Sequence[LevelAggregate], relative_accuracy: float = 0.01) -> LevelAggregate:
    """A new aggregate equal to all of ``aggregates`` merged (an empty one for none).

    The accuracy is the aggregates' own (ValueError when they differ); ``relative_accuracy``
    only sets the accuracy of the empty aggregate returned for none.
    """
    if not aggregates:
        return LevelAggregate.empty(relative_accuracy)
    out = LevelAggregate.empty(aggregates[0].relative_accuracy)
    for agg in aggregates:
        out.merge(agg)
    return out


# --- confidence bounds ---------------------------------------------------------------------

# The binomial mass further than this many standard deviations (plus a fixed pad, for tiny
# variances) from the mean is below 1e-26 (Bernstein's inequality), far under any 1 - confidence.
_TAIL_SDS = 12.0
_TAIL_PAD = 40
# Rounding slack of the summed CDF when it is compared with the confidence.
_TIE = 1e-12


def _check_args(percent: int, confidence: float) -> None:
    if not 0 < percent < 100:
        raise ValueError(f"percent must be in 1..99, got {percent}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _binomial_cdf(n: int, p: float) -> tuple[int, list[float]]:
    """(k0, F) with F[i] = P(Binomial(n, p) <= k0 + i) over the window where the mass is.

    Below k0 the CDF is negligibly above 0 and past the window negligibly below 1. Terms are
    exp(log pmf) with log-gamma, which stays accurate for n in the millions.
    """
    mean, sd = n * p, math.sqrt(n * p * (1.0 - p))
    k0 = max(0, math.floor(mean - _TAIL_SDS * sd) - _TAIL_PAD)
    k1 = min(n, math.ceil(mean + _TAIL_SDS * sd) + _TAIL_PAD)
    log_p, log_q, log_n = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    lgamma = math.lgamma
    cdf: list[float] = []
    total = 0.0
    for k in range(k0, k1 + 1):
        total += math.exp(log_n - lgamma(k + 1) - lgamma(n - k + 1) + k * log_p + (n - k) * log_q)
        cdf.append(total)
    return k0, cdf


@functools.lru_cache(maxsize=4096)
def _rank_bounds(n: int, percent: int, confidence: float) -> tuple[int | None, int | None]:
    if n <= 0:
        return None, None
    k0, cdf = _binomial_cdf(n, percent / 100)
    # high: smallest u with P(B <= u - 1) >= confidence. The definitions include equality, which
    # rounding must not break (n = 1, p = 0.95, confidence = 0.95 is an exact tie): allow _TIE.
    i = bisect.bisect_left(cdf, confidence - _TIE)
    high = k0 + i + 1
    # low: largest l with P(B >= l) >= confidence, i.e. P(B <= l - 1) <= 1 - confidence.
    j = bisect.bisect_right(cdf, 1.0 - confidence + _TIE)
    low = min(k0 + j, n)
    return (low if low >= 1 else None), (high if high <= n else None)


def rank_bounds(n: int, percent: int, confidence: float) -> tuple[int | None, int | None]:
    """One-sided order-statistic ranks (1-based) bounding the ``percent`` quantile of n samples.

    (low, high): the true quantile is >= the low-th smallest with probability >= confidence, and
    <= the high-th smallest with probability >= confidence. None where n is too small for that.
    Cached: the verdict of every tier of every level asks.
    """
    _check_args(percent, confidence)
    return _rank_bounds(n, percent, confidence)


def bound_samples_needed(percent: int, confidence: float) -> tuple[int, int]:
    """Fewest samples for the lower bound and for the upper bound of ``rank_bounds`` to exist.

    The upper bound X_(n) needs P(B <= n - 1) = 1 - p**n >= confidence; the lower bound X_(1)
    needs 1 - (1 - p)**n >= confidence. The closed forms are checked against rank_bounds.
    """
    _check_args(percent, confidence)
    return _bound_samples_needed(percent, confidence)


@functools.lru_cache(maxsize=64)
def _bound_samples_needed(percent: int, confidence: float) -> tuple[int, int]:
    p = percent / 100
    found = []
    for side, base in ((0, 1.0 - p), (1, p)):
        n = max(1, math.ceil(math.log1p(-confidence) / math.log(base)))
        while n > 1 and _rank_bounds(n - 1, percent, confidence)[side] is not None:
            n -= 1
        while _rank_bounds(n, percent, confidence)[side] is None:
            n += 1
        found.append(n)
    return found[0], found[1]


def samples_needed(percent: int, confidence: float) -> int:
    """Fewest samples for which both bounds of ``rank_bounds`` exist."""
    return max(bound_samples_needed(percent, confidence))


# --- verdicts ------------------------------------------------------------------------------


def _rank(n: int, percent: int) -> int:
    """Nearest rank ceil(percent/100 * n) in integer arithmetic (see core.nearest_rank)."""
    return -(-percent * n // 100)


def _fmt(value: float) -> str:
    return "inf" if math.isinf(value) else f"{value:.4g}"


def _pct(confidence: float) -> str:
    return f"{confidence * 100:.4g}%"


@dataclass(frozen=True, slots=True)
class _Estimate:
    """A quantile's point estimate and bounds against one limit."""

    label: str
    unit: str
    n: int
    point: float
    low: float
    high: float
    limit: float
    at_most: bool  # True: the quantile must be <= limit (TTFT); False: >= limit (speed)

    def state(self) -> Verdict:
        if self.at_most:
            if self.low > self.limit:
                return Verdict.FAIL
            return Verdict.PASS if self.high <= self.limit else Verdict.INCONCLUSIVE
        if self.high < self.limit:
            return Verdict.FAIL
        return Verdict.PASS if self.low >= self.limit else Verdict.INCONCLUSIVE

    def text(self, confidence: float, needed: tuple[int, int]) -> str:
        u = self.unit
        base = (
            f"{self.label} {_fmt(self.point)} {u} ({_pct(confidence)} bounds "
            f"{_fmt(self.low)}-{_fmt(self.high)} {u})"
        )
        lim = f"{_fmt(self.limit)} {u}"
        state = self.state()
        if state is Verdict.FAIL:
            if self.at_most:
                return f"{base}: lower bound {_fmt(self.low)} {u} > {lim}"
            return f"{base}: upper bound {_fmt(self.high)} {u} < {lim}"
        if state is Verdict.PASS:
            if self.at_most:
                return f"{base}: upper bound {_fmt(self.high)} {u} <= {lim}"
            return f"{base}: lower bound {_fmt(self.low)} {u} >= {lim}"
        # A pass needs the upper bound of TTFT (the lower one of speed); say when n cannot give it.
        need = needed[1] if self.at_most else needed[0]
        side = "an upper" if self.at_most else "a lower"
        hint = f" ({side} bound needs {need} samples, have {self.n})" if self.n < need else ""
        return f"{base} straddles {lim}: measure longer{hint}"


def _sample_at(
    n_values: int, violations: int, value_at: Callable[[int], float], violations_on_top: bool
) -> Callable[[int | None, float], float]:
    """Rank -> value of a sample made of a sketch plus ``violations`` at one end; default for None."""

    def at(rank: int | None, default: float) -> float:
        if rank is None:
            return default
        if violations_on_top:
            return value_at(rank) if rank <= n_values else INF
        return 0.0 if rank <= violations else value_at(rank - violations)

    return at


def _quantile(
    n: int, percent: int, at: Callable[[int | None, float], float], confidence: float
) -> tuple[float, float, float]:
    """(point, low, high) of the ``percent`` quantile of n samples; bounds 0 / +inf when absent."""
    low, high = rank_bounds(n, percent, confidence)
    point = at(_rank(n, percent), 0.0) if n else 0.0
    return point, at(low, 0.0), at(high, INF)


def evaluate_tier(agg: LevelAggregate, tier: Tier, rules: Rules) -> TierResult:
    """One tier's verdict over a (merged) aggregate, with bounds at ``rules.confidence``."""
    waits = agg.censored_waits_s
    # A censored wait past the limit is known to violate; a shorter one is unknown, so left out.
    over = len(waits) - bisect.bisect_right(waits, tier.max_ttft_s)
    violations = agg.failed + agg.no_token + over
    n_ttft, n_speed = agg.ttft.count + violations, agg.speed.count + violations
    c = rules.confidence
    ttft_at = _sample_at(agg.ttft.count, violations, agg.ttft.value_at_rank, True)
    speed_at = _sample_at(agg.speed.count, violations, agg.speed.value_at_rank, False)
    ttft = _Estimate(
        "P95 TTFT", "s", n_ttft, *_quantile(n_ttft, TTFT_PERCENT, ttft_at, c), tier.max_ttft_s, True
    )
    speed = _Estimate(
        "P25 speed",
        "tok/s",
        n_speed,
        *_quantile(n_speed, SPEED_PERCENT, speed_at, c),
        tier.min_output_speed,
        False,
    )
    verdict, reason = _judge(ttft, speed, rules)
    return TierResult(
        tier=tier,
        verdict=verdict,
        p95_ttft_s=ttft.point,
        p25_output_speed=speed.point,
        ttft_samples=n_ttft,
        speed_samples=n_speed,
        reason=reason,
        p95_ttft_low_s=ttft.low,
        p95_ttft_high_s=ttft.high,
        p25_speed_low=speed.low,
        p25_speed_high=speed.high,
        confidence=c,
    )


def _judge(ttft: _Estimate, speed: _Estimate, rules: Rules) -> tuple[Verdict, str]:
    if ttft.n < rules.min_samples:
        return Verdict.INSUFFICIENT, f"{ttft.n} TTFT samples, fewer than min_samples {rules.min_samples}"
    c = rules.confidence
    texts = [ttft.text(c, bound_samples_needed(TTFT_PERCENT, c))]
    states = [ttft.state()]
    if speed.n == 0:
        texts.append(
            f"no speed samples (no request had >= {rules.min_speed_tokens} tokens after its first chunk)"
        )
        states.append(Verdict.INCONCLUSIVE)
    else:
        texts.append(speed.text(c, bound_samples_needed(SPEED_PERCENT, c)))
        states.append(speed.state())
    if Verdict.FAIL in states:
        return Verdict.FAIL, "; ".join(t for t, s in zip(texts, states, strict=True) if s is Verdict.FAIL)
    if all(s is Verdict.PASS for s in states):
        return Verdict.PASS, "; ".join(texts)
    return Verdict.INCONCLUSIVE, "; ".join(texts)


def evaluate_aggregate(
    run_id: str,
    level: int,
    agg: LevelAggregate,
    tiers: Sequence[Tier],
    rules: Rules,
    *,
    window_s: float = 0.0,
    note: str = "",
) -> LevelResult:
    """Every tier's verdict plus the level's counters (``note`` prefixes every reason)."""
    results = []
    for tier in tiers:
        res = evaluate_tier(agg, tier, rules)
        if note:
            res = replace(res, reason=f"{note}; {res.reason}")
        results.append(res)
    return LevelResult(
        run_id=run_id,
        level=level,
        tiers=tuple(results),
        records_total=agg.records_total,
        records_window=agg.records_window,
        failed=agg.failed,
        censored=agg.censored,
        output_tokens_per_s=agg.output_tokens_per_s(window_s),
    )
