"""`make build` fails, naming it, when the runtime Python it is told to use is not one."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from tests.support import REPO


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
@pytest.mark.parametrize("named", ["/nonexistent/python3.10", "python3-no-such"])
def test_a_runtime_python_that_does_not_exist_fails_the_build(named: str) -> None:
    completed = subprocess.run(
        ["make", "-s", "build"],  # noqa: S607 - make from the PATH, as a person runs it
        cwd=REPO,
        env={**os.environ, "ECS_LIFECYCLE_RUNTIME_PYTHON": named},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert completed.returncode != 0
    assert f"ECS_LIFECYCLE_RUNTIME_PYTHON={named} is not a Python 3.10 with pip" in completed.stderr
    assert "built " not in completed.stdout
