"""DescribeInstances and DescribeInstanceStatus through the real SDK."""

from __future__ import annotations

import json
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import EcsEmulator, FleetSpec, generate_fleet

from .conftest import SdkError


def describe(client: Any, **kwargs: Any) -> Any:
    return client.describe_instances(
        ecs.DescribeInstancesRequest(region_id="cn-hangzhou", **kwargs)
    )


def test_response_shape_wrapped_arrays_and_documented_time_formats(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    tagged = ecs_emulator.add_instance(tags={"env": "dev"}, name="web-1")
    untagged = ecs_emulator.add_instance()

    response = describe(client, instance_ids=json.dumps([tagged.instance_id, untagged.instance_id]))

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json;charset=utf-8"
    assert response.body.request_id
    raw = response.body.to_map()
    instances = raw["Instances"]["Instance"]
    by_id = {item["InstanceId"]: item for item in instances}
    assert by_id[tagged.instance_id]["Tags"] == {"Tag": [{"TagKey": "env", "TagValue": "dev"}]}
    assert "Tags" not in by_id[untagged.instance_id]  # absent, not empty
    assert by_id[tagged.instance_id]["AutoReleaseTime"] == ""
    assert by_id[tagged.instance_id]["CreationTime"] == "2026-11-23T06:00Z"
    assert by_id[tagged.instance_id]["ExpiredTime"] == "2099-12-31T15:59Z"
    assert by_id[tagged.instance_id]["StoppedMode"] == "Not-applicable"
    sdk_untagged = next(
        i for i in response.body.instances.instance if i.instance_id == untagged.instance_id
    )
    assert sdk_untagged.tags is None


def test_auto_release_time_is_written_without_seconds(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    instance = ecs_emulator.add_instance(
        auto_release_time=ecs_emulator.now().replace(day=28, hour=1, minute=2, second=33)
    )
    body = describe(client, instance_ids=json.dumps([instance.instance_id])).body
    assert body.instances.instance[0].auto_release_time == "2026-11-28T01:02Z"


def test_filters_status_tags_charge_type_and_resource_group(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    dev_running = ecs_emulator.add_instance(tags={"env": "dev", "team": "a"})
    dev_stopped = ecs_emulator.add_instance(status="Stopped", tags={"env": "dev"})
    prod = ecs_emulator.add_instance(tags={"env": "prod", "team": "a"}, charge_type="PrePaid")
    grouped = ecs_emulator.add_instance(resource_group_id="rg-1")
    ecs_emulator.add_instance(region="cn-shanghai", tags={"env": "dev"})

    def ids(**kwargs: Any) -> set[str]:
        return {
            i.instance_id
            for i in describe(client, max_results=100, **kwargs).body.instances.instance
        }

    env_dev = ecs.DescribeInstancesRequestTag(key="env", value="dev")
    team_any = ecs.DescribeInstancesRequestTag(key="team")
    assert ids(tag=[env_dev]) == {dev_running.instance_id, dev_stopped.instance_id}
    assert ids(tag=[env_dev, team_any]) == {dev_running.instance_id}  # AND
    assert ids(tag=[team_any]) == {dev_running.instance_id, prod.instance_id}  # key only: any value
    assert ids(status="Stopped") == {dev_stopped.instance_id}
    assert ids(instance_charge_type="PrePaid") == {prod.instance_id}
    assert ids(resource_group_id="rg-1") == {grouped.instance_id}


def test_instance_ids_is_a_json_array_and_unknown_ids_are_just_absent(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    first = ecs_emulator.add_instance()
    ecs_emulator.add_instance()

    assert describe(client, instance_ids="[]").body.instances.instance == []
    found = describe(client, instance_ids=json.dumps([first.instance_id, "i-unknown"])).body
    assert [i.instance_id for i in found.instances.instance] == [first.instance_id]


def test_instance_ids_sent_as_a_list_is_not_a_filter(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    # The SDK turns a Python list into InstanceIds.1=..., which the real API does not read.
    first = ecs_emulator.add_instance()
    second = ecs_emulator.add_instance()
    body = describe(client, instance_ids=[first.instance_id]).body
    assert {i.instance_id for i in body.instances.instance} == {
        first.instance_id,
        second.instance_id,
    }


def test_paging_with_next_token_and_max_results(ecs_emulator: EcsEmulator, client: Any) -> None:
    created = [ecs_emulator.add_instance().instance_id for _ in range(25)]
    seen: list[str] = []
    token: str | None = None
    pages = 0
    while True:
        body = describe(client, max_results=10, next_token=token).body
        seen += [i.instance_id for i in body.instances.instance]
        pages += 1
        token = body.next_token
        if not token:
            break
    assert seen == created
    assert pages == 3
    assert body.next_token == ""  # empty on the last page


def test_max_results_below_ten_means_ten_and_above_hundred_means_hundred(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    for _ in range(105):
        ecs_emulator.add_instance()
    assert len(describe(client, max_results=3).body.instances.instance) == 10
    assert len(describe(client, max_results=500).body.instances.instance) == 100


def test_paging_with_page_number_and_page_size(ecs_emulator: EcsEmulator, client: Any) -> None:
    created = [ecs_emulator.add_instance().instance_id for _ in range(25)]
    pages = [describe(client, page_number=n, page_size=10).body for n in (1, 2, 3)]
    assert [i.instance_id for p in pages for i in p.instances.instance] == created
    assert [p.total_count for p in pages] == [25, 25, 25]
    assert [p.page_number for p in pages] == [1, 2, 3]


def test_next_token_wins_over_page_number(ecs_emulator: EcsEmulator, client: Any) -> None:
    created = [ecs_emulator.add_instance().instance_id for _ in range(15)]
    body = describe(client, max_results=10, page_number=2, page_size=5).body
    assert [i.instance_id for i in body.instances.instance] == created[:10]


def test_page_size_above_100_is_refused(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    error = sdk_error(lambda: describe(client, page_size=101))
    assert (error.code, error.status_code) == ("InvalidParameter", 400)


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"status": "Sleeping"}, "InvalidStatus.NotFound", 404),
        ({"instance_charge_type": "Free"}, "InvalidInstanceChargeType.NotFound", 404),
        ({"tag": [ecs.DescribeInstancesRequestTag(value="dev")]}, "InvalidTag.Mismatch", 400),
        ({"instance_ids": "i-1,i-2"}, "InvalidParameter", 400),
        ({"instance_ids": json.dumps([f"i-{n}" for n in range(101)])}, "InvalidParameter", 400),
        ({"next_token": "not-a-token"}, "InvalidParameter", 400),
        ({"dry_run": True}, "DryRunOperation", 400),
    ],
)
def test_describe_instances_errors(
    client: Any, sdk_error: SdkError, kwargs: dict[str, Any], code: str, status: int
) -> None:
    error = sdk_error(lambda: describe(client, **kwargs))
    assert (error.code, error.status_code) == (code, status)
    assert set(error.data) >= {"RequestId", "HostId", "Code", "Message", "Recommend"}


def test_missing_region_id_is_a_gateway_error(client: Any, sdk_error: SdkError) -> None:
    error = sdk_error(lambda: client.describe_instances(ecs.DescribeInstancesRequest()))
    assert (error.code, error.status_code) == ("MissingRegionId", 400)
    assert error.data["Message"] == "RegionId is mandatory for this action."


def test_regions_are_separate(ecs_emulator: EcsEmulator, client: Any) -> None:
    shanghai = ecs_emulator.add_instance(region="cn-shanghai")
    assert (
        describe(client, instance_ids=json.dumps([shanghai.instance_id])).body.instances.instance
        == []
    )
    body = client.describe_instances(ecs.DescribeInstancesRequest(region_id="cn-shanghai")).body
    assert [i.instance_id for i in body.instances.instance] == [shanghai.instance_id]


def test_describe_instance_status_pages_of_at_most_50(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    created = [ecs_emulator.add_instance(status="Stopped").instance_id for _ in range(60)]
    request = ecs.DescribeInstanceStatusRequest(
        region_id="cn-hangzhou", page_size=50, page_number=2
    )
    body = client.describe_instance_status(request).body
    assert body.total_count == 60
    assert [s.instance_id for s in body.instance_statuses.instance_status] == created[50:]
    assert {s.status for s in body.instance_statuses.instance_status} == {"Stopped"}

    too_big = ecs.DescribeInstanceStatusRequest(region_id="cn-hangzhou", page_size=51)
    assert sdk_error(lambda: client.describe_instance_status(too_big)).code == "InvalidParameter"
    too_many = ecs.DescribeInstanceStatusRequest(
        region_id="cn-hangzhou", instance_id=[f"i-{n}" for n in range(101)]
    )
    error = sdk_error(lambda: client.describe_instance_status(too_many))
    assert (error.code, error.status_code) == ("InvalidParameter.TooManyInstanceIds", 403)


def test_describe_instance_status_by_ids(ecs_emulator: EcsEmulator, client: Any) -> None:
    first = ecs_emulator.add_instance()
    ecs_emulator.add_instance()
    request = ecs.DescribeInstanceStatusRequest(
        region_id="cn-hangzhou", instance_id=[first.instance_id, "i-gone"]
    )
    statuses = client.describe_instance_status(request).body.instance_statuses.instance_status
    assert [(s.instance_id, s.status) for s in statuses] == [(first.instance_id, "Running")]


def test_large_fleet_pages_stay_fast(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.add_fleet(
        generate_fleet(FleetSpec(count=10_000, regions=("cn-hangzhou", "cn-shanghai")))
    )
    token: str | None = None
    total = 0
    while True:
        body = describe(client, max_results=100, next_token=token).body
        total += len(body.instances.instance)
        token = body.next_token
        if not token:
            break
    assert total == 5_000


def test_describe_instance_attribute_has_no_protection_release_time_or_tags(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-shanghai", tags={"env": "dev"}, deletion_protection=True
    )
    request = ecs.DescribeInstanceAttributeRequest(instance_id=instance.instance_id)
    body = client.describe_instance_attribute(request).body.to_map()
    assert (body["InstanceId"], body["Status"], body["RegionId"]) == (
        instance.instance_id,
        "Running",
        "cn-shanghai",
    )
    assert not {"DeletionProtection", "AutoReleaseTime", "Tags"} & set(body)
    missing = ecs.DescribeInstanceAttributeRequest(instance_id="i-missing")
    error = sdk_error(lambda: client.describe_instance_attribute(missing))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)
