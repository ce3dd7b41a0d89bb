"""``agentperf``: the command line. ``agentperf run`` runs the whole benchmark locally.

Exit codes: 0 done, 1 the run's gate rules did not hold, 2 bad configuration or a component
failed, 130 interrupted (Ctrl-C), with the partial result still written. ``agentperf gate``
exits 0 pass, 1 fail, 2 error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from agentperf import __version__, gate_cli, report_cli, trajectories_cli
from agentperf.config import load_config
from agentperf.errors import AgentperfError

EXIT_OK, EXIT_GATE_FAILED, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _run_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("run", help="run the suite locally and print the result table")
    p.add_argument("--config", help="YAML file with run settings (see docs/run.md)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override one setting")
    p.add_argument("--target", help="OpenAI-compatible server URL (default: the built-in simulator)")
    p.add_argument("--model", help="model name to request")
    p.add_argument(
        "--dataset-file",
        type=Path,
        action="append",
        help="trajectory file or folder to replay (repeatable; all form one dataset)",
    )
    p.add_argument("--dataset-format", help="format of --dataset-file (default jsonl; see docs/importers.md)")
    p.add_argument("--tokenizer", help="tokenizer.json (or folder) for formats that carry only text")
    p.add_argument("--out", type=Path, help="output folder (default: runs/)")
    p.add_argument("--seed", type=int)
    p.add_argument("--quiet", action="store_true", help="no live progress")
    p.add_argument(
        "--gate",
        action="append",
        metavar="TIER[:N|:agents=N,per_gpu=X,per_mw=Y]",
        help="gate rule (repeatable): exit 1 when the run's answer does not meet it (see docs/gates.md)",
    )
    p.add_argument("--print-config", action="store_true", help="print the effective settings and exit")


def _run(args: argparse.Namespace) -> int:
    from agentperf.conductor import RunConfig, print_result, run

    flags = [
        f"{key}={value}"
        for key, value in (
            ("target_url", args.target),
            ("model", args.model),
            ("dataset_format", args.dataset_format),
            ("tokenizer_path", args.tokenizer),
            ("out_dir", args.out),
            ("seed", args.seed),
        )
        if value is not None
    ]
    if args.dataset_file:
        flags.append("dataset_files=" + json.dumps([str(p) for p in args.dataset_file]))
    if args.quiet:
        flags.append("quiet=true")
    if args.gate:
        flags.append("gate=" + json.dumps(args.gate))
    cfg = load_config(RunConfig, args.config, overrides=[*args.set, *flags])
    if args.print_config:
        print(cfg.model_dump_json(indent=2))
        return EXIT_OK

    async def main() -> int:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        report = await run(cfg)
        run_dir = cfg.out_dir / report.run_id
        print_result(report, run_dir)
        if report.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_GATE_FAILED if report.gate.get("status") == "fail" else EXIT_OK

    return asyncio.run(main())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="agentperf", description=__doc__)
    parser.add_argument("--version", action="version", version=f"agentperf {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    _run_parser(sub)
    trajectories_cli.add_parser(sub)
    report_cli.add_parser(sub)
    gate_cli.add_parser(sub)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    commands = {
        "run": _run,
        "trajectories": trajectories_cli.run,
        "gate": gate_cli.run,
        "report": report_cli.run,
    }
    try:
        return commands[args.command](args)
    except AgentperfError as exc:
        print(f"agentperf: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
