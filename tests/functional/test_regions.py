"""Regions: one that does not exist is refused by name, from ECS's own list, before any change."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import Function

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator
    from tests.support import Runner

DEV = {"env": "dev"}


@pytest.mark.parametrize("function", list(Function))
def test_a_misspelt_region_is_refused_by_name_before_any_other_call(
    run: Runner, ecs_emulator: EcsEmulator, function: Function
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags=DEV)
    event = {"tags": DEV, "regions": ["cn-hangzhou", "cn-hangzou"], "dry_run": False}
    if function is Function.AUTO_RELEASE:
        event["release_after"] = "8h"
    # A local invoke with no region setting: the event's regions are taken as given, and checked.
    with pytest.raises(InvalidInputError) as refused:
        run(function, event, FC_REGION="")
    problem = refused.value.problem
    assert refused.value.field == "regions"
    assert "'cn-hangzou'" in problem
    assert "did you mean cn-hangzhou?" in problem
    # The list's source is named, and it is ECS's answer, not a list kept by hand.
    assert "DescribeRegions, asked in cn-hangzhou" in problem
    assert [call.operation for call in ecs_emulator.calls] == ["DescribeRegions"]


def test_any_region_ecs_lists_is_accepted_and_a_made_up_one_is_not(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    summary = run(Function.STOP, {"tags": DEV, "regions": ["us-east-1"]}, FC_REGION="")
    assert summary["regions"] == ["us-east-1"]
    with pytest.raises(InvalidInputError, match="'xx-north-9'"):
        run(Function.STOP, {"tags": DEV, "regions": ["xx-north-9"]}, FC_REGION="")


def test_a_region_setting_that_does_not_exist_is_named_as_the_setting(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        run(Function.STOP, {"tags": DEV}, TARGET_REGIONS="cn-hangzhou,eu-nowhere-1")
    assert refused.value.field == "TARGET_REGIONS"
    assert "'eu-nowhere-1'" in refused.value.problem
    assert ecs_emulator.calls_to("DescribeInstances") == []


def test_the_region_list_is_asked_once_per_run(run: Runner, ecs_emulator: EcsEmulator) -> None:
    event = {"tags": DEV, "regions": ["cn-hangzhou", "cn-shanghai"]}
    fence = {"TARGET_REGIONS": "cn-hangzhou,cn-shanghai"}
    run(Function.STOP, event, **fence)
    assert len(ecs_emulator.calls_to("DescribeRegions")) == 1
    run(Function.STOP, event, **fence)
    # Fresh each run: a run decides on what ECS says now.
    assert len(ecs_emulator.calls_to("DescribeRegions")) == 2


def test_the_list_is_asked_in_the_functions_own_region(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # FC_REGION is the region the function runs in, which surely exists; a run that names only
    # other regions still asks there.
    env = {"FC_REGION": "eu-central-1", "TARGET_REGIONS": "cn-shanghai,cn-shangai"}
    run(Function.STOP, {"tags": DEV, "regions": ["cn-shanghai"]}, **env)
    (call,) = ecs_emulator.calls_to("DescribeRegions")
    assert call.params == {}
    with pytest.raises(InvalidInputError, match="asked in eu-central-1"):
        run(Function.STOP, {"tags": DEV, "regions": ["cn-shangai"]}, **env)
