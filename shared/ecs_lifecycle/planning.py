"""The decisions: pure functions from (instances, policy, now) to one Decision per instance.

Nothing here reads the clock, the environment or the network, so every rule that keeps the wrong
instance alive is testable as a table. The executor carries the decisions out; a dry run reports
them unchanged.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Final

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError
from ecs_lifecycle.model import (
    POSTPAID,
    SNAPSHOT_INSTANCE_TAG,
    START_TIME_GRAIN,
    Action,
    CancelRelease,
    Decision,
    FromTag,
    Instance,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
    SnapshotPlan,
    StopRecords,
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
# At the moment of sending, a time at least this much beyond the 30 minutes still goes as planned.
SEND_MARGIN: Final = timedelta(seconds=15)
MAX_LEAD: Final = timedelta(days=3 * 365)
CANCEL_WORDS: Final = frozenset({"never", "off", "none"})
# CreateSnapshot takes at most 20 tags; keys starting with acs: or aliyun are the system's own.
MAX_SNAPSHOT_TAGS: Final = 20
RESERVED_TAG_PREFIXES: Final = ("acs:", "aliyun")
# A keep-until date: the whole of that day in the fleet's zone. ASCII digits only, as in timeparse.
_KEEP_DATE: Final = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the decisions depend on."""

    protect_tag: str = defaults.PROTECT_TAG
    auto_release_tag: str = defaults.AUTO_RELEASE_TAG
    force: bool = False
    snapshot: bool = False
    snapshot_tag: str = defaults.SNAPSHOT_TAG
    # release: an operator's explicit instance_ids release even what a lifetime tag still keeps.
    override_lifetime: bool = False
    keep_tag: str = defaults.KEEP_TAG
    # Where a keep-until date ends, and the zone keep-until times are shown in.
    time_zone: tzinfo = defaults.TIME_ZONE
    max_keep_days: int = defaults.MAX_KEEP_DAYS  # a keep-until further ahead is flagged
    # A release time derived from a tag is never sooner than this after the run that sets it.
    min_notice: timedelta = defaults.MIN_NOTICE
    # A tag-derived release time is written to ECS only this close to it (AUTO_RELEASE_HORIZON);
    # further ahead every run recomputes it from the tags, so nothing outlives the fleet.
    horizon: timedelta = defaults.AUTO_RELEASE_HORIZON
    # release: only instances proven Stopped for at least this long (RELEASE_IF_STOPPED_FOR, the
    # `stopped_for` option), by `stop_records`; None: the rule is off.
    stopped_for: timedelta | None = None
    stop_records: StopRecords | None = None


@dataclass(frozen=True, slots=True)
class KeepUntil:
    """What an instance's keep-until tag says at one moment.

    `keeps`: why stop and release must leave the instance alone (a time ahead, or a value that
    cannot be read), else None. `until`: the moment a readable keep-until still keeps it, which no
    auto-release time may precede. `note`: what every result for the instance must say (the tag
    expired, or it lies further ahead than MAX_KEEP_DAYS), else empty.
    """

    keeps: str | None = None
    until: datetime | None = None
    note: str = ""

    @property
    def unreadable(self) -> bool:
        return self.keeps is not None and self.until is None


NO_KEEP: Final = KeepUntil()


def lenient_tags(instance: Instance, key: str) -> list[tuple[str, str]]:
    """The tags whose key is `key` as people write it: any case, surrounding spaces ignored.

    For the protective keys only (the protect tag, the keep-until tag, the snapshot tag, and the
    lifetime when it keeps an instance from release): matching more keys protects more, which is
    the safe direction.
    """
    wanted = key.strip().lower()
    return [(k, v) for k, v in instance.tags if k.strip().lower() == wanted] if wanted else []


def near_miss_tags(instance: Instance, key: str) -> list[tuple[str, str]]:
    """Tags whose key looks like `key` but is not it (`Auto-Release`, `auto_release`).

    The auto-release key sets a release time, so it matches exactly; a near miss is reported as
    ignored, with its value, so that its owner learns why nothing happened.
    """

    def folded(text: str) -> str:
        return re.sub(r"[\s_.-]", "", text.lower())

    return [(k, v) for k, v in instance.tags if k != key and folded(k) == folded(key)]


def protection_reason(instance: Instance, policy: Policy) -> str | None:
    """Why this instance must be left alone by every function, or None.

    Any tag matching the protect key leniently protects, unless its value is `false`.
    """
    for key, value in lenient_tags(instance, policy.protect_tag):
        if value.strip().lower() != "false":
            return f"carries the protect tag {key}={value!r}"
    return None


def lock_reason(instance: Instance) -> str | None:
    """Why an operation lock leaves this instance alone, or None.

    A locked instance is in someone else's hands (billing, a security team), and releasing a
    security-locked one also deletes the disks marked to survive it: never act on one.
    """
    if instance.lock_reasons:
        return f"has an operation lock ({', '.join(instance.lock_reasons)}); left alone"
    return None


def keep_reason(instance: Instance, policy: Policy) -> str | None:
    """Why this instance must keep no auto-release time: the protect tag, deletion protection
    or an operation lock.

    ECS auto-release ignores deletion protection, so an auto-release time on such an instance
    would go around it.
    """
    protected = protection_reason(instance, policy) or lock_reason(instance)
    if protected:
        return protected
    if instance.deletion_protection:
        return "ECS deletion protection is on, and an auto-release would release it anyway"
    return None


def keep_until(instance: Instance, policy: Policy, now: datetime) -> KeepUntil:
    """What the keep-until tag says now: an override of every release that expires by itself.

    A value that cannot be read keeps the instance (its owner asked for something: doubt keeps).
    With several keys that match leniently, the latest time wins, and any unreadable one keeps.
    """
    found = lenient_tags(instance, policy.keep_tag)
    if not found:
        return NO_KEEP
    latest: tuple[datetime, str, str] | None = None
    for key, value in found:
        moment = parse_keep_until(value, policy.time_zone)
        if moment is None:
            return KeepUntil(
                keeps=(
                    f"its {key} tag {key}={value!r} is neither a time with a zone "
                    "(2026-12-04T18:00+08:00) nor a date (2026-12-04); doubt keeps it"
                )
            )
        if latest is None or moment > latest[0]:
            latest = (moment, key, value)
    assert latest is not None  # noqa: S101 - `found` is not empty
    moment, key, value = latest
    shown = _show_keep(moment, value, policy.time_zone)
    if moment <= now:
        return KeepUntil(note=f"its {key} tag {value!r} expired at {shown}; ignored")
    flag = ""
    ahead = moment - now
    if ahead > timedelta(days=policy.max_keep_days):
        days = math.ceil(ahead / timedelta(days=1))
        flag = (
            f"{key} is {days} days ahead, more than MAX_KEEP_DAYS={policy.max_keep_days}: "
            "for the fleet's admin to check"
        )
    return KeepUntil(keeps=f"kept until {shown} by its {key} tag", until=moment, note=flag)


def parse_keep_until(text: str, zone: tzinfo) -> datetime | None:
    """A keep-until value as UTC: a time with a zone, or `YYYY-MM-DD`, the end of that day in
    `zone` (the next midnight there); None when it is neither.

    The same grammar on every Python version (see timeparse): 3.10's `date.fromisoformat` and
    3.11's differ too.
    """
    moment = parse_zoned_time(text)
    if moment is not None:
        return moment
    match = _KEEP_DATE.fullmatch(text.strip())
    if match is None:
        return None
    try:
        day = date(int(match["year"]), int(match["month"]), int(match["day"]))
    except ValueError:  # month 13, February 30
        return None
    if day == date.max:
        return datetime.max.replace(tzinfo=timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    return end.astimezone(timezone.utc)


def show_in_zone(moment: datetime, zone: tzinfo) -> str:
    """A moment as people in the fleet's zone read it: `2026-12-04 18:00 +08:00`.

    Raises:
        OverflowError: the moment falls past the calendar's last day in `zone`.
    """
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{local:%Y-%m-%d %H:%M} {sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _show_keep(moment: datetime, value: str, zone: tzinfo) -> str:
    """A keep-until moment in the fleet's zone (`2026-12-04 18:00 +08:00`); a date as its end."""
    try:
        shown = show_in_zone(moment, zone)
    except OverflowError:  # 9999-12-31 in a zone east of UTC: past the calendar's last day
        return f"{value.strip()!r}, the end of time"
    if parse_zoned_time(value) is None:
        return f"the end of {value.strip()} ({shown})"
    return shown


def _noted(decision: Decision, note: str) -> Decision:
    return replace(decision, reason=f"{decision.reason}; {note}") if note else decision


def _skip(instance: Instance, action: Action, reason: str) -> Decision:
    return Decision(instance.instance_id, instance.region, action, reason, skipped=True)


def _nothing_to_do(instance: Instance, reason: str) -> Decision:
    return Decision(instance.instance_id, instance.region, Action.NONE, reason, skipped=True)


def plan_stop(instances: Iterable[Instance], policy: Policy, now: datetime) -> list[Decision]:
    """Stop Running instances; leave the rest, each with its reason."""
    return [decide_stop(instance, policy, now) for instance in instances]


def decide_stop(instance: Instance, policy: Policy, now: datetime) -> Decision:
    """One instance's stop decision (also re-applied to a fresh read before a late stop)."""
    keep = keep_until(instance, policy, now)
    return _noted(_decide_stop(instance, policy, keep), keep.note)


def _decide_stop(instance: Instance, policy: Policy, keep: KeepUntil) -> Decision:
    protected = protection_reason(instance, policy) or lock_reason(instance)
    if protected:
        return _skip(instance, Action.STOP, protected)
    if keep.keeps:
        return _skip(instance, Action.STOP, keep.keeps)
    if instance.status == "Running":
        return Decision(instance.instance_id, instance.region, Action.STOP, "is Running")
    if instance.status in ("Stopping", "Stopped"):
        return _nothing_to_do(instance, f"already stopped ({instance.status})")
    return _skip(instance, Action.STOP, f"is {instance.status}; not stopped while it starts")


def plan_release(instances: Iterable[Instance], policy: Policy, now: datetime) -> list[Decision]:
    """Release pay-as-you-go and spot instances that nothing keeps, with snapshots if asked."""
    return [decide_release(instance, policy, now) for instance in instances]


def decide_release(instance: Instance, policy: Policy, now: datetime) -> Decision:
    """One instance's release decision (also re-applied to a fresh read right before release)."""
    keep = keep_until(instance, policy, now)
    return _noted(_decide_release(instance, policy, now, keep), keep.note)


def _decide_release(instance: Instance, policy: Policy, now: datetime, keep: KeepUntil) -> Decision:
    lifetime = lifetime_keeps(instance, policy, now)
    stopped = stopped_for_keeps(instance, policy, now)
    kept = (
        _release_refusal(instance, policy)
        # A keep signal: override_lifetime overrides the lifetime tag only, never keep-until.
        or keep.keeps
        or (None if policy.override_lifetime else lifetime)
        or (stopped.why if stopped.keeps else None)
    )
    if kept:
        skipped = _skip(instance, Action.RELEASE, kept)
        if kept == stopped.why:
            # Kept only until it has been Stopped long enough: the result says when, as data.
            skipped = replace(skipped, release_at=stopped.due)
        return skipped
    snapshot, why = snapshot_wanted(instance, policy)
    if snapshot is None:
        return _skip(instance, Action.RELEASE, why)
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


def lifetime_keeps(instance: Instance, policy: Policy, now: datetime) -> str | None:
    """Why the owner's lifetime tag keeps this instance from release now, or None.

    An owner who wrote down a lifetime expects the instance to live that long: a time still ahead
    keeps it, `never`/`off`/`none` keeps it indefinitely, and a value that cannot be read keeps it
    too (doubt keeps). Only a lifetime that has passed lets the release go ahead.
    """
    for key, value in lenient_tags(instance, policy.auto_release_tag):
        text = value.strip()
        if text.lower() in CANCEL_WORDS:
            return f"kept indefinitely by its owner's tag {key}={value!r}"
        moment = tag_release_time(instance, text)
        if moment is None:
            return f"its lifetime tag {key}={value!r} cannot be read; doubt keeps it"
        if moment > now:
            return f"its auto-release tag {key}={value!r} keeps it until {_show(moment)}"
        promised = instance.auto_release_time
        if promised is not None and promised > now:
            # The auto-release function gave a lifetime that had passed (or was close) the
            # minimum notice and told the owner so: that ECS time is the promise, kept as state
            # nowhere else. ECS releases the instance then; no run releases it sooner.
            return (
                f"its lifetime tag {key}={value!r} has passed, but its auto-release time "
                f"{_show(promised)} (the minimum notice promised to its owner) is still ahead; "
                "released then, not sooner"
            )
    return None


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
    after = f"released after {_show_duration(wait)}"
    if instance.status != "Stopped":
        return StoppedFor(
            True,
            f"is {instance.status}; only instances Stopped for {_show_duration(wait)} are "
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
            f"{_show(records.since)} (stopped from inside the OS, or earlier); kept, never "
            "assumed old: a person decides",
        )
    started = instance.start_time
    if started is not None and last_stop < started + START_TIME_GRAIN:
        return StoppedFor(
            True,
            f"its last stop on record ({_show(last_stop)}) is not after its last start "
            f"({_show(started)}); kept, never assumed old",
        )
    stopped = f"stopped {_show_duration(now - last_stop)} ago"
    due = last_stop + wait
    if due > now:
        return StoppedFor(True, f"{stopped}; {after}, so from {_show(due)}", due)
    return StoppedFor(False, f"{stopped} (ActionTrail); {after}")


def _show_duration(span: timedelta) -> str:
    """A span as people say it: whole days, else hours, else minutes (rounded down)."""
    seconds = max(int(span.total_seconds()), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


def tag_release_time(instance: Instance, text: str) -> datetime | None:
    """The moment a lifetime tag's value names: a zoned time, or creation time plus a duration."""
    moment = parse_zoned_time(text)
    if moment is not None:
        return moment
    duration = parse_duration(text)
    if duration is None or instance.creation_time is None:
        return None
    return instance.creation_time + duration


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


def _release_refusal(instance: Instance, policy: Policy) -> str | None:
    protected = protection_reason(instance, policy) or lock_reason(instance)
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


def release_time_when_sent(wanted: datetime, now: datetime) -> datetime:
    """`wanted`, unless it has become too soon by the time the call is sent (retries take time).

    Then the earliest minute ECS accepts now. A time still comfortably inside the window is sent
    as planned, so a retried invocation asks for the same minute.
    """
    if wanted - now >= MIN_LEAD + SEND_MARGIN:
        return wanted
    return max(wanted, earliest_release_time(now))


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
    return [
        decide_auto_release(instance, schedule, policy, now, manual_time) for instance in instances
    ]


def decide_auto_release(
    instance: Instance,
    schedule: Schedule,
    policy: Policy,
    now: datetime,
    manual_time: datetime | None = None,
) -> Decision:
    """One instance's auto-release decision (also re-applied to a fresh read before the call).

    A cancellation is never blocked: it can destroy nothing. A keep signal (the protect tag, ECS
    deletion protection, an unreadable keep-until) makes the desired auto-release time "none", so
    an instance that gained one after a time was set has that time cancelled. A keep-until still
    ahead is a floor: no time set here falls before it.
    """
    keep = keep_until(instance, policy, now)
    decision = _decide_auto_release(instance, schedule, policy, now, manual_time, keep=keep)
    return _noted(decision, keep.note)


def _decide_auto_release(
    instance: Instance,
    schedule: Schedule,
    policy: Policy,
    now: datetime,
    manual_time: datetime | None,
    *,
    keep: KeepUntil,
) -> Decision:
    if instance.charge_type != POSTPAID:
        return _skip(
            instance,
            _intended(schedule),
            f"is a subscription ({instance.charge_type}) instance; it has no auto-release",
        )
    if isinstance(schedule, CancelRelease):
        return _cancel(instance, "cancel requested")
    if isinstance(schedule, FromTag):
        return _from_tag(instance, schedule, policy, now, keep)
    kept = keep_reason(instance, policy)
    if kept:
        return _cancel(instance, f"{kept}, so no auto-release time is set")
    if keep.unreadable:
        return _cancel(instance, f"{keep.keeps}, so no auto-release time is set", unreadable=True)
    if manual_time is None:
        manual_time = resolve_manual_time(schedule, now)
    assert manual_time is not None  # noqa: S101 - resolve_manual_time returns it for these
    # An operator's explicit time is taken as given (clamped only to what ECS allows), and one
    # beyond the horizon is flagged: it is ECS's timer, not renewed by the reconcile, so it stands
    # if the instance leaves the fleet. Refusing it would leave no way to push a release back.
    decision = _set(instance, manual_time, now, "requested", keep=keep)
    if decision.action is Action.SET_AUTO_RELEASE and manual_time > now + policy.horizon:
        decision = _noted(
            decision,
            f"beyond AUTO_RELEASE_HORIZON={_span(policy.horizon)}, this time stands in ECS even "
            "if the instance leaves the fleet; a lifetime tag's time is renewed instead",
        )
    return decision


def _intended(schedule: Schedule) -> Action:
    return (
        Action.CANCEL_AUTO_RELEASE
        if isinstance(schedule, CancelRelease)
        else Action.SET_AUTO_RELEASE
    )


def _cancel(instance: Instance, why: str, *, unreadable: bool = False) -> Decision:
    if instance.auto_release_time is None:
        if unreadable:
            return _skip(instance, Action.SET_AUTO_RELEASE, f"{why}; no auto-release time is set")
        return _nothing_to_do(instance, f"{why}; no auto-release time is set")
    return Decision(
        instance.instance_id,
        instance.region,
        Action.CANCEL_AUTO_RELEASE,
        f"{why}; its auto-release time {_show(instance.auto_release_time)} is cancelled",
    )


def _set(
    instance: Instance,
    wanted: datetime,
    now: datetime,
    why: str,
    *,
    keep: KeepUntil,
    notice: timedelta | None = None,
    horizon: timedelta = defaults.AUTO_RELEASE_HORIZON,
) -> Decision:
    """Set the auto-release time to `wanted`, or later where the rules require.

    Never sooner than ECS allows (30 minutes ahead); for a time derived from a tag (`notice` is
    given), never sooner than `notice` after this run; never before a keep-until still ahead.
    """
    target = floor_to_minute(wanted)
    current = floor_to_minute(instance.auto_release_time) if instance.auto_release_time else None
    if target > latest_release_time(now):
        return _skip(
            instance, Action.SET_AUTO_RELEASE, f"{why} {_show(target)} is more than 3 years ahead"
        )
    reason = f"{why} {_show(target)}"
    earliest = earliest_release_time(now)
    soonest = earliest if notice is None else max(earliest, ceil_to_minute(now + notice))
    floor = keep.until
    if floor is not None and floor <= latest_release_time(now):
        floor = ceil_to_minute(floor)  # ECS takes whole minutes; the floor must not fall before it
    if notice is not None:
        if target < soonest:
            passed = (
                "lifetime already passed" if wanted <= now else "sooner than the minimum notice"
            )
            if current is not None and current >= target and (floor is None or current >= floor):
                # No state is kept, so the time an earlier run set is recognised by being no
                # sooner than the tag asks: moving it again would push it later on every run,
                # and a later one was set by someone on purpose (an operator's push, say).
                settled = (
                    "given the minimum notice when it was set"
                    if current <= soonest
                    else "later than the minimum notice would give"
                )
                return _nothing_to_do(
                    instance,
                    f"auto-release time is already {_show(current)}, {settled} ({reason}: "
                    f"{passed}; MIN_NOTICE={_span(notice)}); kept as it is",
                )
            reason = (
                f"{reason}: {passed}; released after the minimum notice at {_show(soonest)} "
                f"(MIN_NOTICE={_span(notice)})"
            )
            target = soonest
    elif target < earliest:
        if (
            current is not None
            and target <= current <= earliest
            and (floor is None or current >= floor)
        ):
            # An earlier run clamped it: it is already as soon as ECS allows. Clamping again
            # would move it later on every run, so a reconcile firing more often than every
            # 30 minutes would never let it be released.
            return _nothing_to_do(
                instance, f"auto-release time is already {_show(current)} ({reason}, or soonest)"
            )
        target = earliest
        reason = f"{why} {_show(wanted)}, clamped to the earliest allowed minute {_show(target)}"
    if floor is not None and target < floor:
        if floor > latest_release_time(now):
            # Every time ECS accepts falls before the keep-until: the instance gets none.
            return _cancel(
                instance, f"{keep.keeps}, later than ECS auto-release reaches (3 years); {reason}"
            )
        reason = f"{reason}; moved to {_show(floor)}: {keep.keeps}"
        target = floor
    if notice is not None and target > max(now + horizon, soonest):
        return _beyond_horizon(instance, target, reason, horizon)
    if current == target:
        return _nothing_to_do(instance, f"auto-release time is already {_show(target)}")
    return Decision(
        instance.instance_id, instance.region, Action.SET_AUTO_RELEASE, reason, release_at=target
    )


def _beyond_horizon(instance: Instance, due: datetime, reason: str, horizon: timedelta) -> Decision:
    """A tag-derived time further ahead than the horizon: said, not written to ECS.

    ECS's timer would outlive the fleet: an owner who promotes the instance (out of TARGET_TAGS,
    where RAM refuses the cancel) would lose it at a time the tool set. Every reconcile recomputes
    the time from the tags and writes it once it is within the horizon; a time found further
    ahead (set under the old behaviour, or by hand on a lifetime-tagged instance) is cancelled.
    """
    said = (
        f"{reason}; ECS's time is written within {_span(horizon)} of it while the instance "
        "stays in the fleet (AUTO_RELEASE_HORIZON)"
    )
    if instance.auto_release_time is None:
        return replace(_nothing_to_do(instance, said), release_at=due)
    return Decision(
        instance.instance_id,
        instance.region,
        Action.CANCEL_AUTO_RELEASE,
        f"{said}; its auto-release time {_show(instance.auto_release_time)} is cancelled "
        "until then",
    )


def _span(span: timedelta) -> str:
    """A duration as a setting is written: `24h`, `2d`, `90m`."""
    minutes = span // timedelta(minutes=1)
    if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _from_tag(
    instance: Instance, schedule: FromTag, policy: Policy, now: datetime, keep: KeepUntil
) -> Decision:
    key = policy.auto_release_tag
    value = instance.tag(key)
    if value is None:
        ignored = "".join(
            f"; tag {k}={v!r} is ignored: the {key} key matches exactly"
            for k, v in near_miss_tags(instance, key)
        )
        if schedule.cancel_when_missing:
            return _cancel(instance, f"the {key} tag was removed{ignored}")
        return _keep_floor_only(instance, policy, now, keep, f"carries no {key} tag{ignored}")
    text = value.strip()
    if text.lower() in CANCEL_WORDS:
        return _cancel(instance, f"tag {key}={value!r} cancels auto-release")
    kept = keep_reason(instance, policy)
    if kept:
        return _cancel(instance, f"{kept}, so tag {key}={value!r} sets no auto-release time")
    if keep.unreadable:
        return _cancel(
            instance,
            f"{keep.keeps}, so tag {key}={value!r} sets no auto-release time",
            unreadable=True,
        )
    notice = policy.min_notice
    moment = parse_zoned_time(text)
    if moment is not None:
        return _set(
            instance,
            moment,
            now,
            f"tag {key}={value!r} asks for",
            keep=keep,
            notice=notice,
            horizon=policy.horizon,
        )
    duration = parse_duration(text)
    if duration is not None and instance.creation_time is not None:
        return _set(
            instance,
            instance.creation_time + duration,
            now,
            f"tag {key}={value!r} (lifetime from creation) gives",
            keep=keep,
            notice=notice,
            horizon=policy.horizon,
        )
    if duration is not None:
        problem = f"tag {key}={value!r} is a lifetime, but the creation time is unknown"
    else:
        problem = (
            f"tag {key}={value!r} is neither a time with a zone, "
            "a duration (90m, 8h, 3d, 2w, PT8H) nor never/off/none"
        )
    # Doubt keeps: a time set earlier is cancelled rather than left to release the instance on
    # the strength of a value its owner has since changed into something unreadable.
    return _cancel(instance, f"{problem}; doubt keeps it", unreadable=True)


def _keep_floor_only(
    instance: Instance, policy: Policy, now: datetime, keep: KeepUntil, why: str
) -> Decision:
    """No lifetime tag: a time set otherwise (by hand, in the console) still never falls before
    the keep-until, and a keep signal or an unreadable keep-until cancels it (a keep signal
    with or without a keep-until: ECS's auto-release would go around it)."""
    current = instance.auto_release_time
    if current is None:
        return _nothing_to_do(instance, why)
    kept = keep_reason(instance, policy)
    if kept or keep.unreadable:
        return _cancel(instance, f"{why}; {kept or keep.keeps}, so no auto-release time is set")
    if not keep.keeps:
        return _nothing_to_do(instance, why)
    assert keep.until is not None  # noqa: S101 - a readable keep-until that keeps has its time
    if current >= keep.until:
        return _nothing_to_do(instance, f"{why}; auto-release time {_show(current)} is after it")
    return _set(instance, current, now, f"{why}; its auto-release time was", keep=keep)


def _show(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def check_blast_radius(decisions: Iterable[Decision], limit: int) -> int:
    """Refuse a run that would make more than `limit` destructive changes; return how many.

    Only destructive changes count (stop, release, setting an auto-release time): a cancellation
    destroys nothing, so it never counts and is never held back.

    Raises:
        BlastRadiusExceededError: before any destructive change is made.
    """
    destructive = sum(1 for decision in decisions if decision.destructive)
    if destructive > limit:
        raise BlastRadiusExceededError(limit=limit, matched=destructive)
    return destructive
