"""The repository stands alone: no tracked file reads or names a path outside it.

Users clone this repository with nothing beside it. A sample event read from `../shared`, a
schema next to the checkout, or a path of one developer's machine works on that machine and
nowhere else, so this scan fails `make test` as soon as one comes back. What it flags:

- a `../` path that, taken from the file's own folder, leaves the repository;
- `REPO.parent` / `ROOT.parent` (the folder around the checkout) in code;
- `Path(__file__).resolve().parents[N]` with N past the repository's root;
- absolute paths of a developer's machine (`/home/...`, `/Users/...`, `/root/...`, `/work/...`).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Final

import pytest

from tests.support import REPO

# Files a check would only trip over: binary data and this scan's own examples.
SKIPPED_SUFFIXES: Final = frozenset({".png", ".jpg", ".zip", ".pyc", ".whl"})
UP_PATH: Final = re.compile(r"(?<![\w.])((?:\.\./)+)([\w.-]*)")
PARENT_OF_ROOT: Final = re.compile(r"\b(?:REPO|ROOT|REPO_ROOT)\.parent\b")
FILE_PARENTS: Final = re.compile(r"Path\(__file__\)\.resolve\(\)\.parents\[(\d+)\]")
MACHINE_PATH: Final = re.compile(r"(?<![\w.:/~$-])/(?:home|Users|root|work)/[\w.-]+")


def outside_paths(relative: str, text: str) -> list[str]:
    """Every place in `text` (the file at `relative` in the repository) that leaves it."""
    folder_depth = len(PurePosixPath(relative).parts) - 1
    found: list[str] = []
    for match in UP_PATH.finditer(text):
        ups = match.group(1).count("../")
        if ups > folder_depth:
            found.append(match.group(0))
    found += [match.group(0) for match in PARENT_OF_ROOT.finditer(text)]
    for match in FILE_PARENTS.finditer(text):
        # parents[0] is the file's folder; parents[folder_depth] is the repository's root.
        if int(match.group(1)) > folder_depth:
            found.append(match.group(0))
    found += [match.group(0) for match in MACHINE_PATH.finditer(text)]
    return found


def tracked_files() -> Iterator[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from the PATH, fixed arguments
        cwd=REPO,
        capture_output=True,
        check=False,
        text=True,
    )
    if listed.returncode != 0:
        pytest.skip("not a git checkout: the tracked files are unknown")
    for name in listed.stdout.split("\0"):
        if name and PurePosixPath(name).suffix not in SKIPPED_SUFFIXES:
            yield name


def test_no_tracked_file_names_a_path_outside_the_repository() -> None:
    offenders: dict[str, list[str]] = {}
    this_file = Path(__file__).resolve().relative_to(REPO).as_posix()
    for name in tracked_files():
        path = REPO / name
        if name == this_file or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        found = outside_paths(name, text)
        if found:
            offenders[name] = found
    assert offenders == {}, (
        "these files read or name a path outside the repository (a user's clone has nothing "
        f"beside it; put what they need inside and cite public sources): {offenders}"
    )


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("README.md", "ecs-lifecycle invoke stop --event ../shared/events/manual-stop-ids.json"),
        ("docs/deploy.md", "see ../../shared/reference/fc3-schema.json"),
        ("tests/support.py", 'SAMPLES = REPO.parent / "shared" / "events"'),
        ("tests/deploy/checks.py", "ROOT = Path(__file__).resolve().parents[3]"),
        ("bench/results/latest.json", '"runtime_python": "/root/.pyenv/versions/3.10/bin/py"'),
        ("Makefile", "cp /work/shared/events/*.json events/"),
        ("docs/x.md", "on my machine: /Users/alice/ecs-lifecycle"),
    ],
)
def test_the_scan_flags_each_kind_of_outside_path(relative: str, text: str) -> None:
    assert outside_paths(relative, text) != []


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("docs/deploy.md", "[`s.yaml`](../s.yaml)"),
        ("tests/unit/test_settings_keep.py", '("TIME_ZONE", "../../etc/passwd", "not a zone")'),
        ("tests/support.py", "REPO: Final = Path(__file__).resolve().parents[1]"),
        ("README.md", "see https://github.com/aliyun/credentials-python/blob/master/README.md"),
        ("Makefile", "py=$${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.10/bin/python3.10"),
        ("README.md", "`pyenv install 3.10` puts it under ~/.pyenv"),
    ],
)
def test_the_scan_leaves_paths_inside_the_repository_alone(relative: str, text: str) -> None:
    assert outside_paths(relative, text) == []
