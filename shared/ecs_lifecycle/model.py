"""Domain data: what we know of an instance, what we decided, and what happened.

Only the fields the decisions need are kept per instance (not whole SDK models), so that a
10,000-instance fleet stays small in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import Enum
from typing import Any, Final


class Function(str, Enum):
    """The three FC functions, by their local name."""

    STOP = "stop"
    RELEASE = "release"
    AUTO_RELEASE = "auto-release"


class Action(str, Enum):
    """What a decision intends to do to one instance."""

    STOP = "stop"
    RELEASE = "release"
    SET_AUTO_RELEASE = "set-auto-release"
    CANCEL_AUTO_RELEASE = "cancel-auto-release"
    NONE = "none"


# DescribeInstances gives StartTime to the minute (a start at 10:00:40 reads 10:00): something
# that happened after the last start (a snapshot, a stop record) counts as later only from a full
# minute after the StartTime shown, so one from just before a restart in the same minute is never
# mistaken for a later one.
START_TIME_GRAIN: Final = timedelta(minutes=1)

DESTRUCTIVE_ACTIONS = frozenset({Action.STOP, Action.RELEASE, Action.SET_AUTO_RELEASE})


class Outcome(str, Enum):
    """What became of a decision."""

    DONE = "done"
    PLANNED = "planned"  # dry run: it would have been done
    SKIPPED = "skipped"
    FAILED = "failed"


POSTPAID = "PostPaid"
# The tag every snapshot taken before a release carries: how a person (and a re-run, which reuses
# them) finds the snapshots of an instance that no longer exists. Keys must not start with acs:
# or aliyun, so it is our own prefix.
SNAPSHOT_INSTANCE_TAG = "ecs-lifecycle:instance-id"


@dataclass(frozen=True, slots=True)
class Instance:
    """The part of an ECS instance that the decisions read."""

    instance_id: str
    region: str
    status: str
    charge_type: str
    deletion_protection: bool
    auto_release_time: datetime | None
    creation_time: datetime | None
    tags: tuple[tuple[str, str], ...] = ()
    spot_strategy: str = "NoSpot"
    start_time: datetime | None = None  # the last start, to the minute (DescribeInstances)
    # OperationLocks.LockReason (`security`, `financial`, ...): ECS has locked the instance.
    lock_reasons: tuple[str, ...] = ()
    name: str = ""  # InstanceName: only for people reading a run's output; no rule reads it

    def tag(self, key: str) -> str | None:
        """The value of tag `key`, or None when the instance does not carry it."""
        for tag_key, value in self.tags:
            if tag_key == key:
                return value
        return None


@dataclass(frozen=True, slots=True)
class SnapshotPlan:
    """Snapshot every disk of an instance, and wait for the snapshots, before releasing it.

    `tags` go on each snapshot: ours first (the instance id), then the instance's own, at most
    20 in all. `reuse_after`: a snapshot this tool made of the instance after this moment (its
    last start) still holds the disk as it will be released, so a re-run reuses it.
    """

    tags: tuple[tuple[str, str], ...]
    reuse_after: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What the planner decided for one instance, and why.

    `release_at` is set for SET_AUTO_RELEASE, and for a release that `stopped_for` keeps only for
    now: the moment it becomes due (what a notice lists as a coming release), and for a lifetime's
    time further ahead than the horizon (Action.NONE: said, not yet written). `stop_first` marks
    a release of an instance that must be stopped before it can be released; `wait_for_stop` one
    that is already stopping.
    `snapshot` is set for a release that must back up the instance's disks first. `force` marks
    the one release that may use DeleteInstances' Force: a Running instance released directly.
    """

    instance_id: str
    region: str
    action: Action
    reason: str
    release_at: datetime | None = None
    stop_first: bool = False
    wait_for_stop: bool = False
    skipped: bool = False
    snapshot: SnapshotPlan | None = None
    force: bool = False

    @property
    def changes(self) -> bool:
        """Whether carrying out this decision changes the instance."""
        return not self.skipped and self.action is not Action.NONE

    @property
    def destructive(self) -> bool:
        """Whether it can destroy or interrupt something (what the blast-radius cap counts).

        A cancellation of an auto-release destroys nothing, so it is never held back.
        """
        return self.changes and self.action in DESTRUCTIVE_ACTIONS


@dataclass(frozen=True, slots=True)
class InstanceResult:
    """What happened to one instance in a run; one entry of the summary, one log line."""

    instance_id: str
    region: str
    action: Action
    outcome: Outcome
    reason: str
    error_code: str | None = None
    request_id: str | None = None
    release_at: datetime | None = None
    # Snapshots taken (or reused) before the release: what a person restores from.
    snapshot_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "instance_id": self.instance_id,
            "region": self.region,
            "action": self.action.value,
            "outcome": self.outcome.value,
            "reason": self.reason,
        }
        if self.release_at is not None:
            entry["release_at"] = format_api_time(self.release_at)
        if self.error_code is not None:
            entry["error_code"] = self.error_code
        if self.request_id is not None:
            entry["request_id"] = self.request_id
        if self.snapshot_ids:
            entry["snapshot_ids"] = list(self.snapshot_ids)
        return entry


@dataclass(slots=True)
class RunSummary:
    """The result a handler returns: data, not prose."""

    function: Function
    dry_run: bool
    regions: tuple[str, ...]
    trigger: str
    results: list[InstanceResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for result in self.results if result.outcome is outcome)

    @property
    def failed(self) -> int:
        return self.count(Outcome.FAILED)

    def to_dict(self) -> dict[str, Any]:
        return {
            "function": self.function.value,
            "dry_run": self.dry_run,
            "trigger": self.trigger,
            "regions": list(self.regions),
            "counts": {outcome.value: self.count(outcome) for outcome in Outcome},
            "instances": [result.to_dict() for result in self.results],
            "notes": list(self.notes),
        }


# --- what an auto-release run asks for: the schedule --------------------------------------------


@dataclass(frozen=True, slots=True)
class ReleaseAt:
    """Set auto-release to this moment (manual `release_at`)."""

    moment: datetime


@dataclass(frozen=True, slots=True)
class ReleaseAfter:
    """Set auto-release to a duration after `since` (a timer's trigger time), or after now.

    Counting from the trigger time makes a retried timer invocation ask for the same minute, so
    the retry finds the time already set and makes no call.
    """

    duration: timedelta
    since: datetime | None = None


@dataclass(frozen=True, slots=True)
class CancelRelease:
    """Cancel auto-release (manual `cancel: true`)."""


@dataclass(frozen=True, slots=True)
class FromTag:
    """Let each instance's auto-release tag decide (events and reconcile timers)."""

    cancel_when_missing: bool = False


Schedule = ReleaseAt | ReleaseAfter | CancelRelease | FromTag


@dataclass(frozen=True, slots=True)
class Notice:
    """This run is the notice for the real run `lead` after `since` (a timer's trigger time).

    Counting from the trigger time, as `ReleaseAfter` does, names the same real run on a retry.
    """

    lead: timedelta
    since: datetime | None = None

    def run_at(self, now: datetime) -> datetime:
        """When the real run starts."""
        return (self.since or now) + self.lead


def format_api_time(moment: datetime) -> str:
    """The form ModifyInstanceAutoReleaseTime takes: UTC, whole minutes, `yyyy-MM-ddTHH:mm:00Z`."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:00Z")


@dataclass(frozen=True, slots=True)
class StopRecords:
    """When each instance was last stopped, as ActionTrail's records prove it (docs/actiontrail.md).

    `last_stop` maps an instance id to the time of the last successful StopInstance(s) call that
    named it, among the records from `since` on (ActionTrail keeps 90 days). An instance missing
    from it has no proven stop: it was stopped from inside the OS, or before `since`. `problem`
    says why the records cannot be trusted at all (ActionTrail throttled, down, or answering
    something unreadable); then no instance is released on their strength.
    """

    since: datetime
    last_stop: dict[str, datetime] = field(default_factory=dict)
    problem: str | None = None


# A run reads the tag writes of the last MIN_NOTICE and this much more: a write older than that
# has had its notice, and the margin covers clocks and a run that pages for a while.
TAG_RECORD_MARGIN: Final = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TagWrites:
    """When each instance's tags were last written (a TagResources or AddTags call), the anchor
    of the minimum notice (docs/safety.md, promises).

    From the EventBridge event that reported the call (its `eventTime`), or from ActionTrail's
    records from `since` on: an instance missing from `written` had no tag call since `since`, so
    its tags were written before it. `problem` says why the records cannot be trusted (ActionTrail
    throttled, down, unreadable); then no write time is known and doubt keeps.
    """

    since: datetime
    written: dict[str, datetime] = field(default_factory=dict)
    problem: str | None = None
