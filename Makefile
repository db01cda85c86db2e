# One command per job; CI runs `make test` verbatim (.ci/run).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install lint format typecheck pytest pytest-main pytest-deploy pytest-runtime check test demo bench build compat compat-one clean

# Bytecode is cached in __pycache__/ (git ignores it) even where the shell says not to: the suite
# starts a dozen pytest processes and scores of child interpreters, each of which would compile
# the sources and the tests again (seconds of CPU per pytest process).
unexport PYTHONDONTWRITEBYTECODE

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

# The whole suite, the secret scan and the offline deploy checks included, as three runs at once
# (each one's output is printed whole when it ends): the main suite in parallel (pytest-xdist,
# with more workers than cores: many of its tests wait on child processes or the real clock), the
# deploy checks in one process of their own (they share one package build and its dependency
# cache in build/, which two processes building at once would race on: a rebuild then differs by
# a byte), and the suite again on the FC runtime's Python (pytest-runtime, below).
PYTEST_WORKERS ?= 4
PARALLEL := -n $(PYTEST_WORKERS)
SUITES := --no-print-directory --output-sync=target
pytest: install
	@$(MAKE) $(SUITES) -j2 pytest-main pytest-deploy

pytest-main: install
	$(VENV)/bin/pytest $(PARALLEL) --ignore=tests/deploy

pytest-deploy: install
	$(VENV)/bin/pytest tests/deploy

test: lint typecheck
	@$(MAKE) $(SUITES) -j3 pytest-main pytest-deploy pytest-runtime

# The inner loop: lint, types and the fast tests (unit and contract: no HTTP but the contract's
# emulator half), in seconds, with fewer examples per property (Hypothesis profile `quick`,
# tests/conftest.py). `make test` is still what CI runs.
check: lint typecheck
	$(VENV)/bin/pytest --hypothesis-profile=quick tests/unit tests/contract

# $(call on_python,VERSION,PYTEST ARGUMENTS,IF MISSING): the tests on Python VERSION in its own
# venv (.venv-VERSION, installed from the pinned requirements when they change). The interpreter
# is pythonVERSION on the PATH, else pyenv's build of it. IF MISSING: `skip` prints a line and
# goes on, anything else fails.
define on_python
set -e; version=$(1); venv=.venv-$$version; \
py=python$$version; $$py -c '' 2>/dev/null || \
  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$version.*/bin/python$$version 2>/dev/null | tail -n 1); \
if test -z "$$py"; then \
  if test "$(3)" = skip; then echo "== Python $$version: not on this machine, these tests skipped (install it: pyenv install $$version, or apt-get install python$$version python$$version-venv)"; exit 0; fi; \
  echo "no Python $$version on this machine"; exit 1; \
fi; \
test -x $$venv/bin/python || $$py -m venv $$venv; \
if test ! -f $$venv/.installed || test requirements.txt -nt $$venv/.installed || \
   test requirements-dev.txt -nt $$venv/.installed || test pyproject.toml -nt $$venv/.installed; then \
  $$venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt; \
  $$venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .; \
  touch $$venv/.installed; \
fi; \
echo "== Python $$version"; \
$$venv/bin/pytest -p no:cacheprovider -W ignore::DeprecationWarning $(2)
endef

# The unit and functional suites again on the FC runtime's Python (s.yaml: python3.10), whose
# standard library differs (datetime.fromisoformat, for one); skipped, saying so, where the
# machine has no Python 3.10. The deploy checks already build and import cp310 packages. Each
# property runs fewer examples here (Hypothesis profile `quick`); the main suite runs them all.
RUNTIME_PYTHON := 3.10
RUNTIME_WORKERS ?= 2
pytest-runtime:
	@$(call on_python,$(RUNTIME_PYTHON),-n $(RUNTIME_WORKERS) --hypothesis-profile=quick tests/unit tests/functional,skip)

# The whole suite on the FC runtimes' Pythons, 3.10 and 3.12; each must be on the machine. The
# deploy checks are left out: they build and run cp310 packages already.
COMPAT_PYTHONS ?= 3.10 3.12
compat:
	@set -e; for version in $(COMPAT_PYTHONS); do \
	  $(MAKE) --no-print-directory compat-one COMPAT_VERSION=$$version; \
	done

compat-one:
	@$(call on_python,$(COMPAT_VERSION),--ignore=tests/deploy,fail)

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

# Fleets of 1,000 and 10,000 instances on the emulator (50 ms a call), every run from the built
# FC package, the naive baseline and the cold start with and without bytecode; 5 to 8 minutes on
# 2 cores. Not part of `make test`. Writes bench/results/latest.{json,md}.
bench: install
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) .venv-3.* build dist .mypy_cache .ruff_cache .pytest_cache

# The fan-out section of `make bench` alone (the hub over 100 and 1,000 accounts; about 40 s).
bench-fanout: install
	$(PY) bench/run.py --only fanout
