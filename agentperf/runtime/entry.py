"""Process entry plumbing shared by every agentperf process (services and the simulator).

Kept free of gRPC imports so the simulator, an HTTP server, does not pay for them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import TypeVar

from pydantic import BaseModel

from agentperf.config import load_config
from agentperf.errors import AgentperfError

log = logging.getLogger(__name__)

C = TypeVar("C", bound=BaseModel)


def config_from_argv(name: str, model: type[C], argv: Sequence[str] | None) -> C | int:
    """Parse ``--config`` / ``--set`` / ``--print-config`` for process ``name``.

    Returns the config, or an exit code when the process is already done: 0 after
    ``--print-config``, 2 after a configuration error (printed to stderr, naming the source).
    """
    parser = argparse.ArgumentParser(prog=f"agentperf-{name}", description=f"agentperf {name}")
    parser.add_argument("--config", help="YAML file with the configuration")
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="override one field"
    )
    parser.add_argument("--print-config", action="store_true", help="print the effective config and exit")
    args = parser.parse_args(argv)
    try:
        config = load_config(model, args.config, overrides=args.set)
    except AgentperfError as exc:
        print(f"agentperf-{name}: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(config.model_dump_json(indent=2))
        return 0
    return config


def setup_logging(name: str, level: str, config: BaseModel) -> None:
    """Log to stderr with the process name on every line; the effective config comes first."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s {name} %(levelname)s %(name)s: %(message)s",
    )
    log.info("config: %s", config.model_dump_json())
