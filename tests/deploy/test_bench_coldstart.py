"""The benchmark's cold-start tools (bench/coldstart.py): what they count is what they claim."""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path

import pytest
from bench.coldstart import STDLIB_GROUP, group_import_times, remove, unpack

# `python -X importtime` output (post-order: nested imports first, two spaces deeper each level).
IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   _io
import time:       200 |        300 | encodings
import time:      1000 |       1000 |       _asyncio
import time:      3000 |       4000 |     asyncio
import time:      5000 |       9000 |   aiohttp
import time:       700 |        700 |     json
import time:      2000 |       2700 |   alibabacloud_ecs20140526.models._describe_instances
import time:      4000 |      15700 | Tea.core
import time:       400 |        400 |   dataclasses
import time:       600 |       1000 | ecs_lifecycle.planning
"""


def test_import_time_counts_each_module_once_for_the_part_that_brought_it_in() -> None:
    groups = group_import_times(IMPORTTIME)
    tea = "Tea, tea-openapi and their HTTP stacks (requests, aiohttp)"
    assert groups == {
        STDLIB_GROUP: pytest.approx(0.3),  # _io and encodings: the interpreter's own start
        # Tea.core itself, aiohttp, and asyncio with _asyncio, which aiohttp imported.
        tea: pytest.approx(4.0 + 5.0 + 3.0 + 1.0),
        # A models module under Tea's import is the models' cost, json under it too.
        "ECS SDK models": pytest.approx(2.0 + 0.7),
        "ecs-lifecycle (index, ecs_lifecycle)": pytest.approx(0.6 + 0.4),
    }
    assert sum(groups.values()) == pytest.approx(17.0), "every module once"


def test_a_package_unpacks_read_only_with_or_without_its_bytecode(tmp_path: Path) -> None:
    archive = tmp_path / "package.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("index.py", "handler = None\n")
        bundle.writestr("__pycache__/index.cpython-310.pyc", b"bytecode")
        bundle.writestr("python/tests_helper.py", "")

    built = unpack(archive, tmp_path / "built")
    plain = unpack(archive, tmp_path / "plain", bytecode=False)

    assert (built / "__pycache__" / "index.cpython-310.pyc").is_file()
    assert not (plain / "__pycache__").exists()
    assert (plain / "index.py").is_file()
    assert (plain / "python" / "tests_helper.py").is_file()
    for path in [built, *built.rglob("*")]:
        assert not path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH), path
    remove(built)
    remove(plain)
    assert not built.exists()
    assert not plain.exists()
