"""The commands the README and docs/deploy.md show can run as written."""

from __future__ import annotations

import re

import pytest

from tests.support import REPO, SAMPLES

DOCS = ("README.md", "docs/deploy.md")


@pytest.mark.parametrize("doc", DOCS)
def test_every_sample_event_named_exists(doc: str) -> None:
    text = (REPO / doc).read_text()
    named = set(re.findall(r"(?<![\w/.])events/([\w.-]+\.json)", text))
    assert named, f"{doc} names no sample event"
    assert sorted(name for name in named if not (SAMPLES / name).is_file()) == []


def test_the_readme_says_how_to_get_ecs_lifecycle_on_the_path_before_using_it() -> None:
    text = (REPO / "README.md").read_text()
    first_use = text.index("ecs-lifecycle invoke stop")
    assert ". .venv/bin/activate" in text[:first_use]
    assert ".venv/bin/ecs-lifecycle" in text[:first_use]


def test_the_readme_says_make_test_needs_python_3_10_and_how_to_get_it() -> None:
    text = (REPO / "README.md").read_text()
    two_commands = text[text.index("## Two commands") : text.index("## How the pieces fit")]
    assert "`python3.10`" in two_commands
    assert "pyenv install 3.10" in two_commands
