# Two commands do everything on a fresh machine: `make run` and `make test`.
# `make check` is what CI runs: lint, format check, type check, import rules, then every test.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run run-https test test-fast bench lint fmt format-check typecheck imports static check clean venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(RUN_STAMP): requirements.txt requirements-nodeps.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-nodeps.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	$(BIN)/pip install -q --no-deps -r requirements-nodeps.txt
	touch $@ $(RUN_STAMP)

venv: $(RUN_STAMP)

# The whole local stack: MQTT broker + rule engine, the local Web API (when present) and the app.
run: $(RUN_STAMP)
	$(BIN)/python -m core serve

# The same over HTTPS on the LAN (phones give the camera only to https): self-signed certificate
# in <data dir>/tls, QR code of the URL printed here and shown in the app.
run-https: $(RUN_STAMP)
	$(BIN)/python -m core app https

test: $(DEV_STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The quick tests (marker `fast`, chosen in tests/conftest.py): use cases on fakes and other
# tests without a face model, browser, broker or child process. Plugins are not autoloaded
# (schemathesis, moto, playwright cost seconds to import); prints how long it took.
test-fast: $(DEV_STAMP)
	@start=$$(date +%s%N); \
	PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 $(BIN)/python -m pytest -p pytest_timeout -m fast -q $(PYTEST_ARGS); rc=$$?; \
	echo "make test-fast: $$(( ($$(date +%s%N) - start) / 1000000 )) ms wall (load average $$(cut -d' ' -f1 /proc/loadavg))"; \
	exit $$rc

# Every benchmark prints its figures; BENCH=faces runs one (bench/faces.py).
bench: $(DEV_STAMP)
	@set -e; for f in $(if $(BENCH),bench/$(BENCH).py,bench/*.py); do \
	  echo "== $$f"; $(BIN)/python $$f $(BENCH_ARGS); done

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

format-check: $(DEV_STAMP)
	$(BIN)/ruff format --check .

# mypy over core/ (configured in pyproject.toml)
typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# The import rules (pyproject.toml [tool.importlinter]); tests/test_import_rules.py runs them too.
imports: $(DEV_STAMP)
	$(BIN)/lint-imports --no-logo

# Format, then fix what ruff can fix.
fmt: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Everything but the tests (about a minute): run it before landing.
static: lint format-check typecheck imports

# Everything CI gates on; the quick checks first so a lint slip fails in seconds, not minutes.
# The tests run once (`make test`; test-fast is a subset of it, so not repeated here).
check: static test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
