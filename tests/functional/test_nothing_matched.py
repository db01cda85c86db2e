"""Doing nothing must not look like success: an empty match, a pattern selector, a cap."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError
from ecs_lifecycle.model import Function

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator
    from tests.support import Runner


@pytest.mark.parametrize("function", list(Function))
def test_a_run_that_matches_no_instance_says_so(
    run: Runner, ecs_emulator: EcsEmulator, function: Function
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "prod"})
    event: dict[str, object] = {"tags": {"env": "dev"}}
    if function is Function.AUTO_RELEASE:
        event["release_after"] = "8h"
    summary = run(function, event)
    assert summary["instances"] == []
    assert "no instance matched tags env=dev in cn-hangzhou" in summary["notes"]


def test_the_note_names_ids_and_every_region(run: Runner, ecs_emulator: EcsEmulator) -> None:
    summary = run(
        Function.STOP,
        {"instance_ids": ["i-bp1nothere000001"], "regions": ["cn-hangzhou", "cn-shanghai"]},
        TARGET_REGIONS="cn-hangzhou,cn-shanghai",
    )
    assert summary["notes"] == [
        "no instance matched instance ids i-bp1nothere000001 in cn-hangzhou, cn-shanghai"
    ]


def test_a_run_that_matches_says_nothing_about_matching(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    assert run(Function.STOP, {"tags": {"env": "dev"}})["notes"] == []


@pytest.mark.parametrize(
    "tags", ["env=dev*", "*=dev", {"env": "d*v"}, {"*": "dev"}, "team=*,env=*dev"]
)
def test_a_star_inside_a_key_or_value_is_refused_with_what_star_means(
    run: Runner, ecs_emulator: EcsEmulator, tags: object
) -> None:
    with pytest.raises(InvalidInputError, match=r"\* means any value, and only as a whole value"):
        run(Function.STOP, {"tags": tags})
    assert ecs_emulator.calls == []


def test_a_dry_run_over_max_instances_lists_what_it_would_do_and_why_the_real_run_would_fail(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    for _ in range(3):
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
    event = {"tags": {"env": "dev"}, "max_instances": 2}
    summary = run(Function.RELEASE, {**event, "dry_run": True})
    assert summary["counts"]["planned"] == 3
    assert summary["notes"] == [
        "the real run would be refused: this run would change 3 instances, more than "
        "max_instances=2; it changed none (narrow the selector or raise MAX_INSTANCES "
        "deliberately)"
    ]
    assert run.changing_calls() == []
    # The real run is refused with the count and the cap, and changes nothing.
    with pytest.raises(
        BlastRadiusExceededError, match="would change 3 instances, more than max_instances=2"
    ):
        run(Function.RELEASE, {**event, "dry_run": False})
    assert run.changing_calls() == []
    assert len(ecs_emulator.instances()) == 3
