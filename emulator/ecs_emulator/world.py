"""Changing the world behind the API's back: building instances and disks from specs, and the
edits a console user or another tool makes meanwhile (what :class:`EcsEmulator`'s ``add_*``,
``update_instance`` and ``attach_disk`` do, under its lock, on one account's state)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from ecs_emulator.fleet import DEFAULT_CREATION_AGE, DiskSpec, InstanceSpec, check_lock_reasons
from ecs_emulator.model import (
    POSTPAID_EXPIRED_TIME,
    Disk,
    DiskView,
    Instance,
    InstanceView,
    SnapshotView,
)
from ecs_emulator.state import FleetState


def add_instance(state: FleetState, spec: InstanceSpec, now: datetime) -> Instance:
    """Create one instance (and its disks) from ``spec``, as of ``now``."""
    instance_id = spec.instance_id or state.new_id("i-", spec.region)
    created = spec.creation_time or (now - DEFAULT_CREATION_AGE)
    if spec.charge_type == "PrePaid":
        expired_time = now - timedelta(days=1) if spec.expired else created + timedelta(days=365)
    else:
        expired_time = POSTPAID_EXPIRED_TIME
    zone = spec.zone or f"{spec.region}-h"
    instance = Instance(
        instance_id=instance_id,
        region=spec.region,
        zone=zone,
        name=spec.name or instance_id,
        status=spec.status,
        tags=dict(spec.tags),
        charge_type=spec.charge_type,
        spot_strategy=spec.spot_strategy,
        deletion_protection=spec.deletion_protection,
        auto_release_time=(
            None if spec.auto_release_time is None else _to_minute(spec.auto_release_time)
        ),
        creation_time=created,
        expired_time=expired_time,
        resource_group_id=spec.resource_group_id,
        instance_type=spec.instance_type,
        seq=state.next_seq(),
        stopped_mode="KeepCharging" if spec.status == "Stopped" else "Not-applicable",
        start_time=None if spec.status == "Pending" else created,
        lock_reasons=list(dict.fromkeys(spec.lock_reasons)),
    )
    disks = [
        new_disk(state, instance, disk_spec, position, created)
        for position, disk_spec in enumerate(_disk_specs(spec))
    ]
    state.add_instance(instance, disks)
    # An instance added mid-transition finishes it, as one caught in flight would.
    if instance.status == "Stopping":
        state.schedule_transition(instance, state.settings.stop_delay, now)
    elif instance.status in ("Pending", "Starting") and state.settings.start_delay is not None:
        state.schedule_transition(instance, state.settings.start_delay, now)
    return instance


def _disk_specs(spec: InstanceSpec) -> Sequence[DiskSpec]:
    if spec.disks is None:
        return [DiskSpec(disk_type="system")]
    if isinstance(spec.disks, int):
        if spec.disks < 1:
            raise ValueError("an instance has at least its system disk")
        return [DiskSpec(disk_type="system")] + [DiskSpec() for _ in range(spec.disks - 1)]
    return spec.disks


def new_disk(
    state: FleetState, instance: Instance, spec: DiskSpec, position: int, created: datetime
) -> Disk:
    """A disk of ``instance`` at device ``position`` (not yet added to the state)."""
    return Disk(
        disk_id=state.new_id("d-", instance.region),
        region=instance.region,
        zone=instance.zone,
        instance_id=instance.instance_id,
        disk_type=spec.disk_type,
        category=spec.category,
        size_gib=spec.size_gib,
        device=f"/dev/xvd{chr(ord('a') + position)}",
        creation_time=created,
        seq=state.next_seq(),
        delete_with_instance=spec.delete_with_instance,
    )


def attach_disk(state: FleetState, instance_id: str, spec: DiskSpec, now: datetime) -> Disk:
    """Attach a new data disk to a live instance (what AttachDisk does)."""
    instance = live_instance(state, instance_id)
    position = len(state.disks_by_instance.get(instance_id, []))
    disk = new_disk(state, instance, spec, position, now)
    state.add_disk(disk)
    return disk


def update_instance(
    state: FleetState,
    instance_id: str,
    *,
    status: str | None = None,
    tags: dict[str, str] | None = None,
    deletion_protection: bool | None = None,
    auto_release_time: datetime | None = None,
    cancel_auto_release: bool = False,
    lock_reasons: Sequence[str] | None = None,
) -> Instance:
    """Change a live instance's status, tags, protection, locks or auto-release time."""
    if lock_reasons is not None:
        check_lock_reasons(lock_reasons)
    instance = live_instance(state, instance_id)
    if status is not None:
        instance.status = status
        instance.transition_done_at = None
    if tags is not None:
        instance.tags = dict(tags)
    if deletion_protection is not None:
        instance.deletion_protection = deletion_protection
    if lock_reasons is not None:
        instance.lock_reasons = list(dict.fromkeys(lock_reasons))
    if cancel_auto_release:
        instance.auto_release_time = None
    elif auto_release_time is not None:
        release_at = _to_minute(auto_release_time)
        instance.auto_release_time = release_at
        state.schedule(release_at, "auto-release", instance_id)
    return instance


def live_instance(state: FleetState, instance_id: str) -> Instance:
    instance = state.instances.get(instance_id)
    if instance is None:
        raise KeyError(instance_id)
    return instance


def _to_minute(moment: datetime) -> datetime:
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


# ----- what the world holds, as views (the state settled by the caller) -----------------------
def find_instance(
    state: FleetState, instance_id: str, include_released: bool
) -> InstanceView | None:
    found = state.instances.get(instance_id)
    if found is None and include_released:
        found = state.released.get(instance_id)
    return found.view() if found else None


def instances(state: FleetState, region: str | None) -> list[InstanceView]:
    return [i.view() for i in state.instances.values() if region is None or i.region == region]


def disks(state: FleetState, instance_id: str | None) -> list[DiskView]:
    return [
        d.view()
        for d in state.disks.values()
        if instance_id is None or d.instance_id == instance_id
    ]


def snapshots(
    state: FleetState, now: datetime, instance_id: str | None, disk_id: str | None
) -> list[SnapshotView]:
    return [
        s.view(now)
        for s in state.snapshots.values()
        if (instance_id is None or s.instance_id == instance_id)
        and (disk_id is None or s.disk_id == disk_id)
    ]
