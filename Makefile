# One command per task; README, CI (.ci/run) and the pre-commit hook use these same targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-live lint typecheck check protos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Runtime dependencies only: enough for `make run`.
$(VENV)/.run-deps: pyproject.toml setup.py | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

# Development tools on top (tests, lint, types, proto generation).
$(VENV)/.dev-deps: $(VENV)/.run-deps
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

## run: install, then run the whole suite against the built-in simulator and print the result table
run: $(VENV)/.run-deps
	$(BIN)/agentperf run $(RUN_ARGS)

## test: install dev tools, then run every test (unit, service processes, end to end)
test: $(VENV)/.dev-deps
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

## test-live: the live test against a real `transformers serve` (torch CPU + transformers in .venv-live).
## If that env cannot be installed here, the live tests skip and say why.
test-live: $(VENV)/.dev-deps
	@if line=$$(bash scripts/live_env.sh); then eval "$$line"; else echo "live env unavailable: tests/live will skip" >&2; fi; \
	$(BIN)/python -m pytest -q tests/live

## lint: ruff (lint + format check) and a stale-stub check of the generated protobuf code
lint: $(VENV)/.dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/gen_protos.py --check

## typecheck: mypy --strict over the installed package layout
typecheck: $(VENV)/.dev-deps
	PY=$(BIN)/python scripts/typecheck.sh

check: lint typecheck test

## protos: regenerate agentperf/v1 from protos/ with the pinned grpcio-tools
protos: $(VENV)/.dev-deps
	$(BIN)/python scripts/gen_protos.py

clean:
	rm -rf .build build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
