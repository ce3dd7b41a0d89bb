"""A DDSketch-style quantile sketch: log buckets, relative accuracy, exact merges.

A value v > 0 lands in bucket ``ceil(log(v) / log(gamma))`` with ``gamma = (1 + a) / (1 - a)``
for relative accuracy ``a``; bucket k holds (gamma**(k-1), gamma**k] and answers with
``2 * gamma**k / (gamma + 1)``, which is within ``a`` of every value in it. Values below
:data:`ZERO_THRESHOLD` (including 0) are counted in one zero bucket that answers 0. Bucket
counts are integers, so merging adds them exactly: a merge of shards equals one sketch of all
their values, in any order. The exact minimum and maximum are kept too; rank 1 and rank
``count`` answer them, and every answer is clamped into [min, max].
"""

from __future__ import annotations

import bisect
import math

from agentperf.errors import InputError
from agentperf.v1 import judge_pb2

# Below this a value counts as 0: TTFTs and speeds under a nanosecond (or nano-token per second)
# are noise, and they would otherwise take thousands of empty log buckets.
ZERO_THRESHOLD = 1e-9
_INF = math.inf


class DDSketch:
    """Quantiles of non-negative values within ``relative_accuracy`` (see ``agentperf.v1.QuantileSketch``)."""

    __slots__ = ("_alpha", "_bins", "_count", "_gamma", "_index", "_max", "_min", "_mult", "_zero")

    def __init__(self, relative_accuracy: float = 0.01) -> None:
        if not (0.0 < relative_accuracy < 1.0):
            raise ValueError(f"relative_accuracy must be in (0, 1), got {relative_accuracy}")
        self._alpha = relative_accuracy
        self._gamma = (1.0 + relative_accuracy) / (1.0 - relative_accuracy)
        self._mult = 1.0 / math.log(self._gamma)
        self._bins: dict[int, int] = {}
        self._zero = 0
        self._count = 0
        self._min = _INF
        self._max = -_INF
        # Sorted keys and cumulative counts for rank lookups; rebuilt lazily after any change.
        self._index: tuple[list[int], list[int]] | None = None

    @property
    def relative_accuracy(self) -> float:
        return self._alpha

    @property
    def count(self) -> int:
        return self._count

    @property
    def zero_count(self) -> int:
        return self._zero

    @property
    def min(self) -> float:
        """Exact smallest value added (0 when empty)."""
        return self._min if self._count else 0.0

    @property
    def max(self) -> float:
        """Exact largest value added (0 when empty)."""
        return self._max if self._count else 0.0

    def key(self, value: float) -> int:
        """The bucket key of a value >= ZERO_THRESHOLD."""
        return math.ceil(math.log(value) * self._mult)

    def bucket_value(self, key: int) -> float:
        """What bucket ``key`` answers: within the relative accuracy of every value in it."""
        try:
            return 2.0 * self._gamma**key / (self._gamma + 1.0)
        except OverflowError:  # a bucket next to the largest float; callers clamp to max
            return _INF

    def add(self, value: float, weight: int = 1) -> None:
        """Add a finite value >= 0 (ValueError otherwise)."""
        # `not value >= 0` also catches NaN.
        if not 0.0 <= value < _INF:
            raise ValueError(f"a sketch takes finite values >= 0, got {value}")
        if weight != 1 and (not isinstance(weight, int) or weight < 1):
            raise ValueError(f"weight must be an integer >= 1, got {weight}")
        if value < ZERO_THRESHOLD:
            self._zero += weight
        else:
            key = math.ceil(math.log(value) * self._mult)
            bins = self._bins
            bins[key] = bins.get(key, 0) + weight
        self._count += weight
        self._min = min(self._min, value)
        self._max = max(self._max, value)
        self._index = None

    def merge(self, other: DDSketch) -> None:
        """Add ``other``'s counts (ValueError if the accuracies differ)."""
        if other._alpha != self._alpha:
            raise ValueError(f"cannot merge sketches of accuracy {self._alpha} and {other._alpha}")
        bins = self._bins
        for key, n in other._bins.items():
            bins[key] = bins.get(key, 0) + n
        self._zero += other._zero
        self._count += other._count
        self._min = min(self._min, other._min)
        self._max = max(self._max, other._max)
        self._index = None

    def copy(self) -> DDSketch:
        """An independent sketch with the same content."""
        out = DDSketch(self._alpha)
        out.merge(self)
        return out

    def _cumulative(self) -> tuple[list[int], list[int]]:
        if self._index is None:
            keys = sorted(self._bins)
            cum: list[int] = []
            total = self._zero
            for key in keys:
                total += self._bins[key]
                cum.append(total)
            self._index = (keys, cum)
        return self._index

    def value_at_rank(self, rank: int) -> float:
        """The rank-th smallest value (1-based), within the relative accuracy; IndexError outside 1..count."""
        if not 1 <= rank <= self._count:
            raise IndexError(f"rank {rank} outside 1..{self._count}")
        if rank == 1:
            return self._min
        if rank == self._count:
            return self._max
        if rank <= self._zero:
            value = 0.0
        else:
            keys, cum = self._cumulative()
            value = self.bucket_value(keys[bisect.bisect_left(cum, rank)])
        return min(max(value, self._min), self._max)

    def count_above(self, value: float) -> int:
        """How many added values are > ``value`` (bucket-exact: within the relative accuracy of value).

        Values in ``value``'s own bucket are not counted, so the answer may miss values at most a
        factor gamma above ``value``; every value counted is > ``value``.
        """
        if self._count == 0 or value >= self._max:
            return 0
        if value < self._min:
            return self._count
        if value < ZERO_THRESHOLD:
            return self._count - self._zero
        keys, cum = self._cumulative()
        below = bisect.bisect_right(keys, self.key(value))
        return self._count - (cum[below - 1] if below else self._zero)

    def to_proto(self) -> judge_pb2.QuantileSketch:
        keys = sorted(self._bins)
        return judge_pb2.QuantileSketch(
            relative_accuracy=self._alpha,
            zero_count=self._zero,
            keys=keys,
            counts=[self._bins[k] for k in keys],
            min=self.min,
            max=self.max,
        )

    @classmethod
    def from_proto(cls, msg: judge_pb2.QuantileSketch) -> DDSketch:
        """The sketch in ``msg``; InputError naming the field when it is malformed."""
        return sketch_from_proto(msg, source="QuantileSketch")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DDSketch):
            return NotImplemented
        return (
            self._alpha == other._alpha
            and self._zero == other._zero
            and self._count == other._count
            and self._bins == other._bins
            and self.min == other.min
            and self.max == other.max
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"DDSketch(relative_accuracy={self._alpha}, count={self._count}, zero={self._zero}, "
            f"bins={len(self._bins)}, min={self.min}, max={self.max})"
        )


def sketch_from_proto(msg: judge_pb2.QuantileSketch, *, source: str, prefix: str = "") -> DDSketch:
    """Validate and load ``msg``; InputError names ``source`` and ``<prefix><field>``."""

    def bad(field: str, message: str) -> InputError:
        return InputError(message, source=source, field=prefix + field)

    alpha = msg.relative_accuracy
    if not 0.0 < alpha < 1.0:
        raise bad("relative_accuracy", f"must be in (0, 1), got {alpha}")
    if msg.zero_count < 0:
        raise bad("zero_count", f"must be >= 0, got {msg.zero_count}")
    keys, counts = list(msg.keys), list(msg.counts)
    if len(keys) != len(counts):
        raise bad("counts", f"has {len(counts)} entries for {len(keys)} keys")
    for i in range(1, len(keys)):
        if keys[i] <= keys[i - 1]:
            raise bad("keys", f"must be ascending and unique: keys[{i}] = {keys[i]} after {keys[i - 1]}")
    for i, n in enumerate(counts):
        if n < 0:
            raise bad("counts", f"counts[{i}] must be >= 0, got {n}")
    sketch = DDSketch(alpha)
    sketch._zero = msg.zero_count
    sketch._bins = {k: n for k, n in zip(keys, counts, strict=True) if n > 0}
    sketch._count = msg.zero_count + sum(sketch._bins.values())
    if sketch._count == 0:
        return sketch
    problem = _extremes_problem(sketch, msg.min, msg.max)
    if problem is not None:
        raise bad(*problem)
    sketch._min, sketch._max = msg.min, msg.max
    return sketch


def _extremes_problem(sketch: DDSketch, lo: float, hi: float) -> tuple[str, str] | None:
    """(field, message) when min/max are not finite, ordered, or disagree with the occupied buckets."""
    if not (math.isfinite(lo) and lo >= 0):
        return "min", f"must be a finite number >= 0, got {lo}"
    if not (math.isfinite(hi) and hi >= lo):
        return "max", f"must be a finite number >= min {lo}, got {hi}"
    if sketch.zero_count and lo >= ZERO_THRESHOLD:
        return "min", f"is {lo} but zero_count is {sketch.zero_count}"
    keys = sorted(sketch._bins)
    if not keys:
        return ("max", f"is {hi} but every value is in the zero bucket") if hi >= ZERO_THRESHOLD else None
    # Another implementation may round log() differently at a bucket edge: allow one bucket.
    if hi < ZERO_THRESHOLD or keys[-1] > sketch.key(hi) + 1:
        return "max", f"is {hi} but bucket {keys[-1]} is occupied"
    if lo >= ZERO_THRESHOLD and keys[0] < sketch.key(lo) - 1:
        return "min", f"is {lo} but bucket {keys[0]} is occupied"
    return None
