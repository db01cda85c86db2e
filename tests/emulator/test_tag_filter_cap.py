"""DescribeInstances' tag filter cap and its NextToken-mode TotalCount, through the real SDK.

Reference 7.1 and 18: tag filtering covers at most 1,000 matching resources, and what happens past
the cap is not documented (cut short, or refused), so the emulator does either on demand. In
NextToken mode TotalCount is documented as meaningless, so the emulator never sends the total.
"""

from __future__ import annotations

from typing import Any

import alibabacloud_ecs20140526.models as ecs

from ecs_emulator import EcsEmulator, InstanceSpec

from .conftest import SdkError

REGION = "cn-hangzhou"
DEV = {"env": "dev"}


def add_tagged(emulator: EcsEmulator, count: int, tags: dict[str, str]) -> list[str]:
    specs = [InstanceSpec(region=REGION, tags=tags) for _ in range(count)]
    return [view.instance_id for view in emulator.add_fleet(specs)]


def describe_all(client: Any, **kwargs: Any) -> tuple[list[str], list[Any]]:
    """Every page of a NextToken-mode DescribeInstances: the ids and the page bodies."""
    ids: list[str] = []
    bodies: list[Any] = []
    token: str | None = None
    while True:
        request = ecs.DescribeInstancesRequest(
            region_id=REGION, max_results=100, next_token=token, **kwargs
        )
        body = client.describe_instances(request).body
        bodies.append(body)
        ids += [item.instance_id for item in body.instances.instance]
        token = body.next_token
        if not token:
            return ids, bodies


def dev_filter() -> list[Any]:
    return [ecs.DescribeInstancesRequestTag(key="env", value="dev")]


def test_the_tag_filter_covers_the_first_1000_matches_and_no_more(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    tagged = add_tagged(ecs_emulator, 1001, DEV)
    seen, _ = describe_all(client, tag=dev_filter())
    assert seen == tagged[:1000]
    unfiltered, _ = describe_all(client)
    assert unfiltered == tagged  # the cap is the tag filter's, not the region's


def test_the_cap_counts_matches_only(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.settings.tag_filter_cap = 5
    others = add_tagged(ecs_emulator, 20, {"env": "prod"})
    tagged = add_tagged(ecs_emulator, 5, DEV)
    assert describe_all(client, tag=dev_filter())[0] == tagged
    assert len(others) == 20


def test_past_the_cap_the_call_can_be_refused_instead(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    ecs_emulator.settings.tag_filter_cap = 10
    ecs_emulator.settings.tag_filter_overflow = "error"
    add_tagged(ecs_emulator, 10, DEV)
    assert len(describe_all(client, tag=dev_filter())[0]) == 10  # at the cap: answered
    add_tagged(ecs_emulator, 1, DEV)
    error = sdk_error(lambda: describe_all(client, tag=dev_filter()))
    assert (error.code, error.status_code) == ("InvalidParameter.TagFilterResourceLimit", 400)
    # A dry run checks the key and the parameters only (reference 18), not what would match.
    dry = ecs.DescribeInstancesRequest(region_id=REGION, tag=dev_filter(), dry_run=True)
    assert sdk_error(lambda: client.describe_instances(dry)).code == "DryRunOperation"


def test_ids_with_a_tag_filter_are_not_capped(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.settings.tag_filter_cap = 2
    ecs_emulator.settings.tag_filter_overflow = "error"
    tagged = add_tagged(ecs_emulator, 3, DEV)
    ids = '["' + '", "'.join(tagged) + '"]'
    assert describe_all(client, tag=dev_filter(), instance_ids=ids)[0] == tagged


def test_total_count_is_never_the_total_in_next_token_mode(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    add_tagged(ecs_emulator, 250, DEV)
    for kwargs in ({}, {"tag": dev_filter()}):
        seen, bodies = describe_all(client, **kwargs)
        assert len(seen) == 250
        assert [body.total_count for body in bodies] == [100, 100, 50]  # each page's own length
    # PageNumber/PageSize mode keeps an exact TotalCount.
    numbered = ecs.DescribeInstancesRequest(region_id=REGION, page_number=2, page_size=100)
    assert client.describe_instances(numbered).body.total_count == 250
