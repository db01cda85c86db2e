"""The release rules: release pay-as-you-go and spot instances that nothing keeps.

What keeps an instance from release: the refusals (protect tag, lock, deletion protection, a
subscription, a state it is not released in), keep-until, the owner's lifetime and its minimum
notice (release_time.py, the rule the auto-release function's times come from), `stopped_for`
(ActionTrail's stop records), and an unreadable snapshot tag. Snapshots before release are
planned here too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.model import (
    POSTPAID,
    SNAPSHOT_INSTANCE_TAG,
    START_TIME_GRAIN,
    Action,
    Decision,
    Instance,
    SnapshotPlan,
)
from ecs_lifecycle.planning.keeps import lenient_tags
from ecs_lifecycle.planning.reasons import noted, show, show_duration, skip
from ecs_lifecycle.planning.release_time import ReleaseTime, release_time

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from ecs_lifecycle.planning.keeps import Policy

# CreateSnapshot takes at most 20 tags; keys starting with acs: or aliyun are the system's own.
MAX_SNAPSHOT_TAGS: Final = 20
RESERVED_TAG_PREFIXES: Final = ("acs:", "aliyun")


def plan_release(instances: Iterable[Instance], policy: Policy, now: datetime) -> list[Decision]:
    """Release pay-as-you-go and spot instances that nothing keeps, with snapshots if asked."""
    return [decide_release(instance, policy, now) for instance in instances]


def decide_release(instance: Instance, policy: Policy, now: datetime) -> Decision:
    """One instance's release decision (also re-applied to a fresh read right before release)."""
    rule = release_time(instance, policy, now)
    return noted(_decide_release(instance, policy, now, rule), rule.keep.note)


def _decide_release(
    instance: Instance, policy: Policy, now: datetime, rule: ReleaseTime
) -> Decision:
    lifetime = rule.waits
    stopped = stopped_for_keeps(instance, policy, now)
    kept = (
        _release_refusal(instance, rule)
        # A keep signal: override_lifetime overrides the lifetime tag only, never keep-until.
        or rule.keep.keeps
        or (None if policy.override_lifetime else lifetime)
        or (stopped.why if stopped.keeps else None)
    )
    if kept:
        skipped = skip(instance, Action.RELEASE, kept)
        if kept == stopped.why:
            # Kept only until it has been Stopped long enough: the result says when, as data.
            skipped = replace(skipped, release_at=stopped.due)
        elif kept == lifetime and rule.due is not None:
            # Kept until its lifetime (or the minimum notice) lets it go: said as data too.
            skipped = replace(skipped, release_at=rule.due)
        return skipped
    snapshot, why = snapshot_wanted(instance, policy)
    if snapshot is None:
        return skip(instance, Action.RELEASE, why)
    decision = _release_by_status(instance, policy, snapshot=snapshot)
    notes = [
        stopped.why,
        f"override_lifetime overrides: {lifetime}" if lifetime else "",
        why,
    ]
    decision = replace(decision, reason="; ".join([decision.reason, *filter(None, notes)]))
    if snapshot:
        plan = SnapshotPlan(snapshot_tags(instance), reuse_after=instance.start_time)
        decision = replace(decision, snapshot=plan)
    return decision


def _release_by_status(instance: Instance, policy: Policy, *, snapshot: bool) -> Decision:
    """How a release goes ahead, by the instance's state: at once, after its stop, or forced."""
    if instance.status == "Stopped":
        return Decision(instance.instance_id, instance.region, Action.RELEASE, "is Stopped")
    if instance.status == "Stopping":
        return Decision(
            instance.instance_id,
            instance.region,
            Action.RELEASE,
            "is Stopping; released once Stopped",
            wait_for_stop=True,
        )
    if policy.force and not snapshot:
        return Decision(
            instance.instance_id,
            instance.region,
            Action.RELEASE,
            "is Running; force releases it directly",
            force=True,
        )
    # With snapshots, even `force` stops first (gracefully): a snapshot of a stopped instance
    # is consistent, and nothing is written to its disks between the snapshot and release.
    return Decision(
        instance.instance_id,
        instance.region,
        Action.RELEASE,
        "is Running; stopped first, released once Stopped",
        stop_first=True,
    )


@dataclass(frozen=True, slots=True)
class StoppedFor:
    """What `stopped_for` says of one instance: whether it keeps it from release now, why, and
    `due`, when a proven stop lets the release go ahead later (for a notice: coming releases)."""

    keeps: bool
    why: str = ""
    due: datetime | None = None


def stopped_for_keeps(instance: Instance, policy: Policy, now: datetime) -> StoppedFor:
    """Whether `stopped_for` keeps this instance from release now, and what to say about it.

    Only a stop that ActionTrail proves counts: an instance with no stop record (stopped from
    inside the OS, or before the records begin), one started since its last stop record, and any
    instance when the records cannot be trusted are kept, never assumed to be old (doubt keeps).
    The re-check before release applies this to a fresh read: an instance found started again is
    not Stopped, or has a StartTime after the record, and is kept. The text says when an instance
    that is kept only for now will be released, for the notice before the nightly release.
    """
    wait = policy.stopped_for
    if wait is None:
        return StoppedFor(keeps=False)
    after = f"released after {show_duration(wait)}"
    if instance.status != "Stopped":
        return StoppedFor(
            True,
            f"is {instance.status}; only instances Stopped for {show_duration(wait)} are "
            "released (stopped_for)",
        )
    records = policy.stop_records
    if records is None or records.problem is not None:
        problem = records.problem if records is not None else "no stop records were read"
        return StoppedFor(
            True, f"how long it has been Stopped is unknown ({problem}); doubt keeps it"
        )
    last_stop = records.last_stop.get(instance.instance_id)
    if last_stop is None:
        return StoppedFor(
            True,
            f"is Stopped, but ActionTrail has no record of it being stopped since "
            f"{show(records.since)} (stopped from inside the OS, or earlier); kept, never "
            "assumed old: a person decides",
        )
    started = instance.start_time
    if started is not None and last_stop < started + START_TIME_GRAIN:
        return StoppedFor(
            True,
            f"its last stop on record ({show(last_stop)}) is not after its last start "
            f"({show(started)}); kept, never assumed old",
        )
    stopped = f"stopped {show_duration(now - last_stop)} ago"
    due = last_stop + wait
    if due > now:
        return StoppedFor(True, f"{stopped}; {after}, so from {show(due)}", due)
    return StoppedFor(False, f"{stopped} (ActionTrail); {after}")


def snapshot_wanted(instance: Instance, policy: Policy) -> tuple[bool | None, str]:
    """Whether to snapshot the disks before release, and why; None: the tag is unreadable.

    The instance's own tag wins over the option or setting, both ways. An unreadable tag keeps
    the instance: its owner asked for something, and releasing without a backup cannot be undone.
    """
    key = policy.snapshot_tag
    found = lenient_tags(instance, key)
    if not found:
        if policy.snapshot:
            return True, "every disk is snapshotted first (snapshot before release is on)"
        return False, ""
    answers = {value.strip().lower() for _, value in found}
    shown = ", ".join(f"{k}={v!r}" for k, v in found)
    if answers == {"true"}:
        return True, f"every disk is snapshotted first (tag {shown})"
    if answers == {"false"}:
        return False, f"no snapshot (tag {shown})"
    return None, f"tag {shown} is neither true nor false; not released until it is"


def snapshot_tags(instance: Instance) -> tuple[tuple[str, str], ...]:
    """The tags for the instance's snapshots: its id under our key, then its own tags.

    System keys (acs:, aliyun) cannot be set by a caller and are left out; past 20 tags the
    instance's last ones are dropped, since ours is what finds the snapshots again.
    """
    ours = ((SNAPSHOT_INSTANCE_TAG, instance.instance_id),)
    own = tuple(
        (key, value)
        for key, value in instance.tags
        if key != SNAPSHOT_INSTANCE_TAG and not key.lower().startswith(RESERVED_TAG_PREFIXES)
    )
    return ours + own[: MAX_SNAPSHOT_TAGS - len(ours)]


def _release_refusal(instance: Instance, rule: ReleaseTime) -> str | None:
    if rule.protected:
        return rule.protected
    if rule.deletion_protected:
        return "ECS deletion protection is on (this tool never turns it off)"
    if instance.charge_type != POSTPAID:
        return (
            f"is a subscription ({instance.charge_type}) instance; only pay-as-you-go is released"
        )
    if instance.status in ("Pending", "Starting"):
        return f"is {instance.status}; not released while it starts"
    if instance.status not in ("Running", "Stopping", "Stopped"):
        return f"is in an unknown state {instance.status!r}"
    return None
