"""What the snapshot-before-release feature needs from the emulator, via the real SDK.

A snapshot's finish time (to compare with the release call), a tag filter on DescribeSnapshots
(how a re-run finds what an earlier run made), and QuotaExceed.Snapshot on demand.
"""

from __future__ import annotations

import json
from typing import Any

import alibabacloud_ecs20140526.models as ecs

from ecs_emulator import EcsEmulator, FakeClock

from .conftest import SdkError

REGION = "cn-hangzhou"


def snapshot(client: Any, disk_id: str, **kwargs: Any) -> str:
    return str(
        client.create_snapshot(
            ecs.CreateSnapshotRequest(disk_id=disk_id, **kwargs)
        ).body.snapshot_id
    )


def test_a_snapshot_knows_when_it_finished(
    ecs_emulator: EcsEmulator, client: Any, ecs_clock: FakeClock
) -> None:
    ecs_emulator.settings.snapshot_duration = 60
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    started = ecs_clock.now()
    snapshot_id = snapshot(client, disk.disk_id)
    ecs_clock.advance(30)
    assert ecs_emulator.snapshots(disk_id=disk.disk_id)[0].finished_at is None
    ecs_clock.advance(45)
    view = ecs_emulator.snapshots(disk_id=disk.disk_id)[0]
    assert view.snapshot_id == snapshot_id
    assert view.status == "accomplished"
    assert (view.finished_at - started).total_seconds() == 60  # type: ignore[operator]


def test_describe_snapshots_filters_by_tag(ecs_emulator: EcsEmulator, client: Any) -> None:
    first = ecs_emulator.add_instance(disks=2)
    other = ecs_emulator.add_instance()
    mine = [
        snapshot(client, d.disk_id, tag=[ecs.CreateSnapshotRequestTag(key="owner", value="a")])
        for d in ecs_emulator.disks(first.instance_id)
    ]
    snapshot(
        client,
        ecs_emulator.disks(other.instance_id)[0].disk_id,
        tag=[ecs.CreateSnapshotRequestTag(key="owner", value="b")],
    )
    request = ecs.DescribeSnapshotsRequest(
        region_id=REGION,
        tag=[ecs.DescribeSnapshotsRequestTag(key="owner", value="a")],
        max_results=100,
    )
    found = client.describe_snapshots(request).body.snapshots.snapshot
    assert [s.snapshot_id for s in found] == mine
    by_ids = ecs.DescribeSnapshotsRequest(region_id=REGION, snapshot_ids=json.dumps(mine[:1]))
    assert [s.progress for s in client.describe_snapshots(by_ids).body.snapshots.snapshot] == ["0%"]


def test_quota_exceeded_can_be_injected_per_disk(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    disk = ecs_emulator.disks(ecs_emulator.add_instance().instance_id)[0]
    ecs_emulator.fail_resource(
        disk.disk_id, operation="CreateSnapshot", code="QuotaExceed.Snapshot"
    )
    error = sdk_error(lambda: snapshot(client, disk.disk_id))
    assert error.code == "QuotaExceed.Snapshot"
    assert ecs_emulator.snapshots() == []
