"""``python -m agentperf.sim`` refuses bad configuration with exit code 2 and says why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agentperf.sim", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_bad_configuration_exits_2_naming_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("gpus: 1\nwatts: 3\n")
    for args, needle in (
        (["--set", "colour=blue"], "colour"),
        (["--set", f"profile={bad}"], "p.yaml"),
    ):
        done = run(*args)
        assert done.returncode == 2
        assert needle in done.stderr


def test_print_config_shows_the_effective_configuration() -> None:
    done = run("--set", "profile_overrides.gpus=4", "--set", "port=8000", "--print-config")
    assert done.returncode == 0
    config = json.loads(done.stdout)
    assert (config["port"], config["profile_overrides"], config["profile"]) == (8000, {"gpus": 4}, "tiny")
