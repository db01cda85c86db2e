"""The keep signals every function honours, and the policy the rules read.

The protect tag, an operation lock, ECS deletion protection and the owner's keep-until tag: what
each says about one instance at one moment. Pure: the moment is passed in. The blast-radius cap,
which keeps a whole run from acting, is here too.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING, Final

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import BlastRadiusExceededError
from ecs_lifecycle.model import Decision, Instance, StopRecords, TagWrites
from ecs_lifecycle.planning.reasons import show_keep
from ecs_lifecycle.timeparse import parse_zoned_time

if TYPE_CHECKING:
    from collections.abc import Iterable

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
    # A release time derived from a tag is never sooner than this after the tags were written
    # (the anchor, `tag_writes`), or after the run that sets it when that is unknown.
    min_notice: timedelta = defaults.MIN_NOTICE
    # A tag-derived release time is written to ECS only this close to it (AUTO_RELEASE_HORIZON);
    # further ahead every run recomputes it from the tags, so nothing outlives the fleet.
    horizon: timedelta = defaults.AUTO_RELEASE_HORIZON
    # release: only instances proven Stopped for at least this long (RELEASE_IF_STOPPED_FOR, the
    # `stopped_for` option), by `stop_records`; None: the rule is off.
    stopped_for: timedelta | None = None
    stop_records: StopRecords | None = None

    # When each instance's tags were last written (the event's time, or ActionTrail's records):
    # the minimum notice counts from it. None: not read by this run (doubt keeps).
    tag_writes: TagWrites | None = None


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
    shown = show_keep(moment, value, policy.time_zone)
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
