"""Build each function's Function Compute code package (s.yaml's `code:` directories).

For every function it writes `build/<function-name>/` and `build/<function-name>.zip` holding:

    index.py          the function's FC handler (s.yaml: handler index.handler)
    ecs_lifecycle/    the core package, without the local dev tool (cli.py) and caches
    python/           the pinned runtime dependencies (s.yaml: PYTHONPATH=/code/python)

Every module ships with its bytecode, compiled by the runtime's Python version: FC unpacks the
package into /code, which is read-only, so Python can never cache bytecode there and a package
without it compiles every module it imports on every cold start (the ECS SDK alone is over a
thousand modules). The bytecode is `unchecked-hash`: valid without the sources' timestamps, which
unzipping changes, and never compared with the source, which cannot change in /code. The sources
stay, for readable tracebacks. What the runtime never imports is left out: test folders inside
the dependencies, type stubs and caches; every distribution keeps its licence and metadata.

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
# s.yaml function name -> its directory under functions/ (ecs-fanout: s.multi-account.yaml's hub).
FUNCTIONS: Final = {
    "ecs-stop": "stop",
    "ecs-release": "release",
    "ecs-auto-release": "auto_release",
    "ecs-fanout": "fanout",
}
CORE_PACKAGE: Final = "ecs_lifecycle"
HANDLER_FILE: Final = "index.py"
HANDLER_FUNCTION: Final = "handler"
DEPS_SUBDIR: Final = "python"
# The runtime in s.yaml (python3.10 on Debian 10); change both together.
RUNTIME_PYTHON: Final = "3.10"
PLATFORM: Final = "manylinux2014_x86_64"
# Where FC unpacks the package: the paths compiled into the bytecode (tracebacks show them).
FC_CODE_DIR: Final = "/code"
# Development-only modules of the core package: never deployed.
EXCLUDED_CORE_FILES: Final = frozenset({"cli.py"})
# Caches, and the console scripts pip writes for the build machine's interpreter. Bytecode from
# anywhere else is dropped too: the build compiles its own, with the runtime's Python.
EXCLUDED_NAMES: Final = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache", "bin"})
EXCLUDED_SUFFIXES: Final = (".pyc", ".pyo")
# What the runtime never imports from a dependency: its own test suites and its type stubs.
EXCLUDED_DEPENDENCY_DIRECTORIES: Final = frozenset({"tests", "test"})
EXCLUDED_DEPENDENCY_SUFFIXES: Final = (".pyi",)
# Bytecode that needs no source timestamp (see the module docstring); the cache tag it is
# written under is the runtime's, e.g. index.cpython-310.pyc.
INVALIDATION_MODE: Final = "unchecked-hash"
BYTECODE_TAG: Final = "cpython-" + RUNTIME_PYTHON.replace(".", "")
COMPLETE_MARKER: Final = ".complete"
RUNTIME_PYTHON_OVERRIDE: Final = "ECS_LIFECYCLE_RUNTIME_PYTHON"
# Fixed zip timestamps (the zip epoch) so an unchanged package zips to the same bytes.
ZIP_EPOCH: Final = (1980, 1, 1, 0, 0, 0)


class BuildError(Exception):
    """The packages could not be built; the message says why."""


def find_runtime_python() -> str:
    """An interpreter of the runtime's Python version that has pip: it installs and compiles.

    Raises:
        BuildError: none was found (the message says where it looked), or the one named by
            ECS_LIFECYCLE_RUNTIME_PYTHON is another version.
    """
    name = f"python{RUNTIME_PYTHON}"
    chosen = os.environ.get(RUNTIME_PYTHON_OVERRIDE)
    if chosen:
        # Asked for by name: another version would compile bytecode the runtime cannot load.
        found = _probe_version(chosen)
        if found != RUNTIME_PYTHON:
            raise BuildError(
                f"{RUNTIME_PYTHON_OVERRIDE}={chosen} is "
                f"{f'Python {found}' if found else 'not a Python with pip'}, and the package "
                f"must be built by the runtime's Python {RUNTIME_PYTHON} (s.yaml: {name})"
            )
        return chosen
    candidates = [
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
        if _probe_version(candidate) == RUNTIME_PYTHON:
            return candidate
    raise BuildError(
        f"no {name} with pip found (tried {', '.join(tried)}). pip must run under the runtime's "
        f"Python version to resolve its dependencies right; install {name} or set "
        f"{RUNTIME_PYTHON_OVERRIDE} to one"
    )


# Prints the version only if pip is importable too.
_PROBE: Final = "import sys, pip; print('%d.%d' % sys.version_info[:2])"


def _probe_version(candidate: str) -> str | None:
    """The Python version ("3.10") of `candidate` if it runs and has pip, else None."""
    try:
        probe = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
            [candidate, "-c", _PROBE],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return probe.stdout.strip() if probe.returncode == 0 else None


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
    # "pip310": installs made before pip ran under the runtime's Python lacked marker-only deps;
    # the pruning and the bytecode (its mode, its fixed hash seed) are part of the cached install.
    digest.update(f"\0{PLATFORM}\0{RUNTIME_PYTHON}\0cp\0pip310".encode())
    digest.update(f"\0{INVALIDATION_MODE}\0seed0".encode())
    return digest.hexdigest()[:16]


def ensure_deps(requirements: Path, cache: Path, python: str) -> Path:
    """The installed and compiled dependencies for `requirements`, cached or freshly installed.

    `python` is the runtime's interpreter (find_runtime_python): pip and the compiler run on it.

    Raises:
        BuildError: pip failed (no network and nothing cached, or a pin without such a wheel),
            or a dependency's module does not compile.
    """
    deps = cache / f".deps-{deps_key(requirements)}"
    if (deps / COMPLETE_MARKER).is_file():
        return deps
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
    compile_bytecode(python, staging, f"{FC_CODE_DIR}/{DEPS_SUBDIR}", [staging])
    (staging / COMPLETE_MARKER).write_text("ok\n")
    # Only a complete install gets the cache name; an interrupted one is never reused.
    shutil.rmtree(deps, ignore_errors=True)
    staging.rename(deps)
    return deps


def _prune(root: Path) -> None:
    """Drop what the runtime never imports from installed dependencies, in place.

    Caches, build-machine scripts, foreign bytecode, test folders and type stubs go; licences and
    `*.dist-info` metadata stay.
    """
    for path in sorted(root.rglob("*"), reverse=True):
        if not path.exists():  # inside a folder removed a moment ago
            continue
        if path.is_dir() and (
            path.name in EXCLUDED_NAMES
            or (path.name in EXCLUDED_DEPENDENCY_DIRECTORIES and not _is_metadata(path, root))
        ):
            shutil.rmtree(path)
        elif path.is_file() and path.name.endswith(
            EXCLUDED_SUFFIXES + EXCLUDED_DEPENDENCY_SUFFIXES
        ):
            path.unlink()


def _is_metadata(path: Path, root: Path) -> bool:
    """Whether `path` lies in a distribution's metadata (`*.dist-info`), which always ships."""
    return any(part.endswith(".dist-info") for part in path.relative_to(root).parts)


def compile_bytecode(python: str, root: Path, deployed_root: str, paths: list[Path]) -> None:
    """Compile every module under `paths` (inside `root`) with `python`, for the runtime.

    Tracebacks name the files where FC will have them: `root` is replaced by `deployed_root`.

    Raises:
        BuildError: a module does not compile (the runtime could not import it either).
    """
    command = [
        python,
        "-m",
        "compileall",
        "-q",
        "-j",
        "0",  # one worker per core
        "--invalidation-mode",
        INVALIDATION_MODE,
        "-s",
        str(root.resolve()),
        "-p",
        deployed_root,
        *(str(path.resolve()) for path in paths),
    ]
    # A fixed hash seed: set constants (`x in {"a", "b"}`) are marshalled in hash order, so a
    # random seed would make every build's bytecode, and zip, differ.
    environment = {**os.environ, "PYTHONHASHSEED": "0"}
    # The arguments are ours, not user input: no shell, a fixed command line.
    completed = subprocess.run(  # noqa: S603
        command, check=False, capture_output=True, text=True, env=environment
    )
    if completed.returncode != 0:
        raise BuildError(
            f"compileall ({python}) failed under {root}:\n"
            f"{completed.stdout.strip() or completed.stderr.strip()}"
        )


def missing_bytecode(package: Path) -> list[str]:
    """The modules under `package` without bytecode for the runtime's Python, as relative paths."""
    return [
        source.relative_to(package).as_posix()
        for source in sorted(package.rglob("*.py"))
        if not (source.parent / "__pycache__" / f"{source.stem}.{BYTECODE_TAG}.pyc").is_file()
    ]


def _ignore_core(directory: str, names: list[str]) -> set[str]:
    ignored = {name for name in names if name in EXCLUDED_NAMES or name.endswith(EXCLUDED_SUFFIXES)}
    if Path(directory).name == CORE_PACKAGE:
        ignored |= EXCLUDED_CORE_FILES & set(names)
    return ignored


def _ignore_deps(_directory: str, names: list[str]) -> set[str]:
    return {COMPLETE_MARKER} & set(names)


def build_package(function: str, out: Path, deps: Path, python: str) -> Path:
    """Write `out/<function>/`, compiled by `python` (the runtime's), and return it.

    Raises:
        BuildError: the function's handler is missing or does not define `handler`, or a module
            does not compile or has no bytecode for the runtime.
    """
    source = REPO / "functions" / FUNCTIONS[function] / HANDLER_FILE
    check_handler(source)
    package = out / function
    shutil.rmtree(package, ignore_errors=True)
    package.mkdir(parents=True)
    shutil.copy2(source, package / HANDLER_FILE)
    shutil.copytree(REPO / "shared" / CORE_PACKAGE, package / CORE_PACKAGE, ignore=_ignore_core)
    shutil.copytree(deps, package / DEPS_SUBDIR, ignore=_ignore_deps)
    compile_bytecode(python, package, FC_CODE_DIR, [package / HANDLER_FILE, package / CORE_PACKAGE])
    missing = missing_bytecode(package)
    if missing:
        raise BuildError(
            f"{len(missing)} module(s) in {package} have no {BYTECODE_TAG} bytecode, e.g. "
            f"{', '.join(missing[:5])}"
        )
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
    # Even with the dependencies cached: the core is compiled by the runtime's Python every time.
    python = find_runtime_python()
    deps = ensure_deps(REPO / "requirements.txt", cache, python)
    archives = []
    for function in functions:
        package = build_package(function, out, deps, python)
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
        zipped = archive.stat().st_size / 1e6
        unpacked = sum(path.stat().st_size for path in _files(archive.with_suffix(""))) / 1e6
        print(  # noqa: T201 - a command's output
            f"built {archive.with_suffix('')}/ ({unpacked:.1f} MB) and {archive.name} "
            f"({zipped:.1f} MB)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
