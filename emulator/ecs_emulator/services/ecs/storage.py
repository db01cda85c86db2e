"""Disks and snapshots: listing the disks, taking and describing snapshots."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from ecs_emulator.errors import api_error, invalid_parameter
from ecs_emulator.model import Disk, Snapshot
from ecs_emulator.service import Body, Call
from ecs_emulator.services.ecs.common import (
    MAX_SNAPSHOTS_PER_DISK,
    checked_id_list,
    client_token,
    describe_page,
    dry_run_error,
    has_tags,
    region_for_single,
    replay,
    request_fingerprint,
    tag_filter,
    tags_body,
    validate_new_tags,
)
from ecs_emulator.state import FleetState
from ecs_emulator.wire import Params, format_seconds


# ----- disks and snapshots -----------------------------------------------------------------
def _disk_body(disk: Disk) -> Body:
    return {
        "DiskId": disk.disk_id,
        "DiskName": "",
        "Description": "",
        "RegionId": disk.region,
        "ZoneId": disk.zone,
        "InstanceId": disk.instance_id,
        "Type": disk.disk_type,
        "Category": disk.category,
        "Size": disk.size_gib,
        "Status": disk.status(),
        "Device": disk.device if disk.instance_id else "",
        "DeleteWithInstance": disk.delete_with_instance,
        "DeleteAutoSnapshot": True,
        "EnableAutoSnapshot": False,
        "DiskChargeType": "PostPaid",
        "Portable": disk.disk_type == "data",
        "Encrypted": False,
        "CreationTime": format_seconds(disk.creation_time),
        "AttachedTime": format_seconds(disk.creation_time) if disk.instance_id else "",
        "Attachments": {
            "Attachment": (
                [{"InstanceId": disk.instance_id, "Device": disk.device}]
                if disk.instance_id
                else []
            )
        },
        # Observed in real output: disks carry {"Tag": []} even when untagged.
        "Tags": tags_body(disk.tags),
    }


def describe_disks(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    instance_id = params.get("InstanceId")
    disk_ids = checked_id_list(params, "DiskIds")
    disk_type = (params.get("DiskType") or "all").lower()
    if disk_type not in ("all", "system", "data"):
        raise invalid_parameter("DiskType")
    wanted_tags = tag_filter(params)
    dry_run = params.boolean("DryRun", default=False)

    def keep(disk: Disk) -> bool:
        return (
            not disk.released
            and disk.region == region
            and (not instance_id or disk.instance_id == instance_id)
            and disk_type in ("all", disk.disk_type)
            and has_tags(disk.tags, wanted_tags)
        )

    candidates: Sequence[Disk]
    if disk_ids is not None:
        found = [state.disks.get(d) for d in dict.fromkeys(disk_ids)]
        candidates = sorted((d for d in found if d is not None), key=lambda d: d.seq)
    elif instance_id:
        found = [state.disks.get(d) for d in state.disks_by_instance.get(instance_id, [])]
        candidates = sorted((d for d in found if d is not None), key=lambda d: d.seq)
    else:
        candidates = state.region_disks(region)
    page, meta = describe_page(
        state,
        params,
        candidates,
        keep,
        default_max=10,
        # Reference 11.1: MaxResults 10-500, below 10 -> 10, above 500 -> 500.
        max_results_range=(10, 500),
        max_page_size=100,
    )
    if dry_run:
        raise dry_run_error("DryRunOperation")
    return {**meta, "Disks": {"Disk": [_disk_body(d) for d in page]}}


_SNAPSHOT_NAME: Final = re.compile(r"^[A-Za-z\u4e00-\u9fff][\w\u4e00-\u9fff.:-]{1,127}$")


def _check_snapshot_text(params: Params) -> tuple[str, str, int | None]:
    name = params.text("SnapshotName")
    if name and (
        not _SNAPSHOT_NAME.match(name)
        or name.lower().startswith("auto")
        or name.lower().startswith(("http://", "https://"))
    ):
        raise api_error("InvalidSnapshotName.Malformed")
    description = params.text("Description")
    if description and (
        not 2 <= len(description) <= 256 or description.startswith(("http://", "https://"))
    ):
        raise api_error("InvalidDescription.Malformed")
    retention: int | None = None
    if params.get("RetentionDays"):
        retention = params.integer("RetentionDays", default=0)
        if not 1 <= retention <= 65536:
            raise api_error("InvalidRetentionDays.Malformed")
    return name, description, retention


def create_snapshot(state: FleetState, call: Call) -> Body:
    params = call.params
    disk_id = params.require("DiskId")
    name, description, retention = _check_snapshot_text(params)
    tags = validate_new_tags(params.tag_pairs("Tag")) if params.tag_pairs("Tag") else {}
    token = client_token(params)
    replayed = replay(state, "CreateSnapshot", token, params)
    if replayed is not None:
        return replayed
    if tags and state.refuse_tagged_snapshots:
        # RAM answers before ECS looks at the disk. Which action the message would name is
        # UNCONFIRMED; the generic RAM refusal is what a caller must be ready for.
        raise api_error("Forbidden.RAM")
    disk = state.disks.get(disk_id)
    region = region_for_single(call)
    if disk is None or disk.released or (region is not None and disk.region != region):
        raise api_error("InvalidDiskId.NotFound")
    failure = state.failure_for(disk_id, "CreateSnapshot")
    if failure is not None:
        raise failure
    if disk.instance_id:
        instance = state.instances.get(disk.instance_id)
        if instance is not None and instance.security_locked:
            # The security-lock API page (S18): refused only for a disk attached (In_use) to a
            # locked instance, which is every attached disk here.
            raise api_error("InstanceLockedForSecurity")
        if instance is None or instance.status not in ("Running", "Stopped"):
            raise api_error("IncorrectInstanceStatus")
    of_disk = [s for s in state.region_snapshots(disk.region) if s.disk_id == disk_id]
    if any(s.status(call.now) == "progressing" for s in of_disk):
        raise api_error("IncorrectDiskStatus.CreatingSnapshot")
    if len(of_disk) >= MAX_SNAPSHOTS_PER_DISK:
        raise api_error("QuotaExceed.Snapshot")
    snapshot = Snapshot(
        snapshot_id=state.new_id("s-", disk.region),
        region=disk.region,
        disk_id=disk.disk_id,
        disk_type=disk.disk_type,
        instance_id=disk.instance_id,
        name=name,
        description=description,
        retention_days=retention,
        tags=tags,
        creation_time=call.now,
        duration=timedelta(seconds=state.settings.snapshot_duration),
        will_fail=state.fail_all_snapshots or disk_id in state.failing_snapshot_disks,
        seq=state.next_seq(),
    )
    state.add_snapshot(snapshot)
    body: Body = {"SnapshotId": snapshot.snapshot_id}
    if token is not None:
        state.idempotency[("CreateSnapshot", token)] = (request_fingerprint(params), body)
    return dict(body)


def _snapshot_body(snapshot: Snapshot, now: datetime, disk_size: int) -> Body:
    status = snapshot.status(now)
    return {
        "SnapshotId": snapshot.snapshot_id,
        "SnapshotName": snapshot.name,
        "Description": snapshot.description,
        "Status": status,
        "Progress": f"{snapshot.progress_percent(now)}%",
        "RemainTime": snapshot.remaining_seconds(now),
        "SourceDiskId": snapshot.disk_id,
        "SourceDiskType": snapshot.disk_type,
        "SourceDiskSize": str(disk_size),
        "SourceStorageType": "disk",
        "Available": status == "accomplished",
        "CreationTime": format_seconds(snapshot.creation_time),
        "LastModifiedTime": format_seconds(now),
        "RetentionDays": snapshot.retention_days or 0,
        "SnapshotType": "user",
        "Category": "standard",
        "Usage": "none",
        "Encrypted": False,
        "InstantAccess": False,
        "ResourceGroupId": "",
        "RegionId": snapshot.region,
        # UNCONFIRMED for snapshots: shaped like disks, {"Tag": []} when untagged.
        "Tags": tags_body(snapshot.tags),
    }


def describe_snapshots(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    snapshot_ids = checked_id_list(params, "SnapshotIds")
    instance_id = params.get("InstanceId")
    disk_id = params.get("DiskId")
    status = (params.get("Status") or "all").lower()
    if status not in ("progressing", "accomplished", "failed", "all"):
        raise invalid_parameter("Status")
    wanted_tags = tag_filter(params)
    dry_run = params.boolean("DryRun", default=False)
    now = call.now

    def keep(snapshot: Snapshot) -> bool:
        return (
            snapshot.region == region
            and (not instance_id or snapshot.instance_id == instance_id)
            and (not disk_id or snapshot.disk_id == disk_id)
            and (status == "all" or snapshot.status(now) == status)
            and has_tags(snapshot.tags, wanted_tags)
        )

    candidates: Sequence[Snapshot]
    if snapshot_ids is not None:
        found = [state.snapshots.get(s) for s in dict.fromkeys(snapshot_ids)]
        candidates = sorted((s for s in found if s is not None), key=lambda s: s.seq)
    else:
        candidates = state.region_snapshots(region)
    page, meta = describe_page(
        state,
        params,
        candidates,
        keep,
        default_max=10,
        max_results_range=(1, 100),
        max_page_size=100,
    )
    if dry_run:
        raise dry_run_error("DryRunOperation")

    def size_of(snapshot: Snapshot) -> int:
        disk = state.disks.get(snapshot.disk_id)
        return disk.size_gib if disk else 40

    return {**meta, "Snapshots": {"Snapshot": [_snapshot_body(s, now, size_of(s)) for s in page]}}
