"""Deploy-check fixtures: the schema, s.yaml, one build per session, the runtime's Python."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from ecs_emulator import EcsEmulator

from .checks import REPO_ROOT, SCHEMA_PATH, load_spec, resolved_props

BUILD_TOOL: Final = REPO_ROOT / "tools" / "build_packages.py"
# Where the dependency install is cached between sessions (what `make build` uses too), so
# only the first run ever needs pip's index.
DEPS_CACHE: Final = REPO_ROOT / "build"
RUNTIME_PYTHON_OVERRIDE: Final = "ECS_LIFECYCLE_RUNTIME_PYTHON"
# Where the package check must run (CI sets CI=true): a missing runtime Python fails it there;
# on a newcomer's machine it is skipped, said once, with the command that installs it.
REQUIRE_RUNTIME: Final = "ECS_LIFECYCLE_REQUIRE_RUNTIME"
_MISSING_RUNTIME: list[str] = []


def runtime_required() -> bool:
    return any(
        os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}
        for name in ("CI", REQUIRE_RUNTIME)
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _MISSING_RUNTIME:
        terminalreporter.write_line(_MISSING_RUNTIME[0], yellow=True, bold=True)


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    if not SCHEMA_PATH.is_file():
        pytest.fail(f"the fc3 schema is expected at {SCHEMA_PATH} (tests/deploy/fc3-schema.md)")
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
    return loaded


@pytest.fixture(scope="session")
def spec() -> dict[str, Any]:
    return load_spec()


@pytest.fixture(scope="session")
def props(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resolved_props(spec)


@pytest.fixture(scope="session")
def runtime_version(props: dict[str, dict[str, Any]]) -> str:
    """The Python version of s.yaml's runtime, e.g. "3.10" for python3.10."""
    runtimes = {resource["runtime"] for resource in props.values()}
    assert len(runtimes) == 1, f"the functions should share one runtime, not {runtimes}"
    runtime = runtimes.pop()
    assert runtime.startswith("python3."), runtime
    return str(runtime.removeprefix("python"))


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory, runtime_python: str) -> Path:
    """The build's output directory: <function>/ and <function>.zip for each function.

    The build compiles with the runtime's Python (`runtime_python`), so it waits on that check.
    """
    out = tmp_path_factory.mktemp("build")
    completed = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [sys.executable, str(BUILD_TOOL), "--out", str(out), "--cache", str(DEPS_CACHE)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, f"the build failed:\n{completed.stdout}\n{completed.stderr}"
    return out


def _probe(candidate: str, version: str) -> str | None:
    """The real executable behind `candidate` if it runs and is Python `version`."""
    try:
        completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
            [
                candidate,
                "-I",
                "-S",
                "-c",
                "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])",
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError:
        return None
    lines = completed.stdout.split()
    if completed.returncode != 0 or len(lines) != 2 or lines[1] != version:
        return None
    return lines[0]


@pytest.fixture(scope="session")
def runtime_python(runtime_version: str) -> str:
    """An interpreter of the FC runtime's Python version.

    Missing, the package checks fail where they are required (CI, or ECS_LIFECYCLE_REQUIRE_RUNTIME)
    and are skipped elsewhere, with one line at the end of the run saying how to install it.
    """
    name = f"python{runtime_version}"
    pyenv_roots = [os.environ.get("PYENV_ROOT", ""), os.path.expanduser("~/.pyenv")]
    candidates = [
        os.environ.get(RUNTIME_PYTHON_OVERRIDE),
        shutil.which(name),
        # pyenv's shim only runs when that version is selected; its real binary always does.
        *(
            found
            for root in pyenv_roots
            if root
            for found in sorted(glob.glob(f"{root}/versions/{runtime_version}.*/bin/{name}"))
        ),
        f"/usr/bin/{name}",
        f"/usr/local/bin/{name}",
    ]
    tried = []
    for candidate in candidates:
        if not candidate or candidate in tried:
            continue
        tried.append(candidate)
        found = _probe(candidate, runtime_version)
        if found:
            return found
    message = (
        f"{name} is not on this machine, and the function packages must be built and imported by "
        f"the FC runtime's Python version (s.yaml runtime python{runtime_version}). Tried: "
        f"{', '.join(tried) or 'nothing'}. Install it with `pyenv install {runtime_version}` or "
        f"`apt-get install {name} {name}-venv`, or point {RUNTIME_PYTHON_OVERRIDE} at one."
    )
    if runtime_required():
        pytest.fail(message)
    if not _MISSING_RUNTIME:
        _MISSING_RUNTIME.append(f"package checks skipped: {message}")
    pytest.skip(
        f"no {name} on this machine (the run's 'package checks skipped' line says how to get it)"
    )


@pytest.fixture
def emulator(ecs_live_emulator: EcsEmulator) -> EcsEmulator:
    """A real-time emulator: the child interpreter runs the real clock, so the emulator must too."""
    ecs_live_emulator.settings.stop_delay = 1
    return ecs_live_emulator


@dataclass(frozen=True)
class Runtime:
    """The FC runtime's interpreter on this machine."""

    python: str
    version: str


@dataclass(frozen=True)
class Deployment:
    """What `s deploy` would upload: the built packages and each function's resolved props."""

    packages: Path
    props: dict[str, dict[str, Any]]


@pytest.fixture(scope="session")
def runtime(runtime_python: str, runtime_version: str) -> Runtime:
    return Runtime(runtime_python, runtime_version)


@pytest.fixture(scope="session")
def deployment(packages: Path, props: dict[str, dict[str, Any]]) -> Deployment:
    return Deployment(packages, props)
