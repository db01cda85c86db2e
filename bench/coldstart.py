"""Running a built code package the way Function Compute runs it, and timing its cold start.

FC unpacks the package into /code (read-only: Python can never cache bytecode there), starts a
fresh interpreter of the runtime's version with /code and PYTHONPATH=/code/python on its path,
imports the handler s.yaml names and calls it with the event bytes. `run_package` does the same
on this machine: the zip unpacked into a fresh read-only directory, a fresh python3.10 without
site-packages and with only that directory on its path, the root logger set up as FC's runtime
sets it up, and the handler called once. The parent reads the child's wall time (interpreter
start to exit), CPU seconds and peak RSS from wait4, and the child reports how long the import
and the invocation took inside it.

What is not the same: FC's own runtime process (its HTTP server, which is not ours to measure),
and the memory FC counts for the instance's container beyond the interpreter's resident set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import statistics
import subprocess
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

# s.yaml: PYTHONPATH=/code/python, handler index.handler.
DEPS_SUBDIR: Final = "python"
HANDLER: Final = "index.handler"
CHILD_TIMEOUT: Final = 900.0

# The child: what FC's python3.10 runtime does for one invocation, and nothing else. The root
# logger is configured as the runtime configures it (INFO, one line per record on stderr), so the
# decision log lines cost what they cost on FC.
CHILD: Final = r"""
import time
started = time.perf_counter()
import importlib, json, logging, os, sys, types
code, handler_name, event_file, out_file = sys.argv[1:5]
sys.path[:0] = [code, os.path.join(code, "python")]
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
module_name, _, function_name = handler_name.rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
imported = time.perf_counter()
def resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return None
rss_after_import = resident_mb()
context = types.SimpleNamespace(
    request_id="bench", region=os.environ["FC_REGION"], account_id="1234567890123456",
    function=types.SimpleNamespace(
        name=os.environ["FC_FUNCTION_NAME"], handler=handler_name,
        memory=int(os.environ["FC_FUNCTION_MEMORY_SIZE"]), timeout=int(os.environ["FC_TIMEOUT"]),
    ),
)
with open(event_file, "rb") as handle:
    event = handle.read()
report = {}
try:
    report["summary"] = json.loads(handler(event, context))
except Exception as error:
    report["error"] = type(error).__name__ + ": " + str(error)[:500]
    report["summary"] = getattr(error, "summary", None)
handled = time.perf_counter()
report.update(
    import_seconds=imported - started, handle_seconds=handled - imported,
    rss_after_import_mb=rss_after_import,
)
with open(out_file, "w") as handle:
    json.dump(report, handle)
sys.exit(1 if "error" in report else 0)
"""


def unpack(archive: Path, into: Path, *, bytecode: bool = True) -> Path:
    """Unzip `archive` into the new directory `into` and make it read-only, as FC's /code is.

    With `bytecode=False` the build's __pycache__ folders are left out: the same package as it
    was built before it shipped bytecode.
    """
    into.mkdir(parents=True)
    with zipfile.ZipFile(archive) as bundle:
        members = [
            name for name in bundle.namelist() if bytecode or "__pycache__" not in name.split("/")
        ]
        bundle.extractall(into, members)
    write_bits = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH
    for path in [into, *into.rglob("*")]:
        path.chmod(path.lstat().st_mode & ~write_bits)
    return into


def remove(directory: Path) -> None:
    """Delete an unpacked package (it is read-only, so its folders are made writable first)."""
    for path in [directory, *directory.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(directory)


@dataclass(frozen=True)
class PackageRun:
    """One invocation of a package in a fresh interpreter."""

    exit_code: int
    wall_seconds: float  # interpreter start to exit, as the parent saw it
    peak_rss_mb: float
    cpu_seconds: float  # user + system of the child
    import_seconds: float  # inside the child: importing the handler
    handle_seconds: float  # inside the child: the handler's call
    rss_after_import_mb: float  # resident once the handler is imported, before the event
    summary: dict[str, Any]
    error: str | None


def run_package(
    python: str,
    code: Path,
    event: bytes,
    environ: Mapping[str, str],
    workdir: Path,
) -> PackageRun:
    """Invoke the unpacked package at `code` once with `event`, in a fresh `python`.

    Raises:
        RuntimeError: the child crashed before it could report (not a failed run: a failed run
            reports its summary and exits 1).
    """
    event_file, report_file = workdir / "event.json", workdir / "report.json"
    event_file.write_bytes(event)
    report_file.unlink(missing_ok=True)
    log_path = workdir / "stderr.log"
    command = [
        python,
        "-I",  # no PYTHON* variables, no user site, no current directory on the path
        "-S",  # no site-packages: only the package and the standard library
        "-B",  # never write bytecode (/code is read-only on FC)
        "-c",
        CHILD,
        str(code),
        HANDLER,
        str(event_file),
        str(report_file),
    ]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 - the runtime's interpreter, fixed arguments
            command, stdout=subprocess.DEVNULL, stderr=log, env=dict(environ), cwd=workdir
        )
        watchdog = threading.Timer(CHILD_TIMEOUT, process.kill)
        watchdog.start()
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all of them).
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        watchdog.cancel()
    process.returncode = exit_code = os.waitstatus_to_exitcode(status)
    if exit_code not in (0, 1) or not report_file.is_file():
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        raise RuntimeError(f"{code.name} exited {exit_code}:\n{tail}")
    report = json.loads(report_file.read_text(encoding="utf-8"))
    return PackageRun(
        exit_code=exit_code,
        wall_seconds=wall,
        peak_rss_mb=usage.ru_maxrss / 1024.0,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        import_seconds=report["import_seconds"],
        handle_seconds=report["handle_seconds"],
        rss_after_import_mb=report["rss_after_import_mb"] or 0.0,
        summary=report.get("summary") or {},
        error=report.get("error"),
    )


# --- where the import time goes ------------------------------------------------------------------

# Top-level modules by what brought them in. Standard-library modules count for the group whose
# import first loaded them (see `import_breakdown`).
IMPORT_GROUPS: Final = {
    "ECS SDK models": ("alibabacloud_ecs20140526.models",),
    "ECS SDK client": ("alibabacloud_ecs20140526",),
    "Tea, tea-openapi and their HTTP stacks (requests, aiohttp)": (
        "Tea",
        "darabonba",
        "alibabacloud_tea_openapi",
        "alibabacloud_tea_util",
        "alibabacloud_gateway_spi",
        "requests",
        "urllib3",
        "certifi",
        "charset_normalizer",
        "idna",
        "aiohttp",
        "aiohappyeyeballs",
        "aiosignal",
        "async_timeout",
        "frozenlist",
        "multidict",
        "propcache",
        "yarl",
        "attr",
        "attrs",
    ),
    "alibabacloud-credentials (apscheduler, aiofiles, cryptography)": (
        "alibabacloud_credentials",
        "alibabacloud_credentials_api",
        "apscheduler",
        "tzlocal",
        "aiofiles",
        "cryptography",
        "cffi",
        "_cffi_backend",
        "pycparser",
        "websocket",
    ),
    "pydantic (pydantic-core, typing helpers)": (
        "pydantic",
        "pydantic_core",
        "annotated_types",
        "typing_inspection",
        "typing_extensions",
    ),
    "tenacity": ("tenacity",),
    "ecs-lifecycle (index, ecs_lifecycle)": ("index", "ecs_lifecycle"),
}
STDLIB_GROUP: Final = "Python's own start-up (encodings, site, logging)"
_IMPORT_LINE: Final = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)\s*$")


def _group_of(module: str) -> str | None:
    for group, prefixes in IMPORT_GROUPS.items():
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return group
    return None


def group_import_times(importtime_output: str) -> dict[str, float]:
    """Milliseconds by group from `python -X importtime` output.

    Each module's own time counts for its group; a module of no group (the standard library)
    counts for the group of the nearest enclosing import that has one, so that `asyncio` loaded
    by aiohttp is aiohttp's cost. Lines come in post-order: a module's nested imports precede it,
    one level deeper.
    """
    rows: list[tuple[int, int, str]] = []  # (depth, self microseconds, module)
    for line in importtime_output.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            rows.append((len(match[3]) // 2, int(match[1]), match[4]))
    totals: Counter[str] = Counter()
    # The tree: each row adopts the rows one level deeper that precede it and have no parent yet.
    nodes: list[tuple[str, int, list[int]]] = []  # (module, self microseconds, children)
    waiting: dict[int, list[int]] = {}  # depth -> rows still without a parent
    for depth, own, module in rows:
        nodes.append((module, own, waiting.pop(depth + 1, [])))
        waiting.setdefault(depth, []).append(len(nodes) - 1)

    def walk(index: int, inherited: str | None) -> None:
        module, own, children = nodes[index]
        group = _group_of(module) or inherited
        totals[group or STDLIB_GROUP] += own
        for child in children:
            walk(child, group)

    for roots in waiting.values():
        for root in roots:
            walk(root, None)
    return {group: micros / 1000.0 for group, micros in totals.items()}


def import_breakdown(python: str, code: Path, repeats: int) -> dict[str, float]:
    """Median milliseconds by group of importing the handler from `code`, with -X importtime.

    importtime's own bookkeeping makes these a little larger than the plain import; they show
    where the time goes, the cold start figures show how much there is.
    """
    samples: dict[str, list[float]] = {}
    script = (
        "import sys, os; "
        "sys.path[:0] = [sys.argv[1], os.path.join(sys.argv[1], 'python')]; "
        "import index"
    )
    for _ in range(repeats):
        completed = subprocess.run(  # noqa: S603 - the runtime's interpreter, fixed code
            [python, "-I", "-S", "-B", "-X", "importtime", "-c", script, str(code)],
            capture_output=True,
            text=True,
            check=True,
            timeout=CHILD_TIMEOUT,
        )
        for group, milliseconds in group_import_times(completed.stderr).items():
            samples.setdefault(group, []).append(milliseconds)
    return {
        group: round(statistics.median(values + [0.0] * (repeats - len(values))), 1)
        for group, values in samples.items()
    }
