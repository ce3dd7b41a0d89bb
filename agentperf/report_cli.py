"""``agentperf report RESULT_JSON [--html OUT]``: render a run's result.json as one HTML page.

The page is self-contained (docs/report.md); by default it is written as ``report.html`` next
to the result. A missing or unreadable file, or one that is not an agentperf run result, is an
InputError naming the file (agentperf.cli prints it and exits 2).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from agentperf.errors import ConfigError, InputError
from agentperf.htmlreport import write_html

SCHEMA_PREFIX = "agentperf.run/"


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``report`` to the top-level parser."""
    p = sub.add_parser("report", help="render a run's result.json as a self-contained HTML page")
    p.add_argument("result", type=Path, metavar="RESULT_JSON", help="a run's result.json")
    p.add_argument(
        "--html", type=Path, metavar="OUT", help="where to write the page (default: report.html next to it)"
    )


def load_result(path: Path) -> dict[str, Any]:
    """Read a result.json; raise InputError naming ``path`` when it is not a run result."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("no such file", source=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read it: {exc}", source=str(path)) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"not valid JSON: {exc.msg} (column {exc.colno})", source=str(path), line=exc.lineno
        ) from None
    schema = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise InputError(
            f"not an agentperf run result (expected a JSON object with schema {SCHEMA_PREFIX}...)",
            source=str(path),
        )
    result: dict[str, Any] = data
    return result


def run(args: argparse.Namespace) -> int:
    result_path: Path = args.result
    out: Path = args.html or result_path.with_name("report.html")
    result = load_result(result_path)
    try:
        write_html(result, out)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the report: {exc.strerror or exc}") from None
    print(out)
    return 0
