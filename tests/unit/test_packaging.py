"""pyproject.toml lists every package of the core and the emulator.

setuptools is given the packages by name (the core lives in shared/, the emulator in emulator/),
so a new subpackage left off the list is missing from the built wheel and from every function
package, and only a deployed function would notice (an ImportError at its first invocation).
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def packages_on_disk(top: str, root: Path) -> set[str]:
    """The dotted names of `root` and every folder below it holding an __init__.py."""
    return {
        ".".join((top, *init.parent.relative_to(root).parts))
        for init in root.rglob("__init__.py")
        if "__pycache__" not in init.parts
    }


def listed_packages(pyproject: str) -> set[str]:
    """The names in [tool.setuptools] `packages` (no tomllib: it is 3.11+, the runtime is 3.10)."""
    block = re.search(r"^packages = \[(.*?)\]", pyproject, flags=re.M | re.S)
    assert block is not None, "pyproject.toml has no packages list"
    return set(re.findall(r'"([^"]+)"', block.group(1)))


def test_every_package_on_disk_is_listed_in_pyproject() -> None:
    listed = listed_packages((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    on_disk = packages_on_disk("ecs_lifecycle", REPO / "shared" / "ecs_lifecycle")
    on_disk |= packages_on_disk("ecs_emulator", REPO / "emulator" / "ecs_emulator")
    assert on_disk - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - on_disk == set(), "these are listed but not on disk"


def test_the_list_is_read_one_name_per_line_or_on_one_line() -> None:
    assert listed_packages('packages = [\n    "a",\n    "a.b",\n]\n') == {"a", "a.b"}
    assert listed_packages('x = 1\npackages = ["a", "c"]\n') == {"a", "c"}


def test_the_scan_finds_a_nested_package(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a" / "b" / "__init__.py").write_text("")
    assert packages_on_disk("top", tmp_path) == {"top", "top.a.b"}
