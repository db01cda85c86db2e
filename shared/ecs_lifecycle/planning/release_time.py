"""The release-time rule: when the tool may release one instance, the same for all three functions.

One reading of (instance, policy, now): the keep signals (the protect tag, an operation lock, ECS
deletion protection, keep-until), the owner's lifetime tag (a time, or creation time plus a
duration; `never`/`off`/`none`; a value that cannot be read), the minimum notice counted from when
the tags were written (the anchor: the event's time, or ActionTrail's tag records), and an ECS
auto-release time still ahead on a lifetime-tagged instance. The auto-release function sets ECS's
time from it, the nightly release waits for it, and the stop function honours the same keep
signals: so what a notice or a result says about an instance's release time is what happens
(docs/safety.md, promises).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Final

from ecs_lifecycle.model import Instance, TagWrites
from ecs_lifecycle.planning.keeps import (
    KeepUntil,
    Policy,
    keep_until,
    lenient_tags,
    lock_reason,
    protection_reason,
)
from ecs_lifecycle.planning.reasons import show, span
from ecs_lifecycle.timeparse import ceil_to_minute, parse_duration, parse_zoned_time

CANCEL_WORDS: Final = frozenset({"never", "off", "none"})
# The tag calls the minimum notice counts from: a write, and a removal too (a keep tag removed
# makes a release possible that was not, and the owner hears of it only with a notice).
NOTICE_EVENT_NAMES: Final = ("TagResources", "AddTags", "UntagResources", "RemoveTags")
# ActionTrail's clock and the run's may differ by a little: an event's time further ahead of the
# run's clock than this was no tag call's (a forged or broken event).
EVENT_CLOCK_SKEW: Final = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Anchor:
    """When the instance's tags were last written, as far as this run knows.

    `at`: the time of the last tag call; `before`: no tag call since then, so they were written
    earlier; neither: `unknown` says why not (doubt keeps). The minimum notice counts from the
    latest moment the tags may have been written.
    """

    at: datetime | None = None
    before: datetime | None = None
    unknown: str = ""

    @property
    def latest(self) -> datetime | None:
        return self.at or self.before

    def describe(self) -> str:
        if self.at is not None:
            return f"when its tags were written ({show(self.at)})"
        if self.before is not None:
            return f"when its tags were written (before {show(self.before)}, the records read)"
        return "this run"


def anchor_for(instance: Instance, policy: Policy) -> Anchor:
    """The anchor of the minimum notice for this instance, from the run's tag writes.

    No tag call on record since the records begin means the tags were written before then, or
    when the instance was created (tags given to RunInstances leave no tag record): the later of
    the two is the latest moment they may have been written.
    """
    if policy.min_notice <= timedelta(0):
        return Anchor()  # no notice to count: the anchor does not matter
    writes = policy.tag_writes
    if writes is None:
        return Anchor(unknown="when its tags were written was not read")
    if writes.problem is not None:
        return Anchor(unknown=f"when its tags were written is unknown ({writes.problem})")
    at = writes.written.get(instance.instance_id)
    if at is not None:
        return Anchor(at=at)
    created = instance.creation_time
    if created is None:
        return Anchor(unknown="its creation time is unknown, so when its tags were written is too")
    if created > writes.since:
        return Anchor(at=created)
    return Anchor(before=writes.since)


@dataclass(frozen=True, slots=True)
class Lifetime:
    """What one lifetime tag says: `never`, the moment it names, or why it cannot be read."""

    key: str
    value: str
    never: bool = False
    named: datetime | None = None
    problem: str = ""


def read_lifetime(instance: Instance, key: str, value: str) -> Lifetime:
    """One lifetime tag's value: a zoned time, creation time plus a duration, or never/off/none."""
    text = value.strip()
    if text.lower() in CANCEL_WORDS:
        return Lifetime(key, value, never=True)
    moment = tag_release_time(instance, text)
    if moment is not None:
        return Lifetime(key, value, named=moment)
    if parse_duration(text) is not None:
        return Lifetime(key, value, problem="is a lifetime, but the creation time is unknown")
    return Lifetime(
        key,
        value,
        problem=(
            "is neither a time with a zone, a duration (90m, 8h, 3d, 2w, PT8H) nor never/off/none"
        ),
    )


def tag_release_time(instance: Instance, text: str) -> datetime | None:
    """The moment a lifetime tag's value names: a zoned time, or creation time plus a duration."""
    moment = parse_zoned_time(text)
    if moment is not None:
        return moment
    duration = parse_duration(text)
    if duration is None or instance.creation_time is None:
        return None
    return instance.creation_time + duration


@dataclass(frozen=True, slots=True)
class ReleaseTime:
    """When the tool may release one instance, and why not sooner.

    `protected`: the protect tag or an operation lock (no function acts on the instance);
    `deletion_protected`: ECS deletion protection (never released, given no ECS time); `keep`:
    the keep-until tag; `lifetime`: the exact-key lifetime tag that sets ECS's time (None: no such
    tag); `anchor`: where its minimum notice counts from; `waits`: why a release must wait now
    for a lifetime, its notice or an ECS time the tool set (None: the lifetime lets it go);
    `due`: from when the lifetime lets it go, when that is known.
    """

    protected: str | None
    deletion_protected: bool
    keep: KeepUntil
    lifetime: Lifetime | None
    anchor: Anchor
    notice: timedelta
    waits: str | None = None
    due: datetime | None = None

    @property
    def notice_from(self) -> datetime | None:
        """The moment the minimum notice counts from: the anchor, else None (this run)."""
        return self.anchor.latest

    @property
    def notice_ends(self) -> datetime | None:
        """The earliest minute the minimum notice lets a tag-derived time fall on, if anchored."""
        start = self.notice_from
        return None if start is None else ceil_to_minute(start + self.notice)


def release_time(instance: Instance, policy: Policy, now: datetime) -> ReleaseTime:
    """The release-time rule for one instance now: every function's planning starts here."""
    keep = keep_until(instance, policy, now)
    anchor = anchor_for(instance, policy)
    exact = instance.tag(policy.auto_release_tag)
    lifetime = (
        read_lifetime(instance, policy.auto_release_tag, exact) if exact is not None else None
    )
    found = ReleaseTime(
        protected=protection_reason(instance, policy) or lock_reason(instance),
        deletion_protected=instance.deletion_protection,
        keep=keep,
        lifetime=lifetime,
        anchor=anchor,
        notice=policy.min_notice,
    )
    # Every key that matches leniently keeps (the protective direction); only the exact key sets.
    for key, value in lenient_tags(instance, policy.auto_release_tag):
        reading = read_lifetime(instance, key, value)
        waits, due = _waits(instance, reading, found, now)
        if waits:
            return replace(found, waits=waits, due=due)
    return found


def _waits(
    instance: Instance, reading: Lifetime, found: ReleaseTime, now: datetime
) -> tuple[str | None, datetime | None]:
    """Why this lifetime tag keeps the instance from release now, and until when."""
    key, value = reading.key, reading.value
    if reading.never:
        return f"kept indefinitely by its owner's tag {key}={value!r}", None
    if reading.named is None:
        return f"its lifetime tag {key}={value!r} cannot be read; doubt keeps it", None
    named = reading.named
    ends = found.notice_ends
    waits: list[tuple[datetime, str]] = []
    if named > now:
        waits.append((named, f"its auto-release tag {key}={value!r} keeps it until {show(named)}"))
    if ends is not None and ends > max(now, named):
        # The owner wrote the tag at `notice_from`: the minimum notice counts from then, the same
        # time the auto-release function announced and writes to ECS.
        waits.append(
            (
                ends,
                f"its auto-release tag {key}={value!r} names {show(named)}, but the minimum "
                f"notice (MIN_NOTICE={span(found.notice)}) counts from "
                f"{found.anchor.describe()}: released from {show(ends)}, not sooner",
            )
        )
    promised = instance.auto_release_time
    if promised is not None and promised > max(now, named):
        # An ECS time the auto-release function set and told the owner (a minimum notice given
        # when the anchor was not known, or a later time): the promise, kept as state nowhere else.
        waits.append(
            (
                promised,
                f"its lifetime tag {key}={value!r} names {show(named)}, but its auto-release time "
                f"{show(promised)} (the minimum notice promised to its owner) is still ahead; "
                "released then, not sooner",
            )
        )
    if waits:
        until, why = max(waits, key=lambda wait: wait[0])
        return why, until
    if found.anchor.unknown:
        return (
            f"its lifetime tag {key}={value!r} passed at {show(named)}, but "
            f"{found.anchor.unknown}, so its minimum notice (MIN_NOTICE={span(found.notice)}) "
            "may still run; doubt keeps it"
        ), None
    return None, None


def anchor_needed(instance: Instance, policy: Policy, now: datetime) -> bool:
    """Whether this instance's release time depends on when its tags were written: a lifetime
    tag that names a moment sooner than the minimum notice from now (the run reads the anchor,
    ActionTrail's tag records, only for these)."""
    for key, value in lenient_tags(instance, policy.auto_release_tag):
        named = read_lifetime(instance, key, value).named
        if named is not None and named < now + policy.min_notice:
            return True
    return False


def reported_writes(
    instance_ids: tuple[str, ...], at: datetime, recorded: TagWrites | None, now: datetime
) -> TagWrites:
    """The tag writes of a run an event reported (`at`: its eventTime, on `instance_ids`), given
    ActionTrail's records of the same window (`recorded`; None: no instance needs the anchor).

    An event triggers a re-read; its time never shortens a notice. Anyone who may invoke can send
    any event, and EventBridge may deliver a copy of an older write late: so each instance's write
    is the later of the event's time and the last one on record (the event's alone while the
    record has not reached ActionTrail yet). A time later than the run's clock is no tag call's:
    counting from it would announce a time no later run keeps, so it is unknown (doubt keeps: the
    notice counts from this run, and that time is written at once). Records that cannot be read
    keep their problem: the event's time alone could be forged.
    """
    if at > now + EVENT_CLOCK_SKEW:
        since = recorded.since if recorded is not None else now
        return TagWrites(
            since=since,
            problem=(
                f"the event's eventTime {show(at)} is later than this run's clock "
                f"({show(now)}), so it is no tag call's time"
            ),
        )
    if recorded is None:
        return TagWrites(since=at, written=dict.fromkeys(instance_ids, at))
    if recorded.problem is not None:
        return recorded
    written = dict(recorded.written)
    for instance_id in instance_ids:
        on_record = written.get(instance_id)
        written[instance_id] = at if on_record is None else max(at, on_record)
    return TagWrites(since=recorded.since, written=written)
