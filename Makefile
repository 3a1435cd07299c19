# The kit's commands. Each creates .venv and installs requirements.txt when they are missing,
# so on a fresh machine each is the only command a person types.
#
#   make lab       set up, start the sandbox if needed, open JupyterLab on your copies in lab/
#   make test      set up, lint, and run every test (helpers, sandbox, notebooks under nbval, ...)
#   make sandbox   set up, then run the sandbox in the foreground (Ctrl-C stops it)
#   make export    set up, run every notebook headless and write HTML, Markdown and an index to exports/

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.requirements.stamp
PYTEST_ARGS ?=
# Options for JupyterLab, e.g. make lab LAB_ARGS="--no-browser --port 8890"
LAB_ARGS ?=
EXPORT_ARGS ?=
BENCH_ARGS ?=
# The conformance battery's target (default: the sandbox's own custom server `default`, with the agent's key).
CONFORMANCE_ARGS ?= --org http://127.0.0.1:8400 --data-dir .sandbox --issuer http://127.0.0.1:8400/oauth2/default \
	--client-id wlpSandboxAgent00001 --private-key .keys/agent.pem --scope todo.read --ungranted-scope todo.admin \
	--okta-shaped

.DEFAULT_GOAL := help
.PHONY: help setup lab test lint sandbox sandbox-start sandbox-stop sandbox-status notebooks export exercises bench clean

help:
	@echo "make lab       open JupyterLab on your copies in lab/ (starts the sandbox when local; LAB_ARGS=\"--no-browser\")"
	@echo "make test      lint and run every test"
	@echo "make test-browser  run only the browser tests (JupyterLab in Chromium; screenshots in pytest's tmp folders)"
	@echo "make test-hub  run only the training-room test (a real JupyterHub on loopback; as root)"
	@echo "make sandbox   run the sandbox in the foreground"
	@echo "make notebooks re-run the notebooks headless and store their outputs (for authors)"
	@echo "make bench     run the benchmarks and print their figures (BENCH_ARGS=\"endpoints fuzz\")"
	@echo "make conformance  run the ID-JAG conformance battery against a resource authorization server (CONFORMANCE_ARGS)"
	@echo "make exercises write the blank exercise notebooks to exercises/ (for trainers)"
	@echo "make export    publish the notebooks: HTML, Markdown, index in exports/ (EXPORT_ARGS=\"--out DIR 00 01\")"

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed, found " + sys.version.split()[0])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/python tools/lab.py lab $(LAB_ARGS)

sandbox: setup
	$(BIN)/python tools/lab.py sandbox

sandbox-start: setup
	$(BIN)/python tools/lab.py sandbox-start

sandbox-stop: setup
	$(BIN)/python -m sandbox stop

sandbox-status: setup
	$(BIN)/python -m sandbox status

lint: setup
	$(BIN)/ruff check helpers sandbox tests tools bench deploy
	$(BIN)/python -m tools.import_cycles

test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Only the browser tests (JupyterLab in /usr/bin/chromium); `make test` runs them too.
.PHONY: test-browser
test-browser: setup
	$(BIN)/python -m pytest tests/browser $(PYTEST_ARGS)

# Only the training-room test (a real JupyterHub, two Unix users; needs root); `make test` runs it too.
.PHONY: test-hub
test-hub: setup
	$(BIN)/python -m pytest tests/hub $(PYTEST_ARGS)

notebooks: setup
	$(BIN)/python tools/run_notebooks.py

# The notebooks with each "your turn" answer replaced by its blank, outputs cleared (git-ignored).
exercises: setup
	$(BIN)/python tools/make_exercises.py

# Fetches the pages' pinned scripts from npm into tools/export_assets/node_modules the first time.
export: setup
	$(BIN)/python tools/export.py $(EXPORT_ARGS)

# Figures, not pass/fail: per-endpoint latency, throughput, notebooks, client assertions, a long fuzz run.
bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

# The ID-JAG conformance battery (helpers/conformance.py; docs/resource-server.md); exits 1 on a failed row.
.PHONY: conformance
conformance: setup
	$(BIN)/python -m helpers.conformance $(CONFORMANCE_ARGS)

clean:
	rm -rf .pytest_cache .ruff_cache build *.egg-info
