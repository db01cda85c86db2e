"""The decisions: pure functions from (instances, policy, now) to one Decision per instance.

Nothing here reads the clock, the environment or the network, so every rule that keeps the wrong
instance alive is testable as a table. The executor carries the decisions out; a dry run reports
them unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError
from ecs_lifecycle.model import (
    POSTPAID,
    SNAPSHOT_INSTANCE_TAG,
    Action,
    Decision,
    Instance,
    SnapshotPlan,
)
from ecs_lifecycle.settings import (
    CancelRelease,
    FromTag,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.timeparse import (
    ceil_to_minute,
    floor_to_minute,
    parse_duration,
    parse_zoned_time,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

# ModifyInstanceAutoReleaseTime accepts 30 minutes to 3 years ahead. The extra minute of margin
# covers the time between planning and the call reaching ECS, and small clock skew.
MIN_LEAD: Final = timedelta(minutes=30)
LEAD_MARGIN: Final = timedelta(minutes=1)
MAX_LEAD: Final = timedelta(days=3 * 365)
CANCEL_WORDS: Final = frozenset({"never", "off", "none"})
# CreateSnapshot takes at most 20 tags; keys starting with acs: or aliyun are the system's own.
MAX_SNAPSHOT_TAGS: Final = 20
RESERVED_TAG_PREFIXES: Final = ("acs:", "aliyun")


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the decisions depend on."""

    protect_tag: str = "protected"
    auto_release_tag: str = "auto-release"
    force: bool = False
    snapshot: bool = False
    snapshot_tag: str = "snapshot-before-release"


def protection_reason(instance: Instance, policy: Policy) -> str | None:
    """Why this instance must be left alone by every function, or None."""
    if not policy.protect_tag:
        return None
    value = instance.tag(policy.protect_tag)
    if value is None or value.strip().lower() == "false":
        return None
    return f"carries the protect tag {policy.protect_tag}={value!r}"


def _skip(instance: Instance, action: Action, reason: str) -> Decision:
    return Decision(instance.instance_id, instance.region, action, reason, skipped=True)


def _nothing_to_do(instance: Instance, reason: str) -> Decision:
    return Decision(instance.instance_id, instance.region, Action.NONE, reason, skipped=True)


def plan_stop(instances: Iterable[Instance], policy: Policy) -> list[Decision]:
    """Stop Running instances; leave the rest, each with its reason."""
    decisions: list[Decision] = []
    for instance in instances:
        protected = protection_reason(instance, policy)
        if protected:
            decisions.append(_skip(instance, Action.STOP, protected))
        elif instance.status == "Running":
            decisions.append(
                Decision(instance.instance_id, instance.region, Action.STOP, "is Running")
            )
        elif instance.status in ("Stopping", "Stopped"):
            decisions.append(_nothing_to_do(instance, f"already stopped ({instance.status})"))
        else:
            decisions.append(
                _skip(instance, Action.STOP, f"is {instance.status}; not stopped while it starts")
            )
    return decisions


def plan_release(instances: Iterable[Instance], policy: Policy) -> list[Decision]:
    """Release pay-as-you-go and spot instances that nothing protects, with snapshots if asked."""
    decisions: list[Decision] = []
    for instance in instances:
        reason = _release_refusal(instance, policy)
        if reason:
            decisions.append(_skip(instance, Action.RELEASE, reason))
            continue
        snapshot, why = snapshot_wanted(instance, policy)
        if snapshot is None:
            decisions.append(_skip(instance, Action.RELEASE, why))
            continue
        if instance.status == "Stopped":
            decision = Decision(instance.instance_id, instance.region, Action.RELEASE, "is Stopped")
        elif instance.status == "Stopping":
            decision = Decision(
                instance.instance_id,
                instance.region,
                Action.RELEASE,
                "is Stopping; released once Stopped",
                wait_for_stop=True,
            )
        elif policy.force and not snapshot:
            decision = Decision(
                instance.instance_id,
                instance.region,
                Action.RELEASE,
                "is Running; force releases it directly",
            )
        else:
            # With snapshots, even `force` stops first: a snapshot of a stopped instance is
            # consistent, and nothing is written to its disks between the snapshot and release.
            decision = Decision(
                instance.instance_id,
                instance.region,
                Action.RELEASE,
                "is Running; stopped first, released once Stopped",
                stop_first=True,
            )
        if snapshot:
            decision = replace(
                decision,
                reason=f"{decision.reason}; {why}",
                snapshot=SnapshotPlan(snapshot_tags(instance), reuse_after=instance.start_time),
            )
        elif why:
            decision = replace(decision, reason=f"{decision.reason}; {why}")
        decisions.append(decision)
    return decisions


def snapshot_wanted(instance: Instance, policy: Policy) -> tuple[bool | None, str]:
    """Whether to snapshot the disks before release, and why; None: the tag is unreadable.

    The instance's own tag wins over the option or setting, both ways. An unreadable tag keeps
    the instance: its owner asked for something, and releasing without a backup cannot be undone.
    """
    key = policy.snapshot_tag
    value = instance.tag(key) if key else None
    if value is None:
        if policy.snapshot:
            return True, "every disk is snapshotted first (snapshot before release is on)"
        return False, ""
    text = value.strip().lower()
    if text == "true":
        return True, f"every disk is snapshotted first (tag {key}={value!r})"
    if text == "false":
        return False, f"no snapshot (tag {key}={value!r})"
    return None, f"tag {key}={value!r} is neither true nor false; not released until it is"


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


def _release_refusal(instance: Instance, policy: Policy) -> str | None:
    protected = protection_reason(instance, policy)
    if protected:
        return protected
    if instance.deletion_protection:
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


def earliest_release_time(now: datetime) -> datetime:
    """The earliest minute ECS accepts for an auto-release time set now."""
    return ceil_to_minute(now + MIN_LEAD + LEAD_MARGIN)


def latest_release_time(now: datetime) -> datetime:
    return floor_to_minute(now + MAX_LEAD)


def resolve_manual_time(schedule: Schedule | None, now: datetime) -> datetime | None:
    """The moment a manual `release_at`/`release_after` asks for, checked against the window.

    A `release_at` in the past, or any time more than three years ahead, is refused before any
    ECS call; one sooner than 30 minutes (a `release_after` counted from a timer's trigger time
    included) is clamped later, per instance, and reported as such.

    Raises:
        InvalidInputError: the time is in the past or too far ahead.
    """
    if isinstance(schedule, ReleaseAfter):
        moment = (schedule.since or now) + schedule.duration
        field = "release_after"
    elif isinstance(schedule, ReleaseAt):
        moment = schedule.moment
        field = "release_at"
        if moment <= now:
            raise InvalidInputError(field, f"{moment.isoformat()} is in the past")
    else:
        return None
    if moment > latest_release_time(now):
        raise InvalidInputError(
            field, f"{moment.isoformat()} is more than 3 years ahead; ECS refuses it"
        )
    return moment


def plan_auto_release(
    instances: Iterable[Instance], schedule: Schedule, policy: Policy, now: datetime
) -> list[Decision]:
    """Set or cancel each instance's auto-release time, as the schedule or its tag says."""
    manual_time = resolve_manual_time(schedule, now)
    decisions: list[Decision] = []
    for instance in instances:
        protected = protection_reason(instance, policy)
        if protected:
            decisions.append(_skip(instance, _intended(schedule), protected))
        elif instance.charge_type != POSTPAID:
            decisions.append(
                _skip(
                    instance,
                    _intended(schedule),
                    f"is a subscription ({instance.charge_type}) instance; it has no auto-release",
                )
            )
        elif isinstance(schedule, CancelRelease):
            decisions.append(_cancel(instance, "cancel requested"))
        elif isinstance(schedule, FromTag):
            decisions.append(
                _unless_deletion_protected(_from_tag(instance, schedule, policy, now), instance)
            )
        else:
            assert manual_time is not None  # noqa: S101 - resolve_manual_time returned it for these
            decisions.append(
                _unless_deletion_protected(_set(instance, manual_time, now, "requested"), instance)
            )
    return decisions


def _unless_deletion_protected(decision: Decision, instance: Instance) -> Decision:
    """Never set an auto-release time on a deletion-protected instance (cancelling is fine).

    Deletion protection stops manual release only: ECS still releases such an instance when its
    auto-release time comes, so setting one would go around the protection.
    """
    if (
        decision.action is Action.SET_AUTO_RELEASE
        and decision.changes
        and instance.deletion_protection
    ):
        return _skip(
            instance,
            Action.SET_AUTO_RELEASE,
            "ECS deletion protection is on, and an auto-release would release it anyway",
        )
    return decision


def _intended(schedule: Schedule) -> Action:
    return (
        Action.CANCEL_AUTO_RELEASE
        if isinstance(schedule, CancelRelease)
        else Action.SET_AUTO_RELEASE
    )


def _cancel(instance: Instance, why: str) -> Decision:
    if instance.auto_release_time is None:
        return _nothing_to_do(instance, f"{why}; no auto-release time is set")
    return Decision(instance.instance_id, instance.region, Action.CANCEL_AUTO_RELEASE, why)


def _set(instance: Instance, wanted: datetime, now: datetime, why: str) -> Decision:
    target = floor_to_minute(wanted)
    earliest = earliest_release_time(now)
    if target > latest_release_time(now):
        return _skip(
            instance, Action.SET_AUTO_RELEASE, f"{why} {_show(target)} is more than 3 years ahead"
        )
    reason = f"{why} {_show(target)}"
    if target < earliest:
        current = instance.auto_release_time
        if current is not None and target <= floor_to_minute(current) <= earliest:
            # An earlier run clamped it: it is already as soon as ECS allows. Clamping again
            # would move it later on every run, so a reconcile firing more often than every
            # 30 minutes would never let it be released.
            return _nothing_to_do(
                instance, f"auto-release time is already {_show(current)} ({reason}, or soonest)"
            )
        target = earliest
        reason = f"{why} {_show(wanted)}, clamped to the earliest allowed minute {_show(target)}"
    if (
        instance.auto_release_time is not None
        and floor_to_minute(instance.auto_release_time) == target
    ):
        return _nothing_to_do(instance, f"auto-release time is already {_show(target)}")
    return Decision(
        instance.instance_id, instance.region, Action.SET_AUTO_RELEASE, reason, release_at=target
    )


def _from_tag(instance: Instance, schedule: FromTag, policy: Policy, now: datetime) -> Decision:
    key = policy.auto_release_tag
    value = instance.tag(key)
    if value is None:
        if schedule.cancel_when_missing:
            return _cancel(instance, f"the {key} tag was removed")
        return _nothing_to_do(instance, f"carries no {key} tag")
    text = value.strip()
    if text.lower() in CANCEL_WORDS:
        return _cancel(instance, f"tag {key}={value!r} cancels auto-release")
    moment = parse_zoned_time(text)
    if moment is not None:
        return _set(instance, moment, now, f"tag {key}={value!r} asks for")
    duration = parse_duration(text)
    if duration is not None:
        if instance.creation_time is None:
            return _skip(
                instance,
                Action.SET_AUTO_RELEASE,
                f"tag {key}={value!r} is a lifetime, but the creation time is unknown",
            )
        return _set(
            instance,
            instance.creation_time + duration,
            now,
            f"tag {key}={value!r} (lifetime from creation) gives",
        )
    return _skip(
        instance,
        Action.SET_AUTO_RELEASE,
        f"tag {key}={value!r} is neither a time with a zone, "
        "a duration (90m, 8h, 3d, 2w, PT8H) nor never/off/none",
    )


def _show(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def check_blast_radius(decisions: Iterable[Decision], limit: int) -> int:
    """Refuse a run that would change more than `limit` instances; return how many it changes.

    Raises:
        BlastRadiusExceededError: before any change is made.
    """
    changing = sum(1 for decision in decisions if decision.changes)
    if changing > limit:
        raise BlastRadiusExceededError(limit=limit, matched=changing)
    return changing
