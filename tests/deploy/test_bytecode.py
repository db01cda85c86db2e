"""The built packages carry their bytecode, valid for the FC runtime and usable from /code.

FC unpacks a package into /code, which is read-only: a module without valid bytecode is compiled
again on every cold start. So every shipped module must have bytecode of the runtime's Python
version (s.yaml's runtime), hash-based and unchecked (unzipping changes the sources' times), and
importing the package with its directory read-only must compile nothing and write nothing.
These are checks of the package's contents, not timings (`make bench` times them).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any, Final

from ecs_emulator import EcsEmulator
from tests.support import SAMPLES

from .conftest import BUILD_TOOL, DEPS_CACHE, RUNTIME_PYTHON_OVERRIDE, Runtime

EVENT: Final = SAMPLES / "manual-release-dry-run.json"
# PEP 552: bit 0 set = hash-based; bit 1 clear = the source is never compared.
UNCHECKED_HASH_FLAGS: Final = 0b01

# Runs in the runtime's interpreter: every module's bytecode, checked as its import system would.
VERIFY_BYTECODE: Final = r"""
import importlib.util, json, os, sys
root = sys.argv[1]
problems, modules = [], 0
for directory, folders, files in os.walk(root):
    for name in sorted(files):
        if not name.endswith(".py"):
            continue
        modules += 1
        source = os.path.join(directory, name)
        cached = importlib.util.cache_from_source(source)
        relative = os.path.relpath(source, root)
        if not os.path.isfile(cached):
            problems.append(relative + ": no " + os.path.basename(cached))
            continue
        with open(cached, "rb") as handle:
            header = handle.read(16)
        with open(source, "rb") as handle:
            expected_hash = importlib.util.source_hash(handle.read())
        if header[:4] != importlib.util.MAGIC_NUMBER:
            problems.append(relative + ": magic " + header[:4].hex())
        elif int.from_bytes(header[4:8], "little") != int(sys.argv[2]):
            problems.append(relative + ": flags " + str(int.from_bytes(header[4:8], "little")))
        elif header[8:16] != expected_hash:
            problems.append(relative + ": the bytecode is not of this source")
print(json.dumps({"tag": sys.implementation.cache_tag, "modules": modules, "problems": problems}))
"""

# Runs in the runtime's interpreter as FC would: only the package on the path, then the handler
# handles one event. Any module compiled from source instead of loaded from bytecode is recorded.
IMPORT_READ_ONLY: Final = r"""
import importlib.machinery, json, os, sys, types
code, event_file = sys.argv[1:3]
compiled = []
compile_source = importlib.machinery.SourceFileLoader.source_to_code
def recording(self, data, path, **kwargs):
    compiled.append(os.path.relpath(path, code))
    return compile_source(self, data, path, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = recording
sys.path[:0] = [code, os.path.join(code, "python")]
import index
context = types.SimpleNamespace(
    request_id="bytecode-check", region="cn-hangzhou", account_id="1234567890123456",
    function=types.SimpleNamespace(
        name="ecs-release", handler="index.handler", memory=128, timeout=900
    ),
)
with open(event_file, "rb") as handle:
    summary = json.loads(index.handler(handle.read(), context))
loaded = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None) and module.__file__.startswith(code + os.sep)
)
print(json.dumps({"compiled": compiled, "loaded": len(loaded), "counts": summary["counts"]}))
"""


def _unzip(packages: Path, function: str, into: Path) -> Path:
    with zipfile.ZipFile(packages / f"{function}.zip") as archive:
        archive.extractall(into)
    return into


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under `root` with its mode, size and modification time: what a write changes."""
    listing = {}
    for path in sorted(root.rglob("*")):
        status = path.lstat()
        listing[path.relative_to(root).as_posix()] = (
            status.st_mode,
            status.st_size,
            status.st_mtime_ns,
        )
    return listing


def _make_read_only(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def test_every_shipped_module_has_unchecked_bytecode_for_the_runtime(
    packages: Path, runtime: Runtime, tmp_path: Path
) -> None:
    for function in ("ecs-stop", "ecs-release", "ecs-auto-release"):
        code = _unzip(packages, function, tmp_path / function)
        completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
            [
                runtime.python,
                "-I",
                "-S",
                "-c",
                VERIFY_BYTECODE,
                str(code),
                str(UNCHECKED_HASH_FLAGS),
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        report: dict[str, Any] = json.loads(completed.stdout)
        assert report["tag"] == "cpython-" + runtime.version.replace(".", "")
        assert report["modules"] > 1000, "the handler, the core and the dependencies"
        assert report["problems"] == [], f"{function}: {report['problems'][:10]}"


def test_the_bytecode_check_tells_a_stale_or_missing_module(
    packages: Path, runtime: Runtime, tmp_path: Path
) -> None:
    """The check above can fail: an edited source and a deleted .pyc are both named."""
    code = _unzip(packages, "ecs-stop", tmp_path / "code")
    (code / "index.py").write_text((code / "index.py").read_text() + "\n# edited\n")
    deleted = next((code / "ecs_lifecycle" / "planning" / "__pycache__").glob("keeps.*.pyc"))
    deleted.unlink()
    completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
        [runtime.python, "-I", "-S", "-c", VERIFY_BYTECODE, str(code), str(UNCHECKED_HASH_FLAGS)],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    problems = json.loads(completed.stdout)["problems"]
    assert sorted(problems) == [
        "ecs_lifecycle/planning/keeps.py: no " + deleted.name,
        "index.py: the bytecode is not of this source",
    ]


def test_the_package_imports_read_only_without_compiling_or_writing(
    packages: Path, runtime: Runtime, emulator: EcsEmulator, tmp_path: Path
) -> None:
    code = _unzip(packages, "ecs-release", tmp_path / "code")
    emulator.add_instance(status="Stopped", tags={"env": "dev"})
    _make_read_only(code)
    before = _tree(code)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    credentials = emulator.credentials
    environment = {
        "PYTHONDONTWRITEBYTECODE": "1",
        "FC_REGION": "cn-hangzhou",
        "TARGET_REGIONS": "cn-hangzhou,cn-shanghai",
        "TARGET_TAGS": "env=dev",
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        "HOME": str(scratch),
    }
    completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
        # -s -S: no site-packages; not -I, which would ignore PYTHONDONTWRITEBYTECODE.
        [runtime.python, "-s", "-S", "-c", IMPORT_READ_ONLY, str(code), str(EVENT)],
        cwd=scratch,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    report = json.loads(completed.stdout)
    assert report["counts"]["planned"] == 1, "the dry run planned the dev instance's release"
    assert report["loaded"] > 500, "the SDK, pydantic and the core were loaded from the package"
    assert report["compiled"] == [], "modules compiled from source instead of their bytecode"
    assert _tree(code) == before, "the import wrote into the package"
    assert list(scratch.iterdir()) == [], "nor next to it"


def test_a_build_by_another_python_version_is_refused(runtime: Runtime, tmp_path: Path) -> None:
    """Bytecode of another version would be ignored by the runtime: the build fails instead."""
    if f"{sys.version_info[0]}.{sys.version_info[1]}" != runtime.version:
        other = sys.executable
    else:
        # This interpreter is the runtime's version: stand in one that reports another.
        other = str(tmp_path / "python3.99")
        Path(other).write_text("#!/bin/sh\necho 3.99\n")
        Path(other).chmod(0o755)
    completed = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            sys.executable,
            str(BUILD_TOOL),
            "--out",
            str(tmp_path / "out"),
            "--cache",
            str(DEPS_CACHE),
        ],
        env={**os.environ, RUNTIME_PYTHON_OVERRIDE: other},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 1
    assert f"must be built by the runtime's Python {runtime.version}" in completed.stderr
    assert not (tmp_path / "out").exists(), "nothing was built"


def test_an_unchanged_package_builds_to_the_same_bytes(packages: Path, tmp_path: Path) -> None:
    """Bytecode included: a rebuild (another directory, another hash seed) changes no byte, so
    `s deploy` uploads nothing when nothing changed."""
    completed = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            sys.executable,
            str(BUILD_TOOL),
            "--out",
            str(tmp_path / "again"),
            "--cache",
            str(DEPS_CACHE),
            "ecs-stop",
        ],
        env={**os.environ, "PYTHONHASHSEED": "random"},
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr
    again = (tmp_path / "again" / "ecs-stop.zip").read_bytes()
    assert again == (packages / "ecs-stop.zip").read_bytes()
