"""Start agentperf processes on loopback and learn their ports from their ready line.

Used by the run conductor and by tests: each child is started in its own session (so a
Ctrl-C in the terminal reaches only the conductor, which then stops the children in order),
prints one JSON ready line on stdout, and is stopped with SIGTERM, then SIGKILL after a grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from agentperf.errors import UnavailableError


@dataclass
class ChildProcess:
    name: str
    process: asyncio.subprocess.Process
    ready: dict[str, Any]
    log_path: Path | None

    @property
    def grpc_target(self) -> str:
        return f"127.0.0.1:{self.ready['grpc_port']}"

    def port(self, key: str) -> int:
        return int(self.ready[key])

    async def stop(self, grace_s: float = 10.0) -> int:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns the exit code."""
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        return int(self.process.returncode or 0)


async def start_child(
    name: str,
    module: str,
    args: Sequence[str] = (),
    *,
    log_dir: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout_s: float = 60.0,
) -> ChildProcess:
    """Run ``python -m module args`` and wait for its ready line; stderr goes to ``log_dir/name.log``."""
    log_file: IO[bytes] | int = asyncio.subprocess.DEVNULL
    log_path = None
    if log_dir is not None:
        log_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 -- once, before the child exists
        log_path = log_dir / f"{name}.log"
        log_file = log_path.open("ab")
    child_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        module,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=log_file,
        env=child_env,
        start_new_session=True,
    )
    if not isinstance(log_file, int):
        log_file.close()
    child = ChildProcess(name, process, {}, log_path)
    try:
        child.ready = await asyncio.wait_for(_read_ready(process), ready_timeout_s)
    except (TimeoutError, UnavailableError) as exc:
        await child.stop(grace_s=2.0)
        hint = f"; see {log_path}" if log_path else ""
        raise UnavailableError(f"{name} did not become ready: {exc or 'timeout'}{hint}") from exc
    # Keep draining stdout so a chatty child can never block on a full pipe.
    asyncio.get_running_loop().create_task(_drain(process))
    return child


async def _read_ready(process: asyncio.subprocess.Process) -> dict[str, Any]:
    assert process.stdout is not None
    while True:
        line = await process.stdout.readline()
        if not line:
            raise UnavailableError(f"exited with code {await process.wait()} before its ready line")
        with contextlib.suppress(ValueError):
            msg = json.loads(line)
            if isinstance(msg, dict) and msg.get("event") == "ready":
                return msg


async def _drain(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    with contextlib.suppress(Exception):
        while await process.stdout.read(65536):
            pass
