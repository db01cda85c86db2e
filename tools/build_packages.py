"""Build each function's Function Compute code package (s.yaml's `code:` directories).

For every function it writes `build/<function-name>/` and `build/<function-name>.zip` holding:

    index.py          the function's FC handler (s.yaml: handler index.handler)
    ecs_lifecycle/    the core package, without the local dev tool (cli.py) and caches
    python/           the pinned runtime dependencies (s.yaml: PYTHONPATH=/code/python)

The dependencies are installed for the FC runtime, not for this machine: Linux x86_64
manylinux2014 wheels (glibc 2.17, which Debian 10's glibc 2.28 runs) for CPython 3.10, binary
wheels only, so a developer's macOS can never ship the wrong compiled modules. pip itself runs
under a Python 3.10 interpreter: `--python-version` only picks wheel tags, while environment
markers are evaluated against the interpreter running pip, so a 3.11 pip silently drops
`async-timeout` (aiohttp needs it below 3.11) and the package fails to import on FC.
The dependencies are the same for the three functions, so they are installed once into
`build/.deps-<key>/` (the key hashes requirements.txt and the target) and copied from there:
rebuilding after a code change needs neither pip nor the network.

Standard library only, so that s.yaml's pre-deploy hook can run it with any python3 that has
a python3.10 with pip next to it (or set ECS_LIFECYCLE_RUNTIME_PYTHON to one).
Run from anywhere: `python3 tools/build_packages.py [--out DIR] [--cache DIR] [FUNCTION ...]`.
"""

from __future__ import annotations

import argparse
import ast
import glob
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

REPO: Final = Path(__file__).resolve().parents[1]
# s.yaml function name -> its directory under functions/.
FUNCTIONS: Final = {
    "ecs-stop": "stop",
    "ecs-release": "release",
    "ecs-auto-release": "auto_release",
}
CORE_PACKAGE: Final = "ecs_lifecycle"
HANDLER_FILE: Final = "index.py"
HANDLER_FUNCTION: Final = "handler"
DEPS_SUBDIR: Final = "python"
# The runtime in s.yaml (python3.10 on Debian 10); change both together.
RUNTIME_PYTHON: Final = "3.10"
PLATFORM: Final = "manylinux2014_x86_64"
# Development-only modules of the core package: never deployed.
EXCLUDED_CORE_FILES: Final = frozenset({"cli.py"})
# Caches, and the console scripts pip writes for the build machine's interpreter.
EXCLUDED_NAMES: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", "bin"})
EXCLUDED_SUFFIXES: Final = (".pyc", ".pyo")
COMPLETE_MARKER: Final = ".complete"
RUNTIME_PYTHON_OVERRIDE: Final = "ECS_LIFECYCLE_RUNTIME_PYTHON"
# Fixed zip timestamps (the zip epoch) so an unchanged package zips to the same bytes.
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The packages could not be built; the message says why."""


def find_runtime_python() -> str:
    """An interpreter of the runtime's Python version that has pip.

    Raises:
        BuildError: none was found; the message says where it looked.
    """
    name = f"python{RUNTIME_PYTHON}"
    candidates = [
        os.environ.get(RUNTIME_PYTHON_OVERRIDE),
        sys.executable,
        shutil.which(name),
        # pyenv's shim only runs when that version is selected; its real binary always does.
        *sorted(glob.glob(os.path.expanduser(f"~/.pyenv/versions/{RUNTIME_PYTHON}.*/bin/{name}"))),
        f"/usr/bin/{name}",
        f"/usr/local/bin/{name}",
    ]
    tried: list[str] = []
    for candidate in candidates:
        if not candidate or candidate in tried:
            continue
        tried.append(candidate)
        try:
            probe = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
                [candidate, "-c", _PROBE],
                check=False,
                capture_output=True,
                text=True,
                timeout=60,
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and probe.stdout.strip() == RUNTIME_PYTHON:
            return candidate
    raise BuildError(
        f"no {name} with pip found (tried {', '.join(tried)}). pip must run under the runtime's "
        f"Python version to resolve its dependencies right; install {name} or set "
        f"{RUNTIME_PYTHON_OVERRIDE} to one"
    )


# Prints the version only if pip is importable too.
_PROBE: Final = "import sys, pip; print('%d.%d' % sys.version_info[:2])"


def pip_arguments(python: str, requirements: Path, target: Path) -> list[str]:
    """The pip install that fetches the runtime's wheels, whatever machine runs the build."""
    return [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-warn-script-location",
        "--requirement",
        str(requirements),
        "--target",
        str(target),
        "--platform",
        PLATFORM,
        "--python-version",
        RUNTIME_PYTHON,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]


def deps_key(requirements: Path) -> str:
    """What the dependency install depends on: the pins and the target platform."""
    digest = hashlib.sha256(requirements.read_bytes())
    # "pip310": installs made before pip ran under the runtime's Python lacked marker-only deps.
    digest.update(f"\0{PLATFORM}\0{RUNTIME_PYTHON}\0cp\0pip310".encode())
    return digest.hexdigest()[:16]


def ensure_deps(requirements: Path, cache: Path) -> Path:
    """The installed dependencies for `requirements`, from the cache or freshly installed.

    Raises:
        BuildError: pip failed (no network and nothing cached, or a pin without such a wheel).
    """
    deps = cache / f".deps-{deps_key(requirements)}"
    if (deps / COMPLETE_MARKER).is_file():
        return deps
    python = find_runtime_python()
    staging = cache / f"{deps.name}.tmp-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    # The arguments are ours, not user input: no shell, a fixed command line.
    completed = subprocess.run(  # noqa: S603
        pip_arguments(python, requirements, staging), check=False, capture_output=True, text=True
    )
    if completed.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BuildError(
            f"pip could not install {requirements.name} for {PLATFORM} / CPython "
            f"{RUNTIME_PYTHON}:\n{completed.stderr.strip() or completed.stdout.strip()}"
        )
    _prune(staging)
    (staging / COMPLETE_MARKER).write_text("ok\n")
    # Only a complete install gets the cache name; an interrupted one is never reused.
    shutil.rmtree(deps, ignore_errors=True)
    staging.rename(deps)
    return deps


def _prune(root: Path) -> None:
    """Drop caches and build-machine scripts from a tree, in place."""
    for path in sorted(root.rglob("*"), reverse=True):
        if path.name in EXCLUDED_NAMES and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in EXCLUDED_SUFFIXES and path.is_file():
            path.unlink()


def _ignore_core(directory: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES)}
    if Path(directory).name == CORE_PACKAGE:
        ignored |= EXCLUDED_CORE_FILES & set(names)
    return ignored


def _ignore_deps(_directory: str, names: list[str]) -> set[str]:
    return {COMPLETE_MARKER} & set(names)


def build_package(function: str, out: Path, deps: Path) -> Path:
    """Write `out/<function>/` and return it.

    Raises:
        BuildError: the function's handler is missing or does not define `handler`.
    """
    source = REPO / "functions" / FUNCTIONS[function] / HANDLER_FILE
    check_handler(source)
    package = out / function
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    shutil.copy2(source, package / HANDLER_FILE)
    shutil.copytree(REPO / "shared" / CORE_PACKAGE, package / CORE_PACKAGE, ignore=_ignore_core)
    shutil.copytree(deps, package / DEPS_SUBDIR, ignore=_ignore_deps)
    return package


def check_handler(source: Path) -> None:
    """Refuse a handler file that does not define `handler(event, context)` at module level.

    Raises:
        BuildError: naming the file.
    """
    if not source.is_file():
        raise BuildError(f"{source} does not exist")
    tree = ast.parse(source.read_text(), filename=str(source))
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == HANDLER_FUNCTION:
            if len(node.args.args) == 2:
                return
            raise BuildError(f"{source}: {HANDLER_FUNCTION}() must take (event, context)")
    raise BuildError(f"{source} defines no module-level {HANDLER_FUNCTION}()")


def _files(root: Path) -> Iterator[Path]:
    yield from sorted(path for path in root.rglob("*") if path.is_file())


def write_zip(package: Path) -> Path:
    """Zip `package` next to it, reproducibly (sorted entries, fixed times and modes)."""
    archive = package.with_suffix(".zip")
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        for path in _files(package):
            entry = zipfile.ZipInfo(path.relative_to(package).as_posix(), ZIP_EPOCH)
            # Readable by the runtime's user whatever umask the build machine has; shared
            # libraries keep their execute bit.
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            entry.external_attr = (0o100000 | mode) << 16
            entry.compress_type = zipfile.ZIP_DEFLATED
            bundle.writestr(entry, path.read_bytes())
    return archive


def build(out: Path, cache: Path, functions: list[str]) -> list[Path]:
    """Build the named functions' packages; returns their zip files.

    Raises:
        BuildError: see ensure_deps and build_package.
    """
    deps = ensure_deps(REPO / "requirements.txt", cache)
    archives = []
    for function in functions:
        package = build_package(function, out, deps)
        archives.append(write_zip(package))
    return archives


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "build", help="default: build/")
    parser.add_argument(
        "--cache", type=Path, default=REPO / "build", help="dependency cache (default: build/)"
    )
    parser.add_argument(
        "functions", nargs="*", help=f"any of {', '.join(FUNCTIONS)} (default: all)"
    )
    options = parser.parse_args(argv)
    unknown = sorted(set(options.functions) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown function(s): {', '.join(unknown)}")
    try:
        archives = build(options.out, options.cache, options.functions or list(FUNCTIONS))
    except BuildError as error:
        print(f"build failed: {error}", file=sys.stderr)  # noqa: T201 - a command's output
        return 1
    for archive in archives:
        size = archive.stat().st_size / 1e6
        print(f"built {archive.with_suffix('')}/ and {archive.name} ({size:.1f} MB)")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
