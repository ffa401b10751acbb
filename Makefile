# Two commands do everything on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: run run-https test bench lint fmt clean venv

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

# Every benchmark prints its figures; BENCH=faces runs one (bench/faces.py).
bench: $(DEV_STAMP)
	@set -e; for f in $(if $(BENCH),bench/$(BENCH).py,bench/*.py); do \
	  echo "== $$f"; $(BIN)/python $$f $(BENCH_ARGS); done

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

fmt: $(DEV_STAMP)
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
