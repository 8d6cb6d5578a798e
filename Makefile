# The few tasks people run. VENV defaults to .venv; CI passes a fresh one.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test unit lint format serve bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Non-editable on purpose: tests then prove the installed package is complete.
install: $(PY)
	$(PY) -m pip install --quiet '.[test,lint]'

test: install
	scripts/services.sh
	$(VENV)/bin/pytest

# The fast half: in process (fakeredis, SQLite), no service needed, under a minute.
unit: install
	$(VENV)/bin/pytest -m unit

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

serve: install
	$(VENV)/bin/redrain serve

# Needs wrk and redis-server; see docs/performance.md. AGAINST=<git rev> adds a before/after.
bench: install
	$(VENV)/bin/python loadtest/bench.py $(if $(AGAINST),--against $(AGAINST))
