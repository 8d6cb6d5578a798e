# The few tasks people run. VENV defaults to .venv; CI passes a fresh one.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install test lint format serve

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Non-editable on purpose: tests then prove the installed package is complete.
install: $(PY)
	$(PY) -m pip install --quiet '.[test,lint]'

test: install
	scripts/services.sh
	$(VENV)/bin/pytest

lint: install
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

serve: install
	$(VENV)/bin/redrain serve
