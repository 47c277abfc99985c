# Two commands do all set-up on a fresh machine: `make run` and `make test`.
# Only tmux comes from the system; everything else installs into .venv from pyproject.toml.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NVIM   ?= $(VENV)/bin/nvim
# Stamps make the install idempotent: pip runs again only when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.orchflow-runtime
DEV_STAMP     := $(VENV)/.orchflow-dev

.PHONY: install dev run test lint bench clean help

help:
	@echo "make run    open Neovim with orchflow from this checkout (throwaway config)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff + mypy"
	@echo "make bench  run benchmarks/ and print a table"
	@echo "make install  plugin-local .venv: runtime + orchestrator dependencies (lazy.nvim build step)"

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The orchestrator extra too: sidecar mode runs the orchestrator with this same Python.
$(RUNTIME_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[orchestrator]'
	@touch $@

$(DEV_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP)

dev: $(DEV_STAMP)

run: $(DEV_STAMP)
	@mkdir -p .tests/run
	XDG_CONFIG_HOME=$(CURDIR)/.tests/run/config XDG_DATA_HOME=$(CURDIR)/.tests/run/data \
	XDG_STATE_HOME=$(CURDIR)/.tests/run/state XDG_CACHE_HOME=$(CURDIR)/.tests/run/cache \
	XDG_RUNTIME_DIR=$(CURDIR)/.tests/run/runtime \
	ORCHFLOW_PYTHON=$(CURDIR)/$(PY) PATH=$(CURDIR)/$(VENV)/bin:$$PATH \
	$(NVIM) -u $(CURDIR)/scripts/dev_init.lua $(ARGS)

test: $(DEV_STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy

bench: $(DEV_STAMP)
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(PY) -m benchmarks $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .tests .pytest_cache .mypy_cache .ruff_cache
