"""The emulator's records: mutable ones it keeps, and frozen views it hands out.

Tests and benchmarks read the fleet through the frozen ``*View`` dataclasses and the call log
through :class:`CallRecord`, so nothing outside the server thread can change state behind the
lock's back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

INSTANCE_STATUSES: Final[tuple[str, ...]] = (
    "Pending",
    "Starting",
    "Running",
    "Stopping",
    "Stopped",
)
# OperationLocks.LockReason values (reference 3, from the official API metadata).
LOCK_REASONS: Final[tuple[str, ...]] = (
    "financial",
    "security",
    "Recycling",
    "dedicatedhostfinancial",
    "refunded",
)

# What DescribeInstances shows as ExpiredTime for a pay-as-you-go instance (observed data).
POSTPAID_EXPIRED_TIME: Final = datetime.fromisoformat("2099-12-31T15:59:00+00:00")


@dataclass
class Instance:
    """One ECS instance as the emulator keeps it (internal, guarded by the emulator's lock)."""

    instance_id: str
    region: str
    zone: str
    name: str
    status: str
    tags: dict[str, str]
    charge_type: str
    spot_strategy: str
    deletion_protection: bool
    auto_release_time: datetime | None
    creation_time: datetime
    expired_time: datetime
    resource_group_id: str
    instance_type: str
    seq: int
    stopped_mode: str = "Not-applicable"
    start_time: datetime | None = None
    # When the current transitory state ends (Stopping -> Stopped, Pending -> Running).
    transition_done_at: datetime | None = None
    released_at: datetime | None = None
    release_cause: str | None = None
    # OperationLocks.LockReason, in the order they were set (see LOCK_REASONS).
    lock_reasons: list[str] = field(default_factory=list)

    @property
    def released(self) -> bool:
        return self.released_at is not None

    @property
    def security_locked(self) -> bool:
        return "security" in self.lock_reasons

    def is_expired(self, now: datetime) -> bool:
        return self.charge_type == "PrePaid" and self.expired_time <= now

    def view(self) -> InstanceView:
        return InstanceView(
            instance_id=self.instance_id,
            region=self.region,
            zone=self.zone,
            name=self.name,
            status=self.status,
            tags=dict(self.tags),
            charge_type=self.charge_type,
            spot_strategy=self.spot_strategy,
            deletion_protection=self.deletion_protection,
            auto_release_time=self.auto_release_time,
            creation_time=self.creation_time,
            expired_time=self.expired_time,
            stopped_mode=self.stopped_mode,
            resource_group_id=self.resource_group_id,
            instance_type=self.instance_type,
            released=self.released,
            start_time=self.start_time,
            lock_reasons=tuple(self.lock_reasons),
        )


@dataclass(frozen=True)
class InstanceView:
    """A read-only copy of an instance at the moment it was read."""

    instance_id: str
    region: str
    zone: str
    name: str
    status: str
    tags: dict[str, str]
    charge_type: str
    spot_strategy: str
    deletion_protection: bool
    auto_release_time: datetime | None
    creation_time: datetime
    expired_time: datetime
    stopped_mode: str
    resource_group_id: str
    instance_type: str
    released: bool
    start_time: datetime | None = None
    lock_reasons: tuple[str, ...] = ()


@dataclass
class Disk:
    disk_id: str
    region: str
    zone: str
    instance_id: str
    disk_type: str  # "system" or "data"
    category: str
    size_gib: int
    device: str
    creation_time: datetime
    seq: int
    delete_with_instance: bool = True
    tags: dict[str, str] = field(default_factory=dict)
    released: bool = False

    def status(self) -> str:
        return "In_use" if self.instance_id else "Available"

    def view(self) -> DiskView:
        return DiskView(
            disk_id=self.disk_id,
            region=self.region,
            instance_id=self.instance_id,
            disk_type=self.disk_type,
            category=self.category,
            size_gib=self.size_gib,
            device=self.device,
            status=self.status(),
            delete_with_instance=self.delete_with_instance,
            tags=dict(self.tags),
            released=self.released,
        )


@dataclass(frozen=True)
class DiskView:
    disk_id: str
    region: str
    instance_id: str
    disk_type: str
    category: str
    size_gib: int
    device: str
    status: str
    delete_with_instance: bool
    tags: dict[str, str]
    released: bool


@dataclass
class Snapshot:
    """A manual snapshot. Its status and progress are derived from the clock when read."""

    snapshot_id: str
    region: str
    disk_id: str
    disk_type: str
    instance_id: str
    name: str
    description: str
    retention_days: int | None
    tags: dict[str, str]
    creation_time: datetime
    duration: timedelta
    will_fail: bool
    seq: int

    def status(self, now: datetime) -> str:
        if now < self.creation_time + self.duration:
            return "progressing"
        return "failed" if self.will_fail else "accomplished"

    def progress_percent(self, now: datetime) -> int:
        if self.duration.total_seconds() <= 0:
            return 0 if self.will_fail else 100
        done = (now - self.creation_time) / self.duration
        if self.will_fail:
            # A failed snapshot stops part-way; it never reports 100%.
            return min(int(done * 100), 50)
        return max(0, min(100, int(done * 100)))

    def remaining_seconds(self, now: datetime) -> int:
        left = (self.creation_time + self.duration - now).total_seconds()
        return max(0, int(left))

    def finished_at(self, now: datetime) -> datetime | None:
        """When it became accomplished or failed; None while it is still progressing."""
        end = self.creation_time + self.duration
        return end if now >= end else None

    def view(self, now: datetime) -> SnapshotView:
        return SnapshotView(
            snapshot_id=self.snapshot_id,
            region=self.region,
            disk_id=self.disk_id,
            instance_id=self.instance_id,
            name=self.name,
            description=self.description,
            status=self.status(now),
            progress=self.progress_percent(now),
            retention_days=self.retention_days,
            tags=dict(self.tags),
            creation_time=self.creation_time,
            finished_at=self.finished_at(now),
        )


@dataclass(frozen=True)
class SnapshotView:
    snapshot_id: str
    region: str
    disk_id: str
    instance_id: str
    name: str
    description: str
    status: str
    progress: int
    retention_days: int | None
    tags: dict[str, str]
    creation_time: datetime
    # When it finished (accomplished or failed), to compare with the release call; None before.
    finished_at: datetime | None = None


@dataclass(frozen=True)
class ReleaseRecord:
    """Which instance went away, when, and how (a call or the emulator's own auto-release)."""

    instance_id: str
    region: str
    time: datetime
    cause: str


@dataclass(frozen=True)
class CallRecord:
    """One request as the emulator saw it.

    ``params`` holds business parameters only: signature, access key and token parameters are
    stripped before anything is recorded. ``status`` is 0 when the connection was dropped
    before any response was sent; ``fault`` names the injected fault, if any.
    """

    operation: str
    params: dict[str, str]
    status: int
    error_code: str | None
    time: datetime
    region: str | None
    request_id: str
    fault: str | None = None
    # The account the signer acts in (ecs_emulator.iam); None if the signature was refused.
    account: str | None = None
