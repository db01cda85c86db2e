# One command per job; CI runs `make test` verbatim (.ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint format typecheck secrets unit test demo bench build clean

$(STAMP): requirements.txt requirements-dev.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy

unit: install
	$(VENV)/bin/pytest

test: lint typecheck unit

# Function Compute code packages for s.yaml: build/<function>/ and build/<function>.zip. Needs only
# python3 with pip (s.yaml's pre-deploy hook runs the same script); dependencies are cached.
build:
	$(PYTHON) tools/build_packages.py

demo: install
	$(VENV)/bin/ecs-lifecycle demo

# Fleets of 1,000 and 10,000 instances on the emulator (50 ms a call), the naive baseline and
# import time; about 6 minutes. Not part of `make test`. Writes bench/results/latest.{json,md}.
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build dist .mypy_cache .ruff_cache .pytest_cache
