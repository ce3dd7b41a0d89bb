"""Generate the Python stubs of protos/ into agentperf/v1 with the pinned grpcio-tools.

The stubs are committed; ``--check`` regenerates into a temporary folder and fails when the
committed ones differ (tests/test_protos.py runs it), so a stale stub cannot land.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "protos"
OUT_PACKAGE = Path("agentperf") / "v1"


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc  # dev dependency: only needed to (re)generate

    protos = sorted(PROTO_ROOT.glob("agentperf/v1/*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    # mypy-protobuf's plugin types the gRPC stubs (grpc_tools emits untyped *_pb2_grpc.py).
    plugin = Path(sys.executable).parent / "protoc-gen-mypy_grpc"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--plugin=protoc-gen-mypy_grpc={plugin}",
        f"--mypy_grpc_out={out_root}",
        *[str(p) for p in protos],
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    generated = sorted((out_root / OUT_PACKAGE).glob("*_pb2*.py*"))
    return generated


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if committed stubs are stale")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        target = ROOT / OUT_PACKAGE
        if args.check:
            stale = [
                p.name
                for p in fresh
                if not (target / p.name).exists() or not filecmp.cmp(p, target / p.name, shallow=False)
            ]
            extra = sorted({p.name for p in target.glob("*_pb2*.py*")} - {p.name for p in fresh})
            if stale or extra:
                print(f"stale generated stubs: {stale + extra}; run `make protos`", file=sys.stderr)
                return 1
            print(f"{len(fresh)} generated stubs are up to date")
            return 0
        for p in fresh:
            shutil.copyfile(p, target / p.name)
        print(f"wrote {len(fresh)} files to {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
