"""DescribeDisks, CreateSnapshot, DescribeSnapshots and the tag operations via the real SDK."""

from __future__ import annotations

import json
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import DiskSpec, EcsEmulator, FakeClock

from .conftest import SdkError

REGION = "cn-hangzhou"


def tags_of(emulator: EcsEmulator, instance_id: str) -> dict[str, str]:
    view = emulator.instance(instance_id)
    assert view is not None
    return view.tags


def snapshot(client: Any, disk_id: str, **kwargs: Any) -> str:
    request = ecs.CreateSnapshotRequest(disk_id=disk_id, **kwargs)
    return str(client.create_snapshot(request).body.snapshot_id)


def describe_snapshots(client: Any, **kwargs: Any) -> Any:
    return client.describe_snapshots(ecs.DescribeSnapshotsRequest(region_id=REGION, **kwargs)).body


# ----- disks --------------------------------------------------------------------------------
def test_disks_of_an_instance(ecs_emulator: EcsEmulator, client: Any) -> None:
    instance = ecs_emulator.add_instance(disks=3)
    ecs_emulator.add_instance()
    request = ecs.DescribeDisksRequest(region_id=REGION, instance_id=instance.instance_id)
    body = client.describe_disks(request).body
    disks = body.disks.disk
    assert [d.type for d in disks] == ["system", "data", "data"]
    assert {d.instance_id for d in disks} == {instance.instance_id}
    assert {d.status for d in disks} == {"In_use"}
    assert body.to_map()["Disks"]["Disk"][0]["Tags"] == {"Tag": []}
    assert body.next_token == ""


def test_disk_paging_and_json_ids(ecs_emulator: EcsEmulator, client: Any) -> None:
    for _ in range(15):
        ecs_emulator.add_instance()
    all_ids: list[str] = []
    token: str | None = None
    while True:
        request = ecs.DescribeDisksRequest(region_id=REGION, max_results=1, next_token=token)
        body = client.describe_disks(request).body
        assert len(body.disks.disk) <= 10  # MaxResults below 10 means 10
        all_ids += [d.disk_id for d in body.disks.disk]
        token = body.next_token
        if not token:
            break
    assert len(all_ids) == 15
    chosen = ecs.DescribeDisksRequest(region_id=REGION, disk_ids=json.dumps(all_ids[:2]))
    assert [d.disk_id for d in client.describe_disks(chosen).body.disks.disk] == all_ids[:2]


def test_explicit_disk_list_and_kept_disks(ecs_emulator: EcsEmulator, client: Any) -> None:
    instance = ecs_emulator.add_instance(
        status="Stopped",
        disks=[DiskSpec(disk_type="system"), DiskSpec(size_gib=500, delete_with_instance=False)],
    )
    kept = ecs_emulator.disks(instance.instance_id)[1]
    request = ecs.DeleteInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    client.delete_instances(request)
    disks = ecs_emulator.disks()
    assert [(d.disk_id, d.status, d.size_gib) for d in disks] == [(kept.disk_id, "Available", 500)]


# ----- snapshots ----------------------------------------------------------------------------
def test_snapshot_progresses_with_the_clock(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    instance = ecs_emulator.add_instance(tags={"env": "dev"})
    disk = ecs_emulator.disks(instance.instance_id)[0]
    snapshot_id = snapshot(
        client,
        disk.disk_id,
        snapshot_name="before-release",
        description="kept by ecs-lifecycle",
        retention_days=7,
        tag=[ecs.CreateSnapshotRequestTag(key="source-instance", value=instance.instance_id)],
    )

    def state() -> tuple[str, str, bool]:
        found = describe_snapshots(
            client, snapshot_ids=json.dumps([snapshot_id])
        ).snapshots.snapshot
        return found[0].status, found[0].progress, found[0].available

    assert state() == ("progressing", "0%", False)
    ecs_clock.advance(30)
    assert state() == ("progressing", "50%", False)
    ecs_clock.advance(30)
    assert state() == ("accomplished", "100%", True)
    found = describe_snapshots(client, instance_id=instance.instance_id).snapshots.snapshot[0]
    assert (found.source_disk_id, found.source_disk_type, found.retention_days) == (
        disk.disk_id,
        "system",
        7,
    )
    assert found.tags.tag[0].tag_key == "source-instance"
    assert found.creation_time == "2026-11-26T06:00:00Z"


def test_snapshots_survive_the_release_of_their_instance(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    disk = ecs_emulator.disks(instance.instance_id)[0]
    snapshot_id = snapshot(client, disk.disk_id)
    client.delete_instances(
        ecs.DeleteInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    )
    assert [s.snapshot_id for s in describe_snapshots(client).snapshots.snapshot] == [snapshot_id]


def test_one_snapshot_at_a_time_per_disk(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any, sdk_error: SdkError
) -> None:
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    snapshot(client, disk.disk_id)
    error = sdk_error(lambda: snapshot(client, disk.disk_id))
    assert (error.code, error.status_code) == ("IncorrectDiskStatus.CreatingSnapshot", 403)
    ecs_clock.advance(60)
    snapshot(client, disk.disk_id)


def test_client_token_makes_create_snapshot_idempotent(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    first = snapshot(client, disk.disk_id, client_token="run-1-d1")
    ecs_clock.advance(60)
    assert snapshot(client, disk.disk_id, client_token="run-1-d1") == first
    assert len(ecs_emulator.snapshots()) == 1


def test_failed_snapshots_and_status_filter(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    good = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    bad = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    ecs_emulator.fail_snapshots(bad.disk_id)
    good_id = snapshot(client, good.disk_id)
    bad_id = snapshot(client, bad.disk_id)
    assert {
        s.snapshot_id for s in describe_snapshots(client, status="progressing").snapshots.snapshot
    } == {
        good_id,
        bad_id,
    }
    ecs_clock.advance(60)
    failed = describe_snapshots(client, status="failed").snapshots.snapshot
    assert [(s.snapshot_id, s.available) for s in failed] == [(bad_id, False)]
    accomplished = describe_snapshots(client, status="accomplished").snapshots.snapshot
    assert [s.snapshot_id for s in accomplished] == [good_id]


@pytest.mark.parametrize(
    ("kwargs", "code", "status"),
    [
        ({"snapshot_name": "auto-nightly"}, "InvalidSnapshotName.Malformed", 400),
        ({"snapshot_name": "1st"}, "InvalidSnapshotName.Malformed", 400),
        ({"snapshot_name": "http://x"}, "InvalidSnapshotName.Malformed", 400),
        ({"description": "x"}, "InvalidDescription.Malformed", 400),
        ({"retention_days": 0}, "InvalidRetentionDays.Malformed", 400),
    ],
)
def test_create_snapshot_validation(  # noqa: PLR0917 - fixtures and params
    ecs_emulator: EcsEmulator,
    client: Any,
    sdk_error: SdkError,
    kwargs: dict[str, Any],
    code: str,
    status: int,
) -> None:
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    error = sdk_error(lambda: snapshot(client, disk.disk_id, **kwargs))
    assert (error.code, error.status_code) == (code, status)


def test_create_snapshot_errors(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    error = sdk_error(lambda: snapshot(client, "d-missing"))
    assert (error.code, error.status_code) == ("InvalidDiskId.NotFound", 404)
    stopping = ecs_emulator.add_instance(status="Stopping")
    disk = ecs_emulator.disks(stopping.instance_id)[0]
    assert sdk_error(lambda: snapshot(client, disk.disk_id)).code == "IncorrectInstanceStatus"
    quota = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    ecs_emulator.fail_resource(
        quota.disk_id, operation="CreateSnapshot", code="QuotaExceed.Snapshot"
    )
    error = sdk_error(lambda: snapshot(client, quota.disk_id))
    assert (error.code, error.status_code) == ("QuotaExceed.Snapshot", 403)


# ----- tags ---------------------------------------------------------------------------------
def tag(client: Any, ids: list[str], tags: dict[str, str], resource_type: str = "instance") -> Any:
    request = ecs.TagResourcesRequest(
        region_id=REGION,
        resource_type=resource_type,
        resource_id=ids,
        tag=[ecs.TagResourcesRequestTag(key=k, value=v) for k, v in tags.items()],
    )
    return client.tag_resources(request)


def test_tag_list_untag(ecs_emulator: EcsEmulator, client: Any) -> None:
    first = ecs_emulator.add_instance(tags={"env": "dev"})
    second = ecs_emulator.add_instance()
    tag(client, [first.instance_id, second.instance_id], {"auto-release": "8h", "env": "test"})
    assert tags_of(ecs_emulator, second.instance_id) == {"auto-release": "8h", "env": "test"}

    listing = ecs.ListTagResourcesRequest(
        region_id=REGION,
        resource_type="instance",
        tag=[ecs.ListTagResourcesRequestTag(key="auto-release")],
    )
    rows = client.list_tag_resources(listing).body.tag_resources.tag_resource
    assert {(r.resource_id, r.tag_key, r.tag_value) for r in rows} == {
        (first.instance_id, "env", "test"),
        (first.instance_id, "auto-release", "8h"),
        (second.instance_id, "env", "test"),
        (second.instance_id, "auto-release", "8h"),
    }

    untag = ecs.UntagResourcesRequest(
        region_id=REGION,
        resource_type="instance",
        resource_id=[first.instance_id],
        tag_key=["auto-release"],
    )
    client.untag_resources(untag)
    assert tags_of(ecs_emulator, first.instance_id) == {"env": "test"}
    remove_all = ecs.UntagResourcesRequest(
        region_id=REGION, resource_type="instance", resource_id=[second.instance_id], all=True
    )
    client.untag_resources(remove_all)
    assert tags_of(ecs_emulator, second.instance_id) == {}


def test_list_tag_resources_pages(ecs_emulator: EcsEmulator, client: Any) -> None:
    for _ in range(30):
        ecs_emulator.add_instance(tags={"env": "dev", "team": "a"})
    rows = 0
    token: str | None = None
    while True:
        request = ecs.ListTagResourcesRequest(
            region_id=REGION,
            resource_type="instance",
            tag=[ecs.ListTagResourcesRequestTag(key="env", value="dev")],
            next_token=token,
        )
        body = client.list_tag_resources(request).body
        rows += len(body.tag_resources.tag_resource)
        token = body.next_token
        if not token:
            break
    assert rows == 60


@pytest.mark.parametrize(
    ("ids", "tags", "code", "status"),
    [
        ([f"i-{n}" for n in range(51)], {"k": "v"}, "NumberExceed.ResourceIds", 400),
        (None, {f"k{n}": "v" for n in range(21)}, "NumberExceed.Tags", 400),
        (None, {"acs:owner": "me"}, "InvalidTagKey.Malformed", 400),
        (None, {"aliyun-x": "me"}, "InvalidTagKey.Malformed", 400),
        (None, {"k" * 129: "v"}, "InvalidTagKey.Malformed", 400),
        (None, {"k": "http://x"}, "InvalidTagValue.Malformed", 400),
        (["i-missing"], {"k": "v"}, "InvalidResourceId.NotFound", 404),
    ],
)
def test_tag_resources_errors(  # noqa: PLR0917 - fixtures and params
    ecs_emulator: EcsEmulator,
    client: Any,
    sdk_error: SdkError,
    ids: list[str] | None,
    tags: dict[str, str],
    code: str,
    status: int,
) -> None:
    target = ids or [ecs_emulator.add_instance().instance_id]
    error = sdk_error(lambda: tag(client, target, tags))
    assert (error.code, error.status_code) == (code, status)


def test_tag_quota_and_resource_type(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(tags={f"k{n}": "v" for n in range(20)})
    error = sdk_error(lambda: tag(client, [instance.instance_id], {"one-more": "v"}))
    assert (error.code, error.status_code) == ("QuotaExceed.Tags", 403)
    error = sdk_error(
        lambda: tag(client, [instance.instance_id], {"k": "v"}, resource_type="unicorn")
    )
    assert (error.code, error.status_code) == ("InvalidResourceType.NotFound", 404)
    empty = ecs.ListTagResourcesRequest(region_id=REGION, resource_type="instance")
    error = sdk_error(lambda: client.list_tag_resources(empty))
    assert (error.code, error.status_code) == ("BothEmpty.TagsAndResources", 403)


def test_disks_and_snapshots_can_be_tagged(ecs_emulator: EcsEmulator, client: Any) -> None:
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    tag(client, [disk.disk_id], {"backup": "yes"}, resource_type="disk")
    request = ecs.DescribeDisksRequest(
        region_id=REGION, tag=[ecs.DescribeDisksRequestTag(key="backup")]
    )
    assert [d.disk_id for d in client.describe_disks(request).body.disks.disk] == [disk.disk_id]
