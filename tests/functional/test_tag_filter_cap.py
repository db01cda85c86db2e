"""A tag selection larger than DescribeInstances' tag filter cap is still read in full.

Reference 7.1 and 18: the tag filter covers at most 1,000 resources, and past that ECS may cut the
answer short or refuse the call (undocumented); TotalCount means nothing in NextToken mode. The
gateway counts what the filtered scan returns: reaching the cap, or a refusal, means a scan of the
region without the filter, filtered here. Both emulator modes, through the real SDK.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Final

import pytest

from ecs_emulator import EmulatorCredentials, InstanceSpec, make_sdk_client
from ecs_lifecycle.ecs import TAG_FILTER_CAP, EcsGateway
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Function
from ecs_lifecycle.selection import TagSelector
from tests.support import Runner, by_id

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator

REGION: Final = "cn-hangzhou"
DEV: Final = TagSelector(conditions=(("env", "dev"),))
OVERFLOWS: Final = ("truncate", "error")


def gateway(emulator: EcsEmulator, credentials: EmulatorCredentials | None = None) -> EcsGateway:
    return EcsGateway(
        lambda region: make_sdk_client(emulator, region, credentials),
        clock=emulator.clock,
        calls_per_second=1000.0,
    )


def add(
    emulator: EcsEmulator, count: int, tags: dict[str, str], status: str = "Running"
) -> set[str]:
    specs = [InstanceSpec(region=REGION, tags=tags, status=status) for _ in range(count)]
    return {view.instance_id for view in emulator.add_fleet(specs)}


def describe_calls(emulator: EcsEmulator) -> Counter[str]:
    """DescribeInstances calls, by whether they carried the tag filter and how they ended."""
    return Counter(
        f"{'tagged' if 'Tag.1.Key' in call.params else 'full'}:{call.status}"
        for call in emulator.calls_to("DescribeInstances")
    )


@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_a_selection_past_the_cap_is_read_in_full(ecs_emulator: EcsEmulator, overflow: str) -> None:
    ecs_emulator.settings.tag_filter_overflow = overflow  # type: ignore[assignment]
    dev = add(ecs_emulator, TAG_FILTER_CAP + 1, {"env": "dev"})
    add(ecs_emulator, 150, {"env": "prod"})

    found = [
        instance.instance_id
        for instance in gateway(ecs_emulator).describe_instances(REGION, tags=DEV)
    ]

    assert sorted(found) == sorted(dev)  # every one, once, and no prod instance
    calls = describe_calls(ecs_emulator)
    # The full scan: 1,151 instances, 100 a page.
    assert calls["full:200"] == 12
    if overflow == "error":
        assert calls == Counter({"tagged:400": 1, "full:200": 12})
    else:
        assert calls == Counter({"tagged:200": 10, "full:200": 12})


@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_a_selection_below_the_cap_uses_the_filter_only(
    ecs_emulator: EcsEmulator, overflow: str
) -> None:
    ecs_emulator.settings.tag_filter_overflow = overflow  # type: ignore[assignment]
    dev = add(ecs_emulator, TAG_FILTER_CAP - 1, {"env": "dev"})
    add(ecs_emulator, 50, {"env": "prod"})

    found = {
        instance.instance_id
        for instance in gateway(ecs_emulator).describe_instances(REGION, tags=DEV)
    }

    assert found == dev
    assert describe_calls(ecs_emulator) == Counter({"tagged:200": 10})


@pytest.mark.parametrize("overflow", OVERFLOWS)
def test_a_release_dry_run_past_the_cap_plans_every_matching_instance(
    run: Runner, ecs_emulator: EcsEmulator, overflow: str
) -> None:
    ecs_emulator.settings.tag_filter_overflow = overflow  # type: ignore[assignment]
    dev = add(ecs_emulator, TAG_FILTER_CAP + 5, {"env": "dev"}, status="Stopped")
    prod = add(ecs_emulator, 20, {"env": "prod"}, status="Stopped")

    summary = run(
        Function.RELEASE,
        {"tags": {"env": "dev"}, "dry_run": True, "max_instances": 2000},
    )

    results = by_id(summary)
    assert set(results) == dev
    assert {entry["outcome"] for entry in results.values()} == {"planned"}
    assert not prod & set(results)
    assert run.changing_calls() == []


def test_a_refusal_not_about_the_cap_still_surfaces(ecs_emulator: EcsEmulator) -> None:
    """The full scan meets the same refusal (here an access key ECS does not know) and raises it."""
    add(ecs_emulator, 3, {"env": "dev"})
    ours = ecs_emulator.credentials
    ecs_emulator.set_credentials(EmulatorCredentials("another-ak", "another-secret-not-real"))

    with pytest.raises(EcsApiError) as raised:
        list(gateway(ecs_emulator, ours).describe_instances(REGION, tags=DEV))

    assert raised.value.code == "InvalidAccessKeyId.NotFound"
    assert describe_calls(ecs_emulator) == Counter({"tagged:404": 1, "full:404": 1})
