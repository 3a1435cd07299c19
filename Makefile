# The kit's commands. Each creates .venv and installs requirements.txt when they are missing,
# so on a fresh machine each is the only command a person types.
#
#   make lab       set up, start the sandbox if needed, open JupyterLab on notebooks/
#   make test      set up, lint, and run every test (helpers, sandbox, notebooks under nbval, ...)
#   make sandbox   set up, then run the sandbox in the foreground (Ctrl-C stops it)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help setup lab test lint sandbox sandbox-start sandbox-stop sandbox-status notebooks clean

help:
	@echo "make lab       open JupyterLab on notebooks/ (starts the sandbox when the org URL is local)"
	@echo "make test      lint and run every test"
	@echo "make sandbox   run the sandbox in the foreground"
	@echo "make notebooks re-run the notebooks headless and store their outputs (for authors)"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "Python 3.10 or newer is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/python tools/lab.py lab

sandbox: setup
	$(BIN)/python tools/lab.py sandbox

sandbox-start: setup
	$(BIN)/python tools/lab.py sandbox-start

sandbox-stop: setup
	$(BIN)/python -m sandbox stop

sandbox-status: setup
	$(BIN)/python -m sandbox status

lint: setup
	$(BIN)/ruff check helpers sandbox tests tools

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

notebooks: setup
	$(BIN)/python tools/run_notebooks.py

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
