"""The auto-release rules: set or cancel ECS's auto-release time, by hand or from the owner's tag.

A time from the lifetime tag comes from the release-time rule (release_time.py): the tag's moment,
never sooner than the minimum notice after the tags were written (or after this run, when that is
unknown), never before a keep-until, and written to ECS only within AUTO_RELEASE_HORIZON of it.
A cancellation is never blocked: it can destroy nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import (
    POSTPAID,
    Action,
    CancelRelease,
    Decision,
    FromTag,
    Instance,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.planning.keeps import KeepUntil, Policy, keep_reason, near_miss_tags
from ecs_lifecycle.planning.reasons import noted, nothing_to_do, show, skip, span
from ecs_lifecycle.planning.release_time import ReleaseTime, release_time
from ecs_lifecycle.timeparse import ceil_to_minute, floor_to_minute, parse_zoned_time

if TYPE_CHECKING:
    from collections.abc import Iterable

# ModifyInstanceAutoReleaseTime accepts 30 minutes to 3 years ahead. The extra minute of margin
# covers the time between planning and the call reaching ECS, and small clock skew.
MIN_LEAD: Final = timedelta(minutes=30)
LEAD_MARGIN: Final = timedelta(minutes=1)
# At the moment of sending, a time at least this much beyond the 30 minutes still goes as planned.
SEND_MARGIN: Final = timedelta(seconds=15)
MAX_LEAD: Final = timedelta(days=3 * 365)


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
    rule = release_time(instance, policy, now)
    decision = _decide_auto_release(instance, schedule, policy, now, manual_time, rule=rule)
    return noted(decision, rule.keep.note)


def _decide_auto_release(
    instance: Instance,
    schedule: Schedule,
    policy: Policy,
    now: datetime,
    manual_time: datetime | None,
    *,
    rule: ReleaseTime,
) -> Decision:
    keep = rule.keep
    if instance.charge_type != POSTPAID:
        return skip(
            instance,
            _intended(schedule),
            f"is a subscription ({instance.charge_type}) instance; it has no auto-release",
        )
    if isinstance(schedule, CancelRelease):
        return _cancel(instance, "cancel requested")
    if isinstance(schedule, FromTag):
        return _from_tag(instance, schedule, policy, now, rule)
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
        decision = noted(
            decision,
            f"beyond AUTO_RELEASE_HORIZON={span(policy.horizon)}, this time stands in ECS even "
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
            return skip(instance, Action.SET_AUTO_RELEASE, f"{why}; no auto-release time is set")
        return nothing_to_do(instance, f"{why}; no auto-release time is set")
    return Decision(
        instance.instance_id,
        instance.region,
        Action.CANCEL_AUTO_RELEASE,
        f"{why}; its auto-release time {show(instance.auto_release_time)} is cancelled",
    )


def _set(
    instance: Instance, wanted: datetime, now: datetime, why: str, *, keep: KeepUntil
) -> Decision:
    """Set the auto-release time to `wanted` (an operator's, or one already set), or later where
    the rules require: never sooner than ECS allows (30 minutes ahead), never before a keep-until
    still ahead."""
    target = floor_to_minute(wanted)
    current = floor_to_minute(instance.auto_release_time) if instance.auto_release_time else None
    if target > latest_release_time(now):
        return skip(
            instance, Action.SET_AUTO_RELEASE, f"{why} {show(target)} is more than 3 years ahead"
        )
    reason = f"{why} {show(target)}"
    earliest = earliest_release_time(now)
    floor = _floor(keep, now)
    if target < earliest:
        if (
            current is not None
            and target <= current <= earliest
            and (floor is None or current >= floor)
        ):
            # An earlier run clamped it: it is already as soon as ECS allows. Clamping again
            # would move it later on every run, so a reconcile firing more often than every
            # 30 minutes would never let it be released.
            return nothing_to_do(
                instance, f"auto-release time is already {show(current)} ({reason}, or soonest)"
            )
        target = earliest
        reason = f"{why} {show(wanted)}, clamped to the earliest allowed minute {show(target)}"
    return _floored(instance, target, reason, now, keep=keep, floor=floor)


def _floor(keep: KeepUntil, now: datetime) -> datetime | None:
    floor = keep.until
    if floor is not None and floor <= latest_release_time(now):
        floor = ceil_to_minute(floor)  # ECS takes whole minutes; the floor must not fall before it
    return floor


def _floored(
    instance: Instance,
    target: datetime,
    reason: str,
    now: datetime,
    *,
    keep: KeepUntil,
    floor: datetime | None,
    beyond: datetime | None = None,
    horizon: timedelta = timedelta(0),
) -> Decision:
    """`target`, moved to the keep-until floor; said, not written, later than `beyond` (a
    lifetime's time, written within `horizon` of it)."""
    if floor is not None and target < floor:
        if floor > latest_release_time(now):
            # Every time ECS accepts falls before the keep-until: the instance gets none.
            return _cancel(
                instance, f"{keep.keeps}, later than ECS auto-release reaches (3 years); {reason}"
            )
        reason = f"{reason}; moved to {show(floor)}: {keep.keeps}"
        target = floor
    if beyond is not None and target > beyond:
        return _beyond_horizon(instance, target, reason, horizon)
    current = floor_to_minute(instance.auto_release_time) if instance.auto_release_time else None
    if current == target:
        return nothing_to_do(instance, f"auto-release time is already {show(target)}")
    return Decision(
        instance.instance_id, instance.region, Action.SET_AUTO_RELEASE, reason, release_at=target
    )


def _set_lifetime(
    instance: Instance,
    wanted: datetime,
    now: datetime,
    why: str,
    *,
    rule: ReleaseTime,
    policy: Policy,
) -> Decision:
    """The lifetime tag's time, by the release-time rule: never sooner than the minimum notice
    after the tags were written (after this run when that is unknown), never before a keep-until,
    and written to ECS only within the horizon of it.

    With the anchor known the time is the same on every run, so it waits for the horizon like any
    other; without it the notice counts from this run, and that time is written at once (it is the
    promise later runs recognise in ECS, since no state is kept).
    """
    notice = policy.min_notice
    target = floor_to_minute(wanted)
    current = floor_to_minute(instance.auto_release_time) if instance.auto_release_time else None
    if target > latest_release_time(now):
        return skip(
            instance, Action.SET_AUTO_RELEASE, f"{why} {show(target)} is more than 3 years ahead"
        )
    reason = f"{why} {show(target)}"
    earliest = earliest_release_time(now)
    ends = rule.notice_ends
    soonest = max(earliest, ends if ends is not None else ceil_to_minute(now + notice))
    floor = _floor(rule.keep, now)
    if target < soonest:
        passed = "lifetime already passed" if wanted <= now else "sooner than the minimum notice"
        if (
            current is not None
            and current >= target
            and (floor is None or current >= floor)
            and (ends is None or current >= ends)
        ):
            # A time an earlier run set is recognised by being no sooner than the tag asks:
            # moving it again would push it later on every run (when the notice counts from the
            # run), and a later one was set by someone on purpose (an operator's push, say).
            # One sooner than the notice from the last tag call is not kept: a tag call since it
            # was written restarted the notice, and every function's results say the new time.
            settled = (
                "given the minimum notice when it was set"
                if current <= soonest
                else "later than the minimum notice would give"
            )
            return nothing_to_do(
                instance,
                f"auto-release time is already {show(current)}, {settled} ({reason}: "
                f"{passed}; MIN_NOTICE={span(notice)}); kept as it is",
            )
        if ends is None:
            counted = f"MIN_NOTICE={span(notice)}"
            if rule.anchor.unknown and policy.tag_writes is not None:
                counted = f"{counted}, from this run: {rule.anchor.unknown}"
        else:
            counted = f"MIN_NOTICE={span(notice)} from {rule.anchor.describe()}"
        if ends is not None and ends <= earliest:
            reason = (
                f"{reason}: {passed}, and so has the minimum notice ({counted}); released at "
                f"the earliest minute ECS allows, {show(earliest)}"
            )
        else:
            reason = (
                f"{reason}: {passed}; released after the minimum notice at {show(soonest)} "
                f"({counted})"
            )
        target = soonest
    elif current is not None and current > target and (floor is None or current >= floor):
        # A later time than the tag's (an operator's push back, which its result announced, or
        # a time moved to a keep-until): cancelling it beyond the horizon and writing the tag's
        # sooner time later would release the instance before the time its owner was given.
        return nothing_to_do(
            instance,
            f"auto-release time is already {show(current)}, later than the tag's ({reason}); "
            "kept as it is: beyond the horizon it stands in ECS even if the instance leaves the "
            "fleet (AUTO_RELEASE_HORIZON)",
        )
    beyond = now + policy.horizon if ends is not None else max(now + policy.horizon, soonest)
    return _floored(
        instance,
        target,
        reason,
        now,
        keep=rule.keep,
        floor=floor,
        beyond=beyond,
        horizon=policy.horizon,
    )


def _beyond_horizon(instance: Instance, due: datetime, reason: str, horizon: timedelta) -> Decision:
    """A tag-derived time further ahead than the horizon: said, not written to ECS.

    ECS's timer would outlive the fleet: an owner who promotes the instance (out of TARGET_TAGS,
    where RAM refuses the cancel) would lose it at a time the tool set. Every reconcile recomputes
    the time from the tags and writes it once it is within the horizon; a time found further
    ahead (set under the old behaviour, or by hand on a lifetime-tagged instance) is cancelled.
    """
    said = (
        f"{reason}; ECS's time is written within {span(horizon)} of it while the instance "
        "stays in the fleet (AUTO_RELEASE_HORIZON)"
    )
    if instance.auto_release_time is None:
        return replace(nothing_to_do(instance, said), release_at=due)
    return Decision(
        instance.instance_id,
        instance.region,
        Action.CANCEL_AUTO_RELEASE,
        f"{said}; its auto-release time {show(instance.auto_release_time)} is cancelled until then",
    )


def _from_tag(
    instance: Instance, schedule: FromTag, policy: Policy, now: datetime, rule: ReleaseTime
) -> Decision:
    key = policy.auto_release_tag
    lifetime = rule.lifetime
    keep = rule.keep
    if lifetime is None:
        ignored = "".join(
            f"; tag {k}={v!r} is ignored: the {key} key matches exactly"
            for k, v in near_miss_tags(instance, key)
        )
        if schedule.cancel_when_missing:
            return _cancel(instance, f"the {key} tag was removed{ignored}")
        return _keep_floor_only(instance, policy, now, keep, f"carries no {key} tag{ignored}")
    value = lifetime.value
    if lifetime.never:
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
    if lifetime.named is not None:
        how = "asks for" if _zoned(value) else "(lifetime from creation) gives"
        return _set_lifetime(
            instance, lifetime.named, now, f"tag {key}={value!r} {how}", rule=rule, policy=policy
        )
    # Doubt keeps: a time set earlier is cancelled rather than left to release the instance on
    # the strength of a value its owner has since changed into something unreadable.
    problem = f"tag {key}={value!r} {lifetime.problem}; doubt keeps it"
    return _cancel(instance, problem, unreadable=True)


def _zoned(value: str) -> bool:
    return parse_zoned_time(value.strip()) is not None


def _keep_floor_only(
    instance: Instance, policy: Policy, now: datetime, keep: KeepUntil, why: str
) -> Decision:
    """No lifetime tag: a time set otherwise (by hand, in the console) still never falls before
    the keep-until, and a keep signal or an unreadable keep-until cancels it (a keep signal
    with or without a keep-until: ECS's auto-release would go around it)."""
    current = instance.auto_release_time
    if current is None:
        return nothing_to_do(instance, why)
    kept = keep_reason(instance, policy)
    if kept or keep.unreadable:
        return _cancel(instance, f"{why}; {kept or keep.keeps}, so no auto-release time is set")
    if not keep.keeps:
        return nothing_to_do(instance, why)
    assert keep.until is not None  # noqa: S101 - a readable keep-until that keeps has its time
    if current >= keep.until:
        return nothing_to_do(instance, f"{why}; auto-release time {show(current)} is after it")
    return _set(instance, current, now, f"{why}; its auto-release time was", keep=keep)
