#!/usr/bin/env bash
# mypy --strict over the package as it installs: services/ and loadgen/ are mapped under
# agentperf/ (setup.py), which mypy cannot follow, so we lay the mapping out as symlinks in
# .build/typecheck and point mypy there. Error paths are rewritten back to the real files.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
tree=.build/typecheck/agentperf
rm -rf .build/typecheck && mkdir -p "$tree"
for entry in agentperf/* agentperf/.[!.]*; do
  [ -e "$entry" ] || continue
  ln -s "../../../$entry" "$tree/$(basename "$entry")"
done
ln -s ../../../services "$tree/services"
ln -s ../../../loadgen "$tree/loadgen"
dirs=$(for d in tests bench scripts; do [ -d "$d" ] && echo "$d"; done)
set +e
# One invocation, so the package and the tests see the generated stubs the same way.
# shellcheck disable=SC2086
"$PY" -m mypy "$tree" $dirs "$@" 2>&1 | sed -e 's#^\.build/typecheck/agentperf/services/#services/#' \
  -e 's#^\.build/typecheck/agentperf/loadgen/#loadgen/#' -e 's#^\.build/typecheck/agentperf/#agentperf/#'
status=${PIPESTATUS[0]}
exit "$status"
