# MTQuant: two commands on a fresh machine — `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_DEV := $(VENV)/.installed-dev

.PHONY: run test lint typecheck docs bench clean

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (MTQuant needs Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip >/dev/null

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $@ $(STAMP_RUN)

## run: 3-phase training on the default packaged data, then the backtest report
run: $(STAMP_RUN)
	$(PY) scripts/run_main.py

## test: lint, types, the test suite with coverage (slow tests too when CI=true)
test: $(STAMP_DEV)
	$(PY) scripts/run_tests.py

bench: $(STAMP_DEV)
	$(PY) scripts/bench.py

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache .mypy_cache .ruff_cache

## docs: the Markdown guides and the API reference, warnings are errors
docs: $(STAMP_DEV)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html
