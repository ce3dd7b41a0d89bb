"""``agentperf trajectories``: import, list, describe, export and generate trajectory datasets.

Every subcommand talks gRPC to a trajectory store: the one at ``--store HOST:PORT``, or else
a local store process started for the duration of the command on ``--db PATH`` (default
``agentperf-trajectories.db`` in the current folder) and stopped after it. Errors exit with
code 2 and one line naming the problem (agentperf.cli maps every AgentperfError).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import grpc
import yaml

from agentperf.errors import ConfigError, UnavailableError
from agentperf.importing import expand_paths, import_chunks
from agentperf.runtime.grpc_errors import error_from_rpc
from agentperf.runtime.procs import start_child
from agentperf.runtime.server import channel
from agentperf.services.trajectory_store.formats import dump_jsonl
from agentperf.services.trajectory_store.importers import FORMATS
from agentperf.services.trajectory_store.synthetic import DEFAULT_PRESET, PRESETS
from agentperf.trajectory import from_proto
from agentperf.v1 import trajectory_store_pb2 as pb
from agentperf.v1 import trajectory_store_pb2_grpc

T = TypeVar("T")
Stub = trajectory_store_pb2_grpc.TrajectoryStoreStub
Handler = Callable[[argparse.Namespace, Stub], Awaitable[int]]

DEFAULT_DB = "agentperf-trajectories.db"
PEER = "trajectory-store"
STORE_MODULE = "agentperf.services.trajectory_store"

# Measures of agentperf.v1.DatasetStats in display order: field, label, unit, public figure.
# Public figures: AA-AgentPerf methodology and launch reports (shared/docs/METHOD.md).
MEASURES: tuple[tuple[str, str, str, str], ...] = (
    ("turns_per_trajectory", "turns per trajectory", "", "up to about 200"),
    ("phases_per_trajectory", "phases per trajectory", "", ""),
    ("input_tokens_per_turn", "new input tokens per turn", "tokens", ""),
    ("output_tokens_per_turn", "output tokens per turn", "tokens", "median ~150, P95 ~2K"),
    ("cached_tokens_per_turn", "recorded cached tokens per turn", "tokens", ""),
    ("request_tokens", "request length", "tokens", "5K-131K, mean ~27K"),
    ("context_growth_tokens", "context growth per turn", "tokens", ""),
    ("tool_delay_s", "tool delay, recorded", "s", "median 1 s"),
)
_COLUMNS = ("count", "mean", "p50", "p90", "p95", "max")


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trajectories`` and its subcommands to the top-level parser."""
    store = argparse.ArgumentParser(add_help=False)
    where = store.add_argument_group("store")
    where.add_argument("--store", metavar="HOST:PORT", help="a running trajectory store (default: start one)")
    where.add_argument("--db", type=Path, help=f"SQLite file of the local store (default: ./{DEFAULT_DB})")
    where.add_argument("--tokenizer", type=Path, help="tokenizer.json (or its folder) for the local store")

    top = sub.add_parser(
        "trajectories", help="import, list, describe, export and generate trajectory datasets"
    )
    cmds = top.add_subparsers(dest="trajectories_command", required=True)

    p = cmds.add_parser("import", parents=[store], help="import files (or folders of files) as one dataset")
    p.add_argument("paths", nargs="+", type=Path, metavar="FILE", help="files or folders to import")
    p.add_argument(
        "--format", default="jsonl", choices=sorted(FORMATS), help="import format (docs/importers.md)"
    )
    p.add_argument("--dataset", help="dataset name (default: the first path's name up to its first dot)")
    p.add_argument("--replace", action="store_true", help="replace a dataset of that name")
    p.set_defaults(trajectories_handler=_import)

    p = cmds.add_parser("list", parents=[store], help="list datasets")
    p.set_defaults(trajectories_handler=_list)

    p = cmds.add_parser("stats", parents=[store], help="distributions per dataset, beside the public figures")
    p.add_argument("datasets", nargs="*", metavar="DATASET", help="datasets to describe (default: all)")
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(trajectories_handler=_stats)

    p = cmds.add_parser("export", parents=[store], help="write a dataset as agentperf JSONL")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("-o", "--output", type=Path, help="output file, written atomically (default: stdout)")
    p.set_defaults(trajectories_handler=_export)

    p = cmds.add_parser("generate", parents=[store], help="generate a seeded synthetic dataset")
    p.add_argument("--preset", default=DEFAULT_PRESET, choices=sorted(PRESETS))
    p.add_argument("--count", type=int, default=0, help="trajectories (default: the preset's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dataset", help="dataset name (default: synthetic-PRESET-SEED)")
    p.add_argument("--replace", action="store_true", help="replace a dataset of that name")
    p.set_defaults(trajectories_handler=_generate)


def run(args: argparse.Namespace) -> int:
    """Run the chosen subcommand against the store; returns the exit code."""
    handler: Handler = args.trajectories_handler

    async def main() -> int:
        async with connect(args.store, args.db, args.tokenizer) as stub:
            return await handler(args, stub)

    return asyncio.run(main())


@contextlib.asynccontextmanager
async def connect(store: str | None, db: Path | None, tokenizer: Path | None) -> AsyncIterator[Stub]:
    """A stub for the store at ``store``, or for a local store process that lives as long as the block."""
    if store:
        if db is not None or tokenizer is not None:
            raise ConfigError("--db and --tokenizer configure a local store; leave them out with --store")
        async with channel(store) as ch:
            yield Stub(ch)
        return
    with tempfile.TemporaryDirectory(prefix="agentperf-store-") as tmp:
        config = Path(tmp) / "store.yaml"
        settings: dict[str, Any] = {"db_path": str(db or DEFAULT_DB), "metrics_port": -1}
        if tokenizer is not None:
            settings["tokenizer_path"] = str(tokenizer)
        config.write_text(yaml.safe_dump(settings))
        try:
            child = await start_child(PEER, STORE_MODULE, ["--config", str(config)], log_dir=Path(tmp))
        except UnavailableError as exc:
            # The log lives in the temporary folder, gone after this block: quote its last line.
            detail = _log_tail(Path(tmp) / f"{PEER}.log") or str(exc)
            raise UnavailableError(f"the local trajectory store did not start: {detail}") from exc
        try:
            async with channel(child.grpc_target) as ch:
                yield Stub(ch)
        finally:
            await child.stop()


def _log_tail(path: Path) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


async def _call(awaitable: Awaitable[T]) -> T:
    try:
        return await awaitable
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc, PEER) from exc


async def _import(args: argparse.Namespace, stub: Stub) -> int:
    files = expand_paths(args.paths)
    name = args.dataset or default_dataset_name(args.paths[0])
    info = await _call(stub.Import(import_chunks(name, args.format, files, replace=args.replace)))
    print(f"imported {_summary(info)}")
    return 0


def default_dataset_name(path: Path) -> str:
    """The name of a file or folder up to its first dot ("." stands for the current folder's name)."""
    return path.resolve().name.split(".")[0]


async def _generate(args: argparse.Namespace, stub: Stub) -> int:
    if args.count < 0:
        raise ConfigError(f"--count must be >= 0 (0: the preset's count), got {args.count}")
    request = pb.GenerateSyntheticRequest(
        dataset=args.dataset or f"synthetic-{args.preset}-{args.seed}",
        spec=pb.SyntheticSpec(count=args.count, seed=args.seed),
        replace=args.replace,
        preset=args.preset,
    )
    info = await _call(stub.GenerateSynthetic(request))
    print(f"generated {_summary(info)}")
    return 0


def _summary(info: pb.DatasetInfo) -> str:
    return (
        f"{info.name}: {info.trajectories} trajectories, {info.turns} turns, {info.input_tokens} input and "
        f"{info.output_tokens} output tokens (format {info.format}, tokens: {info.token_method or 'unknown'}, "
        f"source {info.source})"
    )


async def _list(args: argparse.Namespace, stub: Stub) -> int:
    listed = await _call(stub.ListDatasets(pb.ListDatasetsRequest()))
    headers = ("dataset", "format", "trajectories", "turns", "input tokens", "output tokens", "tokens from")
    rows = [
        (d.name, d.format, d.trajectories, d.turns, d.input_tokens, d.output_tokens, d.token_method)
        for d in listed.datasets
    ]
    print(table(headers, rows) if rows else "no datasets")
    return 0


async def _stats(args: argparse.Namespace, stub: Stub) -> int:
    names: list[str] = args.datasets
    if not names:
        listed = await _call(stub.ListDatasets(pb.ListDatasetsRequest()))
        names = [d.name for d in listed.datasets]
    results = [await _call(stub.GetDatasetStats(pb.GetDatasetStatsRequest(dataset=n))) for n in names]
    if args.json:
        print(json.dumps({"datasets": [stats_to_dict(r) for r in results]}, indent=2))
    elif not results:
        print("no datasets")
    else:
        print("\n\n".join(stats_text(r) for r in results))
    return 0


async def _export(args: argparse.Namespace, stub: Stub) -> int:
    stream = stub.StreamTrajectories(pb.StreamTrajectoriesRequest(dataset=args.dataset))
    if args.output is None:
        count = await _write_stream(stream, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    else:
        count = await _export_file(stream, args.output)
        print(f"exported {count} trajectories of {args.dataset} to {args.output}", file=sys.stderr)
    return 0


async def _export_file(stream: Any, path: Path) -> int:
    """Write to a temporary file beside ``path`` and rename it into place only when complete."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            count = await _write_stream(stream, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return count


async def _write_stream(stream: Any, out: IO[bytes]) -> int:
    count = 0
    try:
        async for msg in stream:
            traj = from_proto(msg)
            out.write(dump_jsonl([traj]))
            count += 1
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc, PEER) from exc
    except OSError as exc:
        raise ConfigError(f"cannot write the export: {exc.strerror}") from exc
    return count


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    numeric = [all(_is_number(row[i]) for row in rows) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric, strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) or (isinstance(value, str) and _looks_numeric(value))


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True


def _fmt(value: float, unit: str, column: str = "") -> str:
    if unit == "s":
        return f"{value:.3f}"
    if column == "mean" or not value.is_integer():
        return f"{value:.1f}"
    return str(int(value))


def stats_text(stats: pb.DatasetStats) -> str:
    """The readable report of one dataset: measures beside the public figures, then tool classes."""
    info = stats.info
    head = (
        f"dataset {info.name}: {info.trajectories} trajectories, {info.turns} turns, {stats.tool_calls} tool calls "
        f"(format {info.format}, tokens: {info.token_method or 'unknown'})\nsource: {info.source}"
    )
    rows = []
    for field, label, unit, public in MEASURES:
        dist: pb.Distribution = getattr(stats, field)
        shown = [dist.count] + [_fmt(getattr(dist, c), unit, c) if dist.count else "-" for c in _COLUMNS[1:]]
        rows.append((label + (f" ({unit})" if unit else ""), *shown, public))
    measures = table(("measure", *_COLUMNS, "public figure"), rows)
    tool_rows = [(t.tool_class, t.calls, t.calls_with_duration, *_quantiles(t)) for t in stats.tools]
    tools = table(("tool class", "calls", "with duration", "p50 s", "p90 s", "p95 s", "max s"), tool_rows)
    return f"{head}\n\n{measures}\n\n{tools}"


def _quantiles(tool: pb.ToolClassStats) -> list[str]:
    if not tool.calls_with_duration:
        return ["-"] * 4
    return [_fmt(getattr(tool.duration_s, c), "s") for c in ("p50", "p90", "p95", "max")]


def _dist_dict(dist: pb.Distribution) -> dict[str, float | int]:
    return {
        "count": dist.count,
        "min": dist.min,
        "mean": dist.mean,
        "p50": dist.p50,
        "p90": dist.p90,
        "p95": dist.p95,
        "p99": dist.p99,
        "max": dist.max,
    }


def stats_to_dict(stats: pb.DatasetStats) -> dict[str, Any]:
    """JSON-ready statistics of one dataset (the fields of agentperf.v1.DatasetStats, plus public figures)."""
    info = stats.info
    return {
        "dataset": {
            "name": info.name,
            "format": info.format,
            "source": info.source,
            "token_method": info.token_method,
            "trajectories": info.trajectories,
            "turns": info.turns,
            "input_tokens": info.input_tokens,
            "output_tokens": info.output_tokens,
            "created_unix_s": info.created_unix_s,
        },
        "distributions": {field: _dist_dict(getattr(stats, field)) for field, _, _, _ in MEASURES},
        "tool_calls": stats.tool_calls,
        "tools": [
            {
                "tool_class": t.tool_class,
                "calls": t.calls,
                "calls_with_duration": t.calls_with_duration,
                "duration_s": _dist_dict(t.duration_s),
            }
            for t in stats.tools
        ],
        "public_figures": {field: public for field, _, _, public in MEASURES if public},
    }
