"""Generated stubs are committed; this fails when they no longer match protos/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_stubs_are_up_to_date() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_wheel_has_a_single_import_root(tmp_path: Path) -> None:
    """services/ and loadgen/ must install as agentperf.services / agentperf.loadgen, nothing generic."""
    import zipfile

    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("agentperf-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {name.split("/")[0] for name in names}
    assert roots == {"agentperf", next(r for r in roots if r.endswith(".dist-info"))}
    assert "agentperf/services/__init__.py" in names and "agentperf/loadgen/__init__.py" in names
    assert "agentperf/v1/common_pb2.py" in names and "agentperf/py.typed" in names
    assert "agentperf/sim/profiles/tiny.yaml" in names
