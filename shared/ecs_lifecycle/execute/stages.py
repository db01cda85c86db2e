"""The release pipeline's records of an instance in flight: its backup, its fresh read, the stages.

Plain data, shared by the rooms that move an instance along (polling, the re-check, snapshots,
the delete); none of them keeps these anywhere but where the pipeline hands them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ecs_lifecycle.model import Decision, Instance


@dataclass(slots=True)
class Backup:
    """An instance whose disks are being snapshotted: one snapshot per disk."""

    decision: Decision
    snapshot_of: dict[str, str]  # disk id -> snapshot id, in the disks' order
    needs_disks: bool = False  # a disk was attached after these snapshots were started

    @property
    def snapshot_ids(self) -> tuple[str, ...]:
        return tuple(self.snapshot_of.values())


@dataclass(slots=True)
class Ready:
    """A release whose instance was just read: the read the re-check applies to."""

    decision: Decision
    fresh: Instance | None  # None: the instance is gone
    backup: Backup | None = None


@dataclass(slots=True)
class Pipeline:
    """The release pipeline's in-flight instances, by stage."""

    stopping: dict[str, Decision] = field(default_factory=dict)  # insertion order = stop order
    snapshotting: dict[str, Backup] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.stopping or self.snapshotting)
