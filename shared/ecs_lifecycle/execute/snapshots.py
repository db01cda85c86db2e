"""Snapshots before a release: one per disk, reused when an earlier one still holds the disk.

Order: stop, snapshot, wait, re-check, release. ECS can snapshot a running instance, but only a
stopped one gives snapshots that agree with each other and with the disk as released (nothing
writes between the snapshot and DeleteInstances). ECS also asks that the instance's state not
change while a snapshot is being created, so the release waits until every snapshot of that
instance is accomplished (`polling.poll_snapshots`). Right before the release the disks are
listed again (`fresh_after_snapshots`): a disk attached meanwhile gets its own snapshot first.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.context import halted, not_done
from ecs_lifecycle.execute.recheck import fresh
from ecs_lifecycle.execute.results import result
from ecs_lifecycle.execute.stages import Backup, Ready
from ecs_lifecycle.execute.tokens import client_token
from ecs_lifecycle.model import SNAPSHOT_INSTANCE_TAG, START_TIME_GRAIN, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ecs_lifecycle.ecs import DiskInfo, SnapshotInfo
    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.model import Decision, InstanceResult


def start_snapshots(
    region: Region, decision: Decision, backup: Backup | None
) -> Backup | InstanceResult:
    """A snapshot of every disk the instance has now: one made earlier, or a new one."""
    taken = dict(backup.snapshot_of) if backup is not None else {}
    if halted(region):
        return not_done(region, [decision], "snapshots not started")[0]
    gateway = region.run.gateway
    try:
        disks = gateway.describe_disks(region.name, decision.instance_id)
        earlier = gateway.describe_tagged_snapshots(
            region.name, SNAPSHOT_INSTANCE_TAG, decision.instance_id
        )
    except EcsApiError as error:
        return result(
            decision, Outcome.FAILED, "not released: disks not listed", error, taken.values()
        )
    if not disks:
        # Every instance has a system disk; none listed means we cannot back it up.
        missing = EcsApiError("DescribeDisks", "NoDiskFound", "no disk listed to snapshot")
        return result(decision, Outcome.FAILED, "not released", missing)
    return _snapshot_disks(region, decision, disks, earlier, taken)


def _snapshot_disks(
    region: Region,
    decision: Decision,
    disks: Sequence[DiskInfo],
    earlier: Sequence[SnapshotInfo],
    taken: dict[str, str],
) -> Backup | InstanceResult:
    """Each disk's snapshot: the one this pipeline took, a reusable earlier one, or a new one."""
    plan = decision.snapshot
    reuse_after = plan.reuse_after if plan is not None else None
    tags = plan.tags if plan is not None else ((SNAPSHOT_INSTANCE_TAG, decision.instance_id),)
    snapshot_of: dict[str, str] = {}
    for disk in disks:
        if disk.disk_id in taken:
            snapshot_of[disk.disk_id] = taken[disk.disk_id]
            continue
        reused = reusable(earlier, disk.disk_id, reuse_after)
        if reused is not None:
            snapshot_of[disk.disk_id] = reused
            _log_snapshot(region, decision, disk.disk_id, reused, reused=True)
            continue
        try:
            snapshot_id, tagged = create_snapshot(
                region, decision, disk.disk_id, tags=tags, reuse_after=reuse_after, earlier=earlier
            )
        except EcsApiError as error:
            return result(
                decision,
                Outcome.FAILED,
                f"not released: no snapshot of {disk.disk_id}",
                error,
                snapshot_of.values(),
            )
        snapshot_of[disk.disk_id] = snapshot_id
        _log_snapshot(region, decision, disk.disk_id, snapshot_id, reused=False, tagged=tagged)
    return Backup(decision, snapshot_of)


def create_snapshot(
    region: Region,
    decision: Decision,
    disk_id: str,
    *,
    tags: Sequence[tuple[str, str]],
    reuse_after: datetime | None,
    earlier: Sequence[SnapshotInfo],
) -> tuple[str, bool]:
    """CreateSnapshot with the tags; once more without them if RAM refuses the tagged call.

    Whether RAM also authorises CreateSnapshot's Tag.N as ecs:TagResources, which the role's
    policy denies, is undocumented (docs/deploy.md). If it does, every tagged CreateSnapshot
    is Forbidden and every instance asking for a snapshot would be kept: so a Forbidden answer
    to a tagged call is retried once without tags (its own token: other parameters). An
    untagged snapshot still guards this run's release; a later run only cannot find it to
    reuse and takes a new one. Returns the snapshot id and whether it carries the tags.
    """
    run = region.run
    name = f"ecs-lifecycle-{decision.instance_id}-{disk_id}"
    description = (
        f"Taken by ecs-lifecycle before releasing {decision.instance_id} "
        f"(disk {disk_id}, run {run.idempotency_seed[:16]})"
    )
    failed = sorted(s.snapshot_id for s in earlier if s.disk_id == disk_id and s.status == "failed")

    def create(with_tags: Sequence[tuple[str, str]]) -> str:
        return _create(
            region,
            disk_id,
            name=name,
            description=description,
            tags=with_tags,
            reuse_after=reuse_after,
            failed=failed,
        )

    try:
        return create(tags), True
    except EcsApiError as error:
        if not tags or not error.code.startswith("Forbidden"):
            raise
        refused = error
    log_line(
        "snapshot_tags_refused",
        region=region.name,
        disk_id=disk_id,
        error_code=refused.code,
        note="CreateSnapshot with tags was refused; taken once more without them",
    )
    return create(()), False


def _create(
    region: Region,
    disk_id: str,
    *,
    name: str,
    description: str,
    tags: Sequence[tuple[str, str]],
    reuse_after: datetime | None,
    failed: list[str],
) -> str:
    """One CreateSnapshot call, its ClientToken over every parameter it sends."""
    run = region.run
    token = client_token(
        run.idempotency_seed,
        "CreateSnapshot",
        DiskId=disk_id,
        SnapshotName=name,
        Description=description,
        Tag=[list(tag) for tag in tags],
        RetentionDays=run.snapshot_retention_days,
        # A restart since, or a failed snapshot, gets a new snapshot rather than the old answer.
        last_start=reuse_after.isoformat() if reuse_after else None,
        failed=failed,
    )
    return run.gateway.create_snapshot(
        region.name,
        disk_id,
        name=name,
        description=description,
        tags=tags,
        client_token=token,
        retention_days=run.snapshot_retention_days,
    )


def _log_snapshot(
    region: Region,
    decision: Decision,
    disk_id: str,
    snapshot_id: str,
    *,
    reused: bool,
    tagged: bool = True,
) -> None:
    # Logged as soon as it exists: should the run die before its summary, the ids are known.
    log_line(
        "snapshot",
        instance_id=decision.instance_id,
        region=region.name,
        disk_id=disk_id,
        snapshot_id=snapshot_id,
        reused=reused,
        tagged=tagged,
        at=region.run.clock.now().isoformat(),
    )


def reusable(
    earlier: Sequence[SnapshotInfo], disk_id: str, reuse_after: datetime | None
) -> str | None:
    """The newest snapshot this tool made of `disk_id` that still holds the disk as it is now.

    A failed one does not count; nor does one older than the instance's last start, since the
    disk may have changed after it (this tool snapshots stopped instances only).
    """
    usable = [
        snapshot
        for snapshot in earlier
        if snapshot.disk_id == disk_id
        and snapshot.status in ("progressing", "accomplished")
        and (
            reuse_after is None
            or (
                snapshot.creation_time is not None
                and snapshot.creation_time >= reuse_after + START_TIME_GRAIN
            )
        )
    ]
    if not usable:
        return None
    return max(usable, key=lambda s: (s.creation_time is not None, s.creation_time)).snapshot_id


def fresh_after_snapshots(
    region: Region, complete: Sequence[Backup]
) -> tuple[list[Ready], list[InstanceResult]]:
    """The instances whose snapshots are done, read again, with their disks listed again."""
    if not complete:
        return [], []
    ready, unread = fresh(region, [b.decision for b in complete])
    by_id = {b.decision.instance_id: b for b in complete}
    failures = [replace(r, snapshot_ids=by_id[r.instance_id].snapshot_ids) for r in unread]

    def with_disks(item: Ready) -> Ready | InstanceResult:
        backup = by_id[item.decision.instance_id]
        if item.fresh is None:
            return replace(item, backup=backup)
        try:
            disks = region.run.gateway.describe_disks(region.name, item.decision.instance_id)
        except EcsApiError as error:
            return result(
                item.decision,
                Outcome.FAILED,
                "not released: disks not listed again",
                error,
                backup.snapshot_ids,
            )
        backup.needs_disks = any(disk.disk_id not in backup.snapshot_of for disk in disks)
        return replace(item, backup=backup)

    checked: list[Ready] = []
    for item in region.pool.map(with_disks, ready):
        if isinstance(item, Ready):
            checked.append(item)
        else:
            failures.append(item)
    return checked, failures
