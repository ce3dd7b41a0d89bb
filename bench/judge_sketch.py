"""Cost of the judge's statistics: sketch adds, aggregate adds, proto size, merges, verdicts.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/judge_sketch.py [--values 1000000] [--seed 0]

Adds ``--values`` lognormal TTFTs (median 1 s) to one :class:`DDSketch`, then folds
``--values`` records into one :class:`LevelAggregate` (cycling through a pool of 10,000
pre-built records: 96 % OK, 2 % FAILED, 1 % OK without a token, 1 % CENSORED of which a tenth
still waited for a first token), and reports adds per second, the serialized proto sizes, the
time to merge 8 shard aggregates and to judge the default three tiers. Figures go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from agentperf.services.judge.core import Record, Rules, Status, Tier
from agentperf.services.judge.sketch import DDSketch
from agentperf.services.judge.stats import LevelAggregate, evaluate_aggregate, merged
from agentperf.v1 import judge_pb2

T = TypeVar("T")
POOL = 10_000
TIERS = (Tier("slo1", 30.0, 10.0), Tier("slo2", 100.0, 5.0), Tier("slo3", 300.0, 3.0))


def make_record(i: int, rng: random.Random) -> Record:
    kind = rng.random()
    send = 1000.0 + i * 0.01
    if kind < 0.02:
        return Record(f"r{i}", "bench", 1, Status.FAILED, True, send_unix_s=send)
    if kind < 0.03:
        return Record(f"r{i}", "bench", 1, Status.OK, True, send_unix_s=send)
    if kind < 0.031:
        return Record(
            f"r{i}", "bench", 1, Status.CENSORED, True, send_unix_s=send, waited_s=rng.uniform(0, 12)
        )
    tokens = rng.randrange(1, 2000)
    return Record(
        f"r{i}", "bench", 1, Status.CENSORED if kind < 0.04 else Status.OK, True, send_unix_s=send,
        has_first_token=True, ttft_s=rng.lognormvariate(0.0, 0.8), first_to_last_s=tokens / rng.uniform(20, 200),
        output_tokens=tokens, first_chunk_tokens=1,
    )  # fmt: skip


def bench_sketch(values: list[float]) -> tuple[DDSketch, float]:
    sk = DDSketch()
    add = sk.add
    started = time.perf_counter()
    for v in values:
        add(v)
    return sk, time.perf_counter() - started


def bench_aggregate(pool: list[Record], count: int, rules: Rules) -> tuple[LevelAggregate, float]:
    agg = LevelAggregate.empty(rules.relative_accuracy)
    add = agg.add
    started = time.perf_counter()
    for i in range(count):
        add(pool[i % POOL], rules)
    return agg, time.perf_counter() - started


def without_waits(msg: judge_pb2.LevelAggregate) -> int:
    """Serialized size less the censored waits (which grow with the records, not the buckets)."""
    copy = judge_pb2.LevelAggregate()
    copy.CopyFrom(msg)
    copy.ClearField("censored_waits_s")
    return copy.ByteSize()


def timed_ms(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    result = fn()
    return result, round((time.perf_counter() - started) * 1000, 2)


def run(count: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    rules = Rules()
    values = [rng.lognormvariate(0.0, 0.8) for _ in range(count)]
    sk, sk_wall = bench_sketch(values)
    msg = sk.to_proto()
    out: dict[str, Any] = {
        "sketch": {
            "values": count,
            "seconds": round(sk_wall, 3),
            "adds_per_s": round(count / sk_wall),
            "bins": len(msg.keys),
            "proto_bytes": msg.ByteSize(),
        }
    }
    print(f"sketch    {out['sketch']}", flush=True)
    pool = [make_record(i, rng) for i in range(POOL)]
    agg, agg_wall = bench_aggregate(pool, count, rules)
    amsg = agg.to_proto()
    out["aggregate"] = {
        "records": count,
        "seconds": round(agg_wall, 3),
        "adds_per_s": round(count / agg_wall),
        "censored_waits": len(agg.censored_waits_s),
        "proto_bytes": amsg.ByteSize(),
        "proto_bytes_without_waits": without_waits(amsg),
    }
    print(f"aggregate {out['aggregate']}", flush=True)
    shards = [LevelAggregate.from_proto(amsg) for _ in range(8)]
    _, merge_ms = timed_ms(lambda: merged(shards))
    # Nothing asked for rank bounds yet in this process: the first evaluation fills the cache.
    result, cold_ms = timed_ms(lambda: evaluate_aggregate("bench", 1, agg, TIERS, rules))
    _, warm_ms = timed_ms(lambda: evaluate_aggregate("bench", 1, agg, TIERS, rules))
    out["verdict"] = {
        "merge_8_shards_ms": merge_ms,
        "evaluate_3_tiers_cold_ms": cold_ms,
        "evaluate_3_tiers_cached_ms": warm_ms,
        "verdicts": {t.tier.name: t.verdict.name for t in result.tiers},
    }
    print(f"verdict   {out['verdict']}", flush=True)
    out["machine"] = {
        "cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/judge_sketch.json"))
    args = parser.parse_args()
    result = run(args.values, args.seed)
    result["command"] = f".venv/bin/python bench/judge_sketch.py --values {args.values} --seed {args.seed}"
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
