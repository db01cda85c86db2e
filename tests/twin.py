"""An in-memory twin of the ECS gateway (`ecs_lifecycle.ecs.Gateway`), for fast executor tests.

It keeps instances, disks and snapshots in dicts and answers as the real gateway does over the
emulator: the same records, the same error codes, stops and snapshots that finish after a delay on
the test's clock. No HTTP, no SDK, no retries: a call takes microseconds, so the executor's
batching, splitting, polling, snapshot and deadline logic is tested in milliseconds.
tests/contract/test_gateway_contract.py runs the same scenarios on this twin and on the real
gateway against the emulator, so the twin cannot drift from what the SDK sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.ecs import BatchItemResult, DiskInfo, SnapshotInfo
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Instance
from ecs_lifecycle.planning import MAX_LEAD, MIN_LEAD
from ecs_lifecycle.timeparse import floor_to_minute

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.ecs import Gateway
    from ecs_lifecycle.selection import TagSelector

REGIONS: Final = frozenset({"cn-hangzhou", "cn-shanghai", "cn-beijing", "us-east-1"})


@dataclass
class _Box:
    """One instance as the twin holds it: the record, and when its stop finishes."""

    instance: Instance
    disks: list[str]
    stopped_at: datetime | None = None


@dataclass
class _Snapshot:
    snapshot_id: str
    disk_id: str
    created: datetime
    tags: dict[str, str]


@dataclass
class InMemoryGateway:
    """The twin. `fail` makes an operation fail for one instance (or every call, with `"*"`)."""

    clock: Clock
    stop_seconds: float = 30.0
    snapshot_seconds: float = 60.0
    boxes: dict[str, _Box] = field(default_factory=dict)
    snapshots: dict[str, _Snapshot] = field(default_factory=dict)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    failures: dict[tuple[str, str], EcsApiError] = field(default_factory=dict)
    _counter: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- building the world --------------------------------------------------------------------

    def add(self, instance: Instance, disks: int = 1) -> Instance:
        with self._lock:
            ids = [self._new_id("d-") for _ in range(disks)]
            self.boxes[instance.instance_id] = _Box(instance, ids)
        return instance

    def fail(self, operation: str, instance_id: str, code: str, status: int = 403) -> None:
        """Every `operation` call naming `instance_id` ("*": every call) fails with `code`."""
        self.failures[(operation, instance_id)] = EcsApiError(operation, code, "twin", None, status)

    def attach_disk(self, instance_id: str) -> str:
        with self._lock:
            disk_id = self._new_id("d-")
            self.boxes[instance_id].disks.append(disk_id)
            return disk_id

    def update(self, instance_id: str, **changes: object) -> None:
        """Change an instance behind the API's back (someone in the console)."""
        with self._lock:
            box = self.boxes[instance_id]
            box.instance = replace(box.instance, **changes)  # type: ignore[arg-type]
            box.stopped_at = None

    def calls_to(self, operation: str) -> list[tuple[str, ...]]:
        return [ids for name, ids in self.calls if name == operation]

    # --- the Gateway protocol ------------------------------------------------------------------

    def describe_regions(self, asked_in: str) -> frozenset[str]:
        self._called("DescribeRegions", ())
        return REGIONS

    def describe_instances(
        self,
        region: str,
        *,
        instance_ids: Sequence[str] | None = None,
        tags: TagSelector | None = None,
    ) -> Iterable[Instance]:
        self._called("DescribeInstances", tuple(instance_ids or ()))
        with self._lock:
            found = [self._settled(box) for box in self.boxes.values()]
        return [
            instance
            for instance in found
            if instance.region == region
            and (instance_ids is None or instance.instance_id in instance_ids)
            and (tags is None or tags.matches(instance))
        ]

    def describe_disks(self, region: str, instance_id: str) -> list[DiskInfo]:
        self._called("DescribeDisks", (instance_id,))
        box = self.boxes.get(instance_id)
        return [DiskInfo(disk_id) for disk_id in box.disks] if box else []

    def describe_snapshots(self, region: str, snapshot_ids: Sequence[str]) -> list[SnapshotInfo]:
        self._called("DescribeSnapshots", tuple(snapshot_ids))
        return [self._info(self.snapshots[i]) for i in snapshot_ids if i in self.snapshots]

    def describe_tagged_snapshots(self, region: str, key: str, value: str) -> list[SnapshotInfo]:
        self._called("DescribeSnapshots", ())
        return [self._info(s) for s in self.snapshots.values() if s.tags.get(key) == value]

    def create_snapshot(
        self,
        region: str,
        disk_id: str,
        *,
        name: str,
        description: str,
        tags: Sequence[tuple[str, str]],
        client_token: str,
        retention_days: int | None = None,
    ) -> str:
        self._called("CreateSnapshot", (disk_id,))
        with self._lock:
            snapshot_id = self._new_id("s-")
            self.snapshots[snapshot_id] = _Snapshot(
                snapshot_id, disk_id, self.clock.now(), dict(tags)
            )
            return snapshot_id

    def stop_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
    ) -> list[BatchItemResult]:
        self._called("StopInstances", tuple(instance_ids))
        answers = []
        with self._lock:
            for instance_id in instance_ids:
                box = self.boxes.get(instance_id)
                refusal = self.failures.get(("StopInstances", instance_id))
                if box is None or box.instance.region != region:
                    answers.append(_answer(instance_id, "InvalidInstanceId.NotFound"))
                elif refusal is not None:
                    answers.append(_answer(instance_id, refusal.code))
                elif self._settled(box).status != "Running":
                    answers.append(_answer(instance_id, "IncorrectInstanceStatus"))
                else:
                    box.instance = replace(box.instance, status="Stopping")
                    box.stopped_at = self.clock.now() + timedelta(seconds=self.stop_seconds)
                    answers.append(_answer(instance_id, "200"))
        return answers

    def delete_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
    ) -> str | None:
        self._called("DeleteInstances", tuple(instance_ids))
        with self._lock:
            boxes = []
            for instance_id in instance_ids:
                box = self.boxes.get(instance_id)
                if box is None or box.instance.region != region:
                    raise EcsApiError(
                        "DeleteInstances", "InvalidInstanceIds.NotFound", "", None, 404
                    )
                refusal = self.failures.get(("DeleteInstances", instance_id))
                if refusal is not None:
                    raise refusal
                instance = self._settled(box)
                if instance.deletion_protection:
                    raise EcsApiError(
                        "DeleteInstances", "InvalidOperation.DeletionProtection", "", None, 403
                    )
                if instance.status != "Stopped" and not (force and instance.status == "Running"):
                    raise EcsApiError("DeleteInstances", "IncorrectInstanceStatus", "", None, 403)
                boxes.append(instance_id)
            for instance_id in boxes:
                del self.boxes[instance_id]
        return "twin-request"

    def modify_auto_release_time(
        self,
        region: str,
        instance_id: str,
        release_at: Callable[[], datetime | None] | datetime | None,
    ) -> datetime | None:
        self._called("ModifyInstanceAutoReleaseTime", (instance_id,))
        moment = release_at() if callable(release_at) else release_at
        sent = floor_to_minute(moment) if moment is not None else None
        with self._lock:
            box = self.boxes.get(instance_id)
            if box is None:
                raise EcsApiError("ModifyInstanceAutoReleaseTime", "NoSuchResource", "", None, 404)
            now = self.clock.now()
            if sent is not None and not (now + MIN_LEAD <= sent <= now + MAX_LEAD):
                raise EcsApiError(
                    "ModifyInstanceAutoReleaseTime",
                    "InvalidAutoReleaseTime.Malformed",
                    "",
                    None,
                    400,
                )
            box.instance = replace(box.instance, auto_release_time=sent)
        return sent

    # --- plumbing ------------------------------------------------------------------------------

    def _called(self, operation: str, ids: tuple[str, ...]) -> None:
        with self._lock:
            self.calls.append((operation, ids))
            failure = self.failures.get((operation, "*"))
        if failure is not None:
            raise failure

    def _settled(self, box: _Box) -> Instance:
        if box.stopped_at is not None and self.clock.now() >= box.stopped_at:
            box.instance = replace(box.instance, status="Stopped")
            box.stopped_at = None
        return box.instance

    def _info(self, snapshot: _Snapshot) -> SnapshotInfo:
        done = self.clock.now() >= snapshot.created + timedelta(seconds=self.snapshot_seconds)
        return SnapshotInfo(
            snapshot.snapshot_id,
            snapshot.disk_id,
            "accomplished" if done else "progressing",
            floor_to_minute(snapshot.created),
        )

    def _new_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}twin{self._counter:08d}"


def _answer(instance_id: str, code: str) -> BatchItemResult:
    return BatchItemResult(instance_id, code == "200", code, "twin", "twin-request")


if TYPE_CHECKING:

    def _the_twin_is_a_gateway(twin: InMemoryGateway) -> Gateway:
        return twin  # mypy checks the twin against the Protocol here
