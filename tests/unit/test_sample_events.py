"""The repository's own sample events (events/): each is listed, parses, and is what it says.

events/README.md says per file which trigger and function it is for; these tests hold each file
to that, through the same parsers the handlers use, so a sample that drifts from the shapes the
functions accept fails here rather than in a user's first `s invoke`.
"""

from __future__ import annotations

import re

import pytest

from ecs_lifecycle.events import (
    IgnoredInvocation,
    ManualInvocation,
    StateChangeInvocation,
    TagChangeInvocation,
    TimerInvocation,
    parse_event,
)
from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import parse_options
from tests.support import SAMPLES

README = SAMPLES / "README.md"
NAMES = sorted(path.name for path in SAMPLES.glob("*.json"))
FUNCTION_OF = {"stop": Function.STOP, "release": Function.RELEASE}


def _listed() -> dict[str, str]:
    """file -> function, from the README's table."""
    rows = re.findall(r"^\| `([\w.-]+\.json)` \| [^|]+ \| ([\w-]+) \|", README.read_text(), re.M)
    return dict(rows)


def test_every_sample_is_listed_in_the_readme_and_every_listed_one_exists() -> None:
    assert sorted(_listed()) == NAMES


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("manual-")])
def test_each_manual_sample_is_valid_options_for_its_function(name: str) -> None:
    invocation = parse_event((SAMPLES / name).read_bytes())
    assert isinstance(invocation, ManualInvocation)
    function = FUNCTION_OF.get(_listed()[name], Function.AUTO_RELEASE)
    parse_options(function, invocation.options)  # raises InvalidInputError if not


def test_the_timer_samples_parse_with_and_without_a_payload() -> None:
    empty = parse_event((SAMPLES / "timer-empty-payload.json").read_bytes())
    nightly = parse_event((SAMPLES / "timer-nightly-release.json").read_bytes())
    assert isinstance(empty, TimerInvocation)
    assert empty.options is None
    assert isinstance(nightly, TimerInvocation)
    assert nightly.options == {"tags": {"env": "dev"}, "dry_run": False}
    parse_options(Function.RELEASE, nightly.options)


@pytest.mark.parametrize(
    "name",
    [
        "eventbridge-ecs-tagresources.json",
        "eventbridge-ecs-tagresources-console.json",
        "eventbridge-ecs-untagresources.json",
    ],
)
def test_the_instance_tag_samples_name_their_instance(name: str) -> None:
    invocation = parse_event((SAMPLES / name).read_bytes())
    assert isinstance(invocation, TagChangeInvocation)
    assert len(invocation.instance_ids) == 1
    assert invocation.instance_ids[0].startswith("i-")


@pytest.mark.parametrize(
    "name", ["eventbridge-ecs-tagresources-disk.json", "eventbridge-ecs-untagresources-disk.json"]
)
def test_the_disk_tag_samples_are_ignored_with_a_reason(name: str) -> None:
    invocation = parse_event((SAMPLES / name).read_bytes())
    assert isinstance(invocation, IgnoredInvocation)
    assert "disk" in invocation.reason


def test_the_state_change_sample_names_its_instance_and_state() -> None:
    invocation = parse_event((SAMPLES / "eventbridge-ecs-instance-statechange.json").read_bytes())
    assert isinstance(invocation, StateChangeInvocation)
    assert invocation.instance_id == "i-bp1dev000000000003"
    assert invocation.state == "Running"
