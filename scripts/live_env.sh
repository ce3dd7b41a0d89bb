#!/usr/bin/env bash
# Creates the separate virtual env for the live test against `transformers serve` (tests/live/).
#
# torch and transformers are far too big for the project's own venv, so they live in their own
# (default .venv-live, or $LIVE_VENV). The CPU torch wheel is pinned because a local wheel of it
# exists on the build machines (fast); transformers' "serving" extra brings the HTTP server
# (versions as checked with tests/live; override with TORCH_VERSION / TRANSFORMERS_VERSION).
# Prints the line to export so that tests/live finds the server, and the time the install took.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${LIVE_VENV:-.venv-live}
PYTHON=${PYTHON:-python3}
TORCH_VERSION=${TORCH_VERSION:-2.13.0}
TRANSFORMERS_VERSION=${TRANSFORMERS_VERSION:-5.23.0}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
"$VENV/bin/python" -m pip install -q "transformers[serving]==$TRANSFORMERS_VERSION"
"$VENV/bin/transformers" --help >/dev/null
echo "live env ready in $(($(date +%s) - start)) s: $("$VENV/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)')" >&2
echo "export AGENTPERF_LIVE_TRANSFORMERS=$(cd "$VENV/bin" && pwd)/transformers"
