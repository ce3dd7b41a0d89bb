"""Trajectory-store throughput: import, synthetic generation, streaming and stats over gRPC.

Not a test (pytest does not collect it). Run::

    .venv/bin/python bench/store_throughput.py [--count 10000] [--turns-median 50] [--seed 0]

It writes ``--count`` synthetic trajectories of the ``agentperf`` preset (turns lognormal with
median ``--turns-median``, so that 10,000 trajectories hold more than 500,000 turns) as our JSONL,
starts a real trajectory-store process, and measures over loopback gRPC:

* import: the JSONL through the client-streaming ``Import`` (1 MiB chunks);
* generate: the same spec through ``GenerateSynthetic`` (the store generates and writes);
* stream: ``StreamTrajectories`` of the whole dataset as one stream, then as 4 shards in parallel;
* stats: ``GetDatasetStats`` over the dataset.

Each phase runs against a fresh store process on the same database (so no phase inherits the
heap another left behind) and reports that process's resident memory when idle (``VmRSS``) and
its peak during the phase (``VmHWM`` in /proc/<pid>/status, reset with ``5`` to
/proc/<pid>/clear_refs just before). The figures go to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from agentperf.importing import import_chunks
from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.services.trajectory_store import synthetic
from agentperf.services.trajectory_store.formats import dump_jsonl
from agentperf.v1 import trajectory_store_pb2 as pb
from agentperf.v1 import trajectory_store_pb2_grpc

T = TypeVar("T")
MB = 1e6


def _status_kb(pid: int | str, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{key} not in /proc/{pid}/status")


def _reset_peak(pid: int | str) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def write_dataset(path: Path, params: synthetic.SyntheticParams) -> dict[str, int]:
    """Write the dataset line by line (never held whole); return its size."""
    trajectories = turns = 0
    with path.open("wb") as out:
        for traj in synthetic.generate_params(params):
            out.write(dump_jsonl([traj]))
            trajectories += 1
            turns += traj.turn_count
    return {"trajectories": trajectories, "turns": turns, "bytes": path.stat().st_size}


@contextlib.asynccontextmanager
async def fresh_store(work: Path) -> AsyncIterator[tuple[trajectory_store_pb2_grpc.TrajectoryStoreStub, int]]:
    """A new store process on the bench database, so no phase inherits another's heap."""
    store = await start_child(
        "trajectory-store",
        "agentperf.services.trajectory_store",
        ["--set", f"db_path={work / 'store.db'}", "--set", "metrics_port=-1"],
        log_dir=work,
    )
    try:
        async with channel(store.grpc_target) as ch:
            yield trajectory_store_pb2_grpc.TrajectoryStoreStub(ch), store.process.pid
    finally:
        await store.stop()


async def measured(
    work: Path, fn: Callable[[trajectory_store_pb2_grpc.TrajectoryStoreStub], Awaitable[T]]
) -> tuple[T, float, dict[str, float]]:
    """Run ``fn`` against a fresh store; return its result, wall seconds and the store's RSS (MB)."""
    async with fresh_store(work) as (stub, pid):
        idle = _status_kb(pid, "VmRSS") * 1024 / MB
        _reset_peak(pid)
        started = time.perf_counter()
        result = await fn(stub)
        wall = time.perf_counter() - started
        peak = _status_kb(pid, "VmHWM") * 1024 / MB
    return result, wall, {"store_idle_rss_mb": round(idle, 1), "store_peak_rss_mb": round(peak, 1)}


async def stream_shards(
    stub: trajectory_store_pb2_grpc.TrajectoryStoreStub, dataset: str, shards: int
) -> dict[str, int]:
    async def one(index: int) -> tuple[int, int, int]:
        request = pb.StreamTrajectoriesRequest(dataset=dataset, shard_index=index, shard_count=shards)
        count = turns = size = 0
        async for msg in stub.StreamTrajectories(request):
            count += 1
            turns += sum(len(p.turns) for p in msg.phases)
            size += msg.ByteSize()
        return count, turns, size

    parts = await asyncio.gather(*(one(i) for i in range(shards)))
    return {
        "trajectories": sum(p[0] for p in parts),
        "turns": sum(p[1] for p in parts),
        "bytes": sum(p[2] for p in parts),
    }


def rates(wall_s: float, trajectories: int, turns: int, size: int) -> dict[str, float]:
    return {
        "seconds": round(wall_s, 2),
        "trajectories_per_s": round(trajectories / wall_s),
        "turns_per_s": round(turns / wall_s),
        "mb_per_s": round(size / MB / wall_s, 1),
    }


async def bench(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    spec = {"count": args.count, "seed": args.seed, "turns_median": args.turns_median}
    params = synthetic.resolve("agentperf", spec)
    data = work / "bench.jsonl"
    t0 = time.perf_counter()
    written = write_dataset(data, params)
    print(
        f"wrote {written['trajectories']} trajectories, {written['turns']} turns, "
        f"{written['bytes'] / MB:.1f} MB of JSONL in {time.perf_counter() - t0:.1f} s",
        flush=True,
    )
    out: dict[str, Any] = {"dataset": {**written, "preset": "agentperf", "spec": spec}}
    size = (written["trajectories"], written["turns"])

    info, wall, rss = await measured(work, lambda stub: stub.Import(import_chunks("bench", "jsonl", [data])))
    assert (info.trajectories, info.turns) == size
    out["import"] = {**rates(wall, *size, written["bytes"]), **rss}
    print(f"import    {out['import']}", flush=True)

    request = pb.GenerateSyntheticRequest(
        dataset="bench-gen", preset="agentperf", spec=pb.SyntheticSpec(**spec)
    )
    gen, wall, rss = await measured(work, lambda stub: stub.GenerateSynthetic(request))
    assert (gen.trajectories, gen.turns) == size
    out["generate"] = {**rates(wall, *size, 0), **rss}
    del out["generate"]["mb_per_s"]
    print(f"generate  {out['generate']}", flush=True)

    for shards in (1, 4):
        got, wall, rss = await measured(work, lambda stub, n=shards: stream_shards(stub, "bench", n))  # type: ignore[misc]
        assert (got["trajectories"], got["turns"]) == size
        key = f"stream_{shards}"
        out[key] = {**rates(wall, *size, got["bytes"]), "bytes": got["bytes"], **rss}
        print(f"{key:<9} {out[key]}", flush=True)

    stats_request = pb.GetDatasetStatsRequest(dataset="bench")
    stats, wall, rss = await measured(work, lambda stub: stub.GetDatasetStats(stats_request))
    assert stats.turns_per_trajectory.count == written["trajectories"]
    out["stats"] = {"seconds": round(wall, 2), "turns_per_s": round(written["turns"] / wall), **rss}
    print(f"stats     {out['stats']}", flush=True)
    out["client_peak_rss_mb"] = round(_status_kb("self", "VmHWM") * 1024 / MB, 1)
    out["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--turns-median", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("docs/bench/store_throughput.json"))
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="store-bench-", dir=args.workdir) as tmp:
        result = asyncio.run(bench(args, Path(tmp)))
    result["command"] = (
        f".venv/bin/python bench/store_throughput.py --count {args.count} "
        f"--turns-median {args.turns_median:g} --seed {args.seed}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"client peak RSS {result['client_peak_rss_mb']} MB; wrote {args.out}")


if __name__ == "__main__":
    main()
