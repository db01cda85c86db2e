"""Promises across functions, attacked (issue 20, the adversarial review): an event's contents
trigger a re-read and never carry the authority to shorten a notice, through the real handlers,
the real SDK and the emulator.

Anyone who may invoke the auto-release function can send it any event, and EventBridge delivers at
least once (a copy may come hours later). The one thing a tag event says that the decision uses is
its `eventTime`, the anchor of the minimum notice: a forged time in the far past, a stale copy of an
older write, or a time in the future must not move a release sooner than the notice from the last
write ActionTrail records, nor announce a time later runs would not keep.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from alibabacloud_ecs20140526 import models as ecs
from hypothesis import given, settings
from hypothesis import strategies as st

from ecs_emulator import EcsEmulator
from ecs_lifecycle.model import Function, TagWrites
from ecs_lifecycle.planning import EVENT_CLOCK_SKEW, reported_writes
from ecs_lifecycle.timeparse import ceil_to_minute
from tests.support import Runner, alive, by_id, sample

from .test_promises import NIGHTLY, RECONCILE, _advance_to, _old_stopped, owner_tags

PROMISED = datetime.fromisoformat("2026-11-27T06:00:00+00:00")  # the tag's write + MIN_NOTICE


def _with_event_time(event: bytes, moment: str) -> bytes:
    """The same event with another `eventTime` (and id): what a forger sends."""
    document = json.loads(event)
    document["id"] = f"forged-{moment}"
    document["data"]["eventTime"] = moment
    return json.dumps(document).encode()


def _never_sooner_than_promised(emulator: EcsEmulator, instance_id: str) -> None:
    written = alive(emulator, instance_id).auto_release_time
    assert written is None or written >= PROMISED, written


def test_a_forged_event_time_in_the_past_does_not_shorten_the_notice(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    instance_id = _old_stopped(ecs_emulator)
    event = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    entry = by_id(run(Function.AUTO_RELEASE, event))[instance_id]
    assert entry["release_at"] == "2026-11-27T06:00:00Z"
    ecs_emulator.advance(3600)
    forged = _with_event_time(event, "2026-10-01T00:00:00Z")
    entry = by_id(run(Function.AUTO_RELEASE, forged))[instance_id]
    assert entry["release_at"] == "2026-11-27T06:00:00Z", entry
    _never_sooner_than_promised(ecs_emulator, instance_id)
    ecs_emulator.advance(3 * 3600)
    alive(ecs_emulator, instance_id)


def test_a_late_copy_of_an_older_tag_event_does_not_shorten_the_notice_of_a_later_write(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The owner tags auto-release=72h (promised T0 + 24 h), then 23 h later edits another tag:
    # any tag call restarts the notice (T0 + 47 h). EventBridge then delivers the first event
    # again: its eventTime is the older write's, and must not bring the time back to T0 + 24 h.
    instance_id = _old_stopped(ecs_emulator)
    tagged_at = ecs_emulator.now()
    first = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    run(Function.AUTO_RELEASE, first)
    _advance_to(ecs_emulator, tagged_at + timedelta(hours=23))
    second = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"owner": "alice"})
    entry = by_id(run(Function.AUTO_RELEASE, second))[instance_id]
    assert entry["release_at"] == "2026-11-28T05:00:00Z", entry
    entry = by_id(run(Function.AUTO_RELEASE, first))[instance_id]  # the late copy
    assert entry["release_at"] == "2026-11-28T05:00:00Z", entry
    written = alive(ecs_emulator, instance_id).auto_release_time
    assert written is None or written >= tagged_at + timedelta(hours=47), written
    _advance_to(ecs_emulator, tagged_at + timedelta(hours=25))
    alive(ecs_emulator, instance_id)


def test_an_event_time_in_the_future_is_not_a_write_time_and_doubt_keeps(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # A time later than the run's clock (beyond clock skew) is no tag call's: the run neither
    # counts from it (it would announce a time later runs do not keep) nor from the trail alone
    # as if the event said nothing; it counts from this run, and writes that time at once, the
    # promise every later run honours (docs/safety.md, doubt keeps).
    instance_id = _old_stopped(ecs_emulator)
    event = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    ecs_emulator.advance(600)
    for moment in ("2027-11-26T06:00:00Z", "9999-12-31T23:59:59Z"):
        summary = run(Function.AUTO_RELEASE, _with_event_time(event, moment))
        assert any("later than this run's clock" in note for note in summary["notes"]), summary
        assert by_id(summary)[instance_id]["outcome"] != "failed"
    promised = alive(ecs_emulator, instance_id).auto_release_time
    assert promised is not None
    assert promised >= PROMISED
    assert promised <= ecs_emulator.now() + timedelta(hours=25)
    # The nightly release and the reconcile keep that time.
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    assert by_id(summary)[instance_id]["outcome"] == "skipped"
    run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert alive(ecs_emulator, instance_id).auto_release_time == promised


def test_an_operators_later_time_on_a_lifetime_tagged_instance_is_not_undone_by_the_reconcile(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # The tag gives creation + 72 h (a day from now); the operator pushes the release back by
    # hand to five days from now, and is told so. The hourly reconcile must not cancel that time
    # and then write the tag's sooner one: the instance would go four days before the time the
    # operator was given (the tool keeps an operator's later time when the clamp applies too).
    now = ecs_emulator.now()
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={"env": "dev", "auto-release": "72h"},
        creation_time=now - timedelta(hours=48),
    )
    pushed = now + timedelta(days=5)
    summary = run(
        Function.AUTO_RELEASE,
        {"instance_ids": [instance.instance_id], "release_at": pushed.isoformat()},
    )
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == pushed
    for _ in range(30):  # past the tag's time, one reconcile an hour
        ecs_emulator.advance(3600)
        summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
        assert alive(ecs_emulator, instance.instance_id).auto_release_time == pushed, by_id(
            summary
        )[instance.instance_id]
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    assert by_id(summary)[instance.instance_id]["outcome"] == "skipped"


def test_removing_a_keep_tag_restarts_the_notice_like_writing_one(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The lifetime passed long ago and the protect tag kept the instance; the notice an hour
    # before the nightly release said so. Half an hour later someone (a tag clean-up, say)
    # removes the protect tag. An untag call changes the tags as a tag call does: the release is
    # counted from it, never within the hour nobody was told of.
    instance_id = _old_stopped(ecs_emulator, **{"auto-release": "72h", "protected": "true"})
    notice = run(
        Function.RELEASE,
        {"tags": {"env": "dev"}, "dry_run": False, "notice": "1h"},
        TARGET_TAGS="env=dev",
    )
    assert "protect tag" in by_id(notice)[instance_id]["reason"]
    ecs_emulator.advance(1800)
    ecs_sdk_client.untag_resources(
        ecs.UntagResourcesRequest(
            region_id="cn-hangzhou",
            resource_type="instance",
            resource_id=[instance_id],
            tag_key=["protected"],
        )
    )
    untagged = ecs_emulator.now()
    due = ceil_to_minute(untagged + timedelta(hours=24))
    ecs_emulator.advance(1800)
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    entry = by_id(summary)[instance_id]
    assert entry["outcome"] == "skipped", entry
    assert f"released from {due:%Y-%m-%dT%H:%M}Z, not sooner" in entry["reason"], entry
    assert due >= datetime.fromisoformat("2026-11-27T06:30:00+00:00")
    alive(ecs_emulator, instance_id)
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert by_id(summary)[instance_id]["release_at"] == f"{due:%Y-%m-%dT%H:%M}:00Z"


def test_a_tag_call_after_the_time_was_written_moves_it_to_the_notice_the_results_announce(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The reconcile wrote the lifetime's time (an hour ahead, within the horizon). The owner then
    # edits a tag: any tag call restarts the notice, and every function's results now say
    # "released from <the edit + 24 h>". ECS's timer must not release it at the old time.
    now = ecs_emulator.now()
    instance = ecs_emulator.add_instance(
        status="Stopped",
        tags={"env": "dev", "auto-release": "72h"},
        creation_time=now - timedelta(hours=71),
    )
    instance_id = instance.instance_id
    run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert alive(ecs_emulator, instance_id).auto_release_time == now + timedelta(hours=1)
    ecs_emulator.advance(600)
    edited = ecs_emulator.now()
    event = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"owner": "bob"})
    entry = by_id(run(Function.AUTO_RELEASE, event))[instance_id]
    due = ceil_to_minute(edited + timedelta(hours=24))
    reason = entry["reason"]
    assert f"released after the minimum notice at {due:%Y-%m-%dT%H:%M}Z" in reason, reason
    summary = run(
        Function.RELEASE,
        {"tags": {"env": "dev"}, "dry_run": False, "notice": "1h"},
        TARGET_TAGS="env=dev",
    )
    assert f"released from {due:%Y-%m-%dT%H:%M}Z" in by_id(summary)[instance_id]["reason"]
    written = alive(ecs_emulator, instance_id).auto_release_time
    assert written is None or written >= due, written
    ecs_emulator.advance(2 * 3600)
    alive(ecs_emulator, instance_id)


_MOMENTS = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(timezone.utc),
)


@settings(max_examples=200, deadline=None)
@given(at=_MOMENTS, on_record=st.none() | _MOMENTS, broken=st.booleans(), needed=st.booleans())
def test_no_event_time_makes_an_anchor_sooner_than_the_record_or_later_than_the_clock(
    at: datetime, on_record: datetime | None, broken: bool, needed: bool
) -> None:
    # The rule under the handler's event path (planning.reported_writes), for any eventTime a
    # forger may send: the anchor is never before the last write on record, never after the
    # run's clock (plus skew), and unreadable records are never replaced by the event's word.
    now = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)
    since = now - timedelta(hours=25)
    recorded = None
    if needed:
        written = {} if on_record is None else {"i-1": min(on_record, now)}
        recorded = TagWrites(since=since, written=written, problem="down" if broken else None)
    writes = reported_writes(("i-1",), at, recorded, now)
    if writes.problem is not None:
        assert at > now + EVENT_CLOCK_SKEW or (needed and broken)
        return
    anchor = writes.written["i-1"]
    assert anchor <= now + EVENT_CLOCK_SKEW
    if recorded is not None:
        assert not broken
        assert anchor >= recorded.written.get("i-1", anchor)
