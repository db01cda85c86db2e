"""The seam: the `Gateway` Protocol the executor and the handler use, and its value types.

Nothing here imports the SDK: the twin (tests/twin.py) and every caller depend on these names only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.model import Instance
    from ecs_lifecycle.selection import TagSelector
    from ecs_lifecycle.settings import Settings

BATCH_SIZE: Final = 100  # StopInstances / DeleteInstances / InstanceIds maximum


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """One instance's answer inside a batch call."""

    instance_id: str
    ok: bool
    code: str
    message: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """One disk attached to an instance."""

    disk_id: str


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot, as far as waiting for it and reusing it need."""

    snapshot_id: str
    disk_id: str
    status: str  # progressing, accomplished or failed
    creation_time: datetime | None


class Gateway(Protocol):
    """The ECS operations the executor and the handler use: the seam between them and the SDK.

    `EcsGateway` is the real one; tests also use an in-memory twin (tests/twin.py), and one
    contract test (tests/contract/) holds both to the same answers. Every method raises
    `EcsApiError` for a failure that retrying did not fix.
    """

    def describe_regions(self, asked_in: str) -> frozenset[str]: ...

    def describe_instances(
        self,
        region: str,
        *,
        instance_ids: Sequence[str] | None = None,
        tags: TagSelector | None = None,
    ) -> Iterable[Instance]: ...

    def describe_disks(self, region: str, instance_id: str) -> list[DiskInfo]: ...

    def describe_snapshots(
        self, region: str, snapshot_ids: Sequence[str]
    ) -> list[SnapshotInfo]: ...

    def describe_tagged_snapshots(
        self, region: str, key: str, value: str
    ) -> list[SnapshotInfo]: ...

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
    ) -> str: ...

    def stop_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
    ) -> list[BatchItemResult]: ...

    def delete_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
    ) -> str | None: ...

    def modify_auto_release_time(
        self,
        region: str,
        instance_id: str,
        release_at: Callable[[], datetime | None] | datetime | None,
    ) -> datetime | None: ...


# How a run gets its gateway: from the settings, the clock and the run's deadline.
GatewayFactory = Callable[["Settings", "Clock", "datetime | None"], Gateway]
