# One command per job; CI runs `make test` verbatim (.ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint format typecheck pytest test demo bench build compat clean

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

# The whole suite, the secret scan and the offline deploy checks included.
pytest: install
	$(VENV)/bin/pytest

test: lint typecheck pytest

# The suite on the FC runtimes' Pythons, 3.10 and 3.12 (where the machine has them), each in its
# own venv. The deploy checks are left out: they build and run cp310 packages already.
COMPAT_PYTHONS ?= 3.10 3.12
compat:
	@set -e; for version in $(COMPAT_PYTHONS); do \
	  venv=.venv-$$version; \
	  py=python$$version; $$py -c '' 2>/dev/null || \
	    py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$version.*/bin/python$$version 2>/dev/null | tail -n 1); \
	  test -n "$$py" || { echo "no Python $$version on this machine"; exit 1; }; \
	  test -x $$venv/bin/python || $$py -m venv $$venv; \
	  $$venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt; \
	  $$venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .; \
	  echo "== Python $$version"; \
	  $$venv/bin/pytest -p no:cacheprovider --ignore=tests/deploy -W ignore::DeprecationWarning; \
	done

# Function Compute code packages for s.yaml: build/<function>/ and build/<function>.zip. Needs only
# python3 with pip (s.yaml's pre-deploy hook runs the same script); dependencies are cached.
# An ECS_LIFECYCLE_RUNTIME_PYTHON that is not a Python 3.10 with pip fails the build instead of
# letting the script fall back to another interpreter; the one used is always said.
build:
	@if [ -n "$$ECS_LIFECYCLE_RUNTIME_PYTHON" ] && ! "$$ECS_LIFECYCLE_RUNTIME_PYTHON" -c \
	    'import sys, pip; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; then \
	  echo "make build: ECS_LIFECYCLE_RUNTIME_PYTHON=$$ECS_LIFECYCLE_RUNTIME_PYTHON is not a Python 3.10 with pip" >&2; \
	  exit 1; \
	fi
	@$(PYTHON) -c 'import sys; sys.path.insert(0, "tools"); import build_packages as b; \
	  print("make build: the dependencies are resolved by", b.find_runtime_python())'
	$(PYTHON) tools/build_packages.py

demo: install
	$(VENV)/bin/ecs-lifecycle demo

# Fleets of 1,000 and 10,000 instances on the emulator (50 ms a call), the naive baseline and
# import time; about 4 minutes on 2 cores. Not part of `make test`. Writes bench/results/latest.{json,md}.
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .venv-3.* build dist .mypy_cache .ruff_cache .pytest_cache
