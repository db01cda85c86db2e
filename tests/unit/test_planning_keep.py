"""keep-until and the minimum notice, as tables (no network; on Python 3.10 too).

keep-until is an override of every release that expires by itself: while it lies ahead, stop and
release leave the instance alone and no auto-release time falls before it. MIN_NOTICE: a release
time derived from a tag is never sooner than the notice after the run that first sets it, when
the policy has no anchor (tag_writes); with one: test_planning_release_time.py.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ecs_lifecycle.model import (
    Action,
    CancelRelease,
    Decision,
    FromTag,
    Instance,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.planning import (
    Policy,
    earliest_release_time,
    parse_keep_until,
    plan_auto_release,
    plan_release,
    plan_stop,
)

NOW = datetime(2026, 11, 26, 6, 0, 20, tzinfo=timezone.utc)
SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


def at(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


CREATED = at(2026, 11, 12, 6, 0)  # 14 days before NOW


def instance(
    status: str = "Stopped",
    *,
    tags: dict[str, str] | None = None,
    auto_release_time: datetime | None = None,
    created: datetime = CREATED,
) -> Instance:
    return Instance(
        instance_id="i-keep0001",
        region="cn-hangzhou",
        status=status,
        charge_type="PostPaid",
        deletion_protection=False,
        auto_release_time=auto_release_time,
        creation_time=created,
        tags=(("env", "dev"), *(tags or {}).items()),
    )


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1
    return decisions[0]


def all_three(item: Instance, policy: Policy, schedule: Schedule | None = None) -> list[Decision]:
    """The stop, release and auto-release decisions for one instance."""
    return [
        only(plan_stop([item], policy, NOW)),
        only(plan_release([item], policy, NOW)),
        only(plan_auto_release([item], schedule or FromTag(), policy, NOW)),
    ]


# --- reading the value --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("2026-12-04T18:00+08:00", UTC, at(2026, 12, 4, 10, 0)),
        ("2026-12-04T18:00:00+0800", UTC, at(2026, 12, 4, 10, 0)),  # refused by 3.10's parser
        ("2026-12-04T10:00Z", SHANGHAI, at(2026, 12, 4, 10, 0)),  # a zoned time ignores the zone
        # A date: the end of that day in the fleet's zone, the next midnight there.
        ("2026-12-04", UTC, at(2026, 12, 5, 0, 0)),
        ("2026-12-04", SHANGHAI, at(2026, 12, 4, 16, 0)),
        (" 2026-12-04 ", SHANGHAI, at(2026, 12, 4, 16, 0)),
        ("2026-12-04", ZoneInfo("America/Los_Angeles"), at(2026, 12, 5, 8, 0)),
        # The day daylight saving starts in New York: its midnight after is at -04:00.
        ("2026-03-08", ZoneInfo("America/New_York"), at(2026, 3, 9, 4, 0)),
        ("2026-02-28", UTC, at(2026, 3, 1, 0, 0)),
        ("2028-02-29", UTC, at(2028, 3, 1, 0, 0)),
    ],
)
def test_a_keep_until_is_a_zoned_time_or_the_end_of_a_date(
    text: str, zone: ZoneInfo | timezone, expected: datetime
) -> None:
    assert parse_keep_until(text, zone) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "tomorrow",
        "2026-12-04T18:00",  # a time without a zone: whose 18:00?
        "2026-12-4",
        "04/12/2026",
        "2026-13-01",
        "2026-02-29",
        "20261204",
        "\uff12\uff10\uff12\uff16-12-04",  # full-width digits
        "2026-12-04 and a bit",
        "3d",  # a duration says nothing about when to stop keeping
        "never",
    ],
)
def test_anything_else_is_unreadable(text: str) -> None:
    assert parse_keep_until(text, SHANGHAI) is None


# --- stop and release ---------------------------------------------------------------------------


def test_a_keep_until_ahead_keeps_from_stop_and_release_and_says_until_when() -> None:
    kept = instance("Running", tags={"keep-until": "2026-12-04T18:00+08:00"})
    policy = Policy(time_zone=SHANGHAI)
    stop = only(plan_stop([kept], policy, NOW))
    release = only(plan_release([kept], policy, NOW))
    for decision in (stop, release):
        assert decision.skipped
        assert not decision.changes
        assert decision.reason == "kept until 2026-12-04 18:00 +08:00 by its keep-until tag"


def test_times_are_shown_in_the_fleet_s_zone_and_a_date_as_its_end() -> None:
    dated = instance(tags={"keep-until": "2026-12-04"})
    release = only(plan_release([dated], Policy(time_zone=SHANGHAI), NOW))
    assert release.reason == (
        "kept until the end of 2026-12-04 (2026-12-05 00:00 +08:00) by its keep-until tag"
    )
    timed = instance(tags={"keep-until": "2026-12-04T18:00+08:00"})
    assert "2026-12-04 10:00 +00:00" in only(plan_release([timed], Policy(), NOW)).reason


@pytest.mark.parametrize(
    ("value", "zone", "keeps"),
    [
        ("2026-11-26T06:00:21Z", UTC, True),  # one second ahead
        ("2026-11-26T06:00:20Z", UTC, False),  # now: it has passed
        ("2026-11-26", UTC, True),  # today
        ("2026-11-25", UTC, False),  # yesterday, ended at midnight UTC
        ("2026-11-25", SHANGHAI, False),  # ended 16:00 UTC yesterday
        ("2026-11-25", ZoneInfo("America/Los_Angeles"), True),  # still the 25th there
    ],
)
def test_it_keeps_until_its_moment_and_not_after(
    value: str, zone: ZoneInfo | timezone, keeps: bool
) -> None:
    item = instance("Running", tags={"keep-until": value})
    stop, release, _ = all_three(item, Policy(time_zone=zone))
    assert (stop.skipped, release.skipped) == (keeps, keeps)


def test_once_passed_the_tag_is_ignored_and_every_result_says_it_expired() -> None:
    item = instance("Running", tags={"keep-until": "2026-11-20"})
    for decision in all_three(item, Policy(), ReleaseAfter(timedelta(hours=8))):
        assert decision.changes
        assert "its keep-until tag '2026-11-20' expired at the end of 2026-11-20" in (
            decision.reason
        )


@pytest.mark.parametrize("key", ["Keep-Until", "KEEP-UNTIL", " keep-until ", "keep-until"])
def test_the_key_matches_leniently_like_the_other_protective_keys(key: str) -> None:
    item = instance("Running", tags={key: "2026-12-04"})
    stop, release, _ = all_three(item, Policy())
    assert stop.skipped
    assert release.skipped
    assert f"by its {key} tag" in release.reason


def test_the_key_comes_from_the_policy() -> None:
    item = instance("Running", tags={"hold": "2026-12-04"})
    assert only(plan_stop([item], Policy(keep_tag="hold"), NOW)).skipped
    assert only(plan_stop([item], Policy(), NOW)).changes


@pytest.mark.parametrize("value", ["next friday", "2026-12-04T18:00", "", "31/12/2026"])
def test_an_unreadable_value_keeps_and_is_quoted(value: str) -> None:
    item = instance("Running", tags={"keep-until": value})
    stop, release, _ = all_three(item, Policy())
    for decision in (stop, release):
        assert decision.skipped
        assert f"keep-until={value!r}" in decision.reason
        assert "doubt keeps it" in decision.reason


def test_any_unreadable_one_of_several_keys_keeps() -> None:
    item = instance(tags={"keep-until": "2026-11-01", "Keep-Until": "soon"})
    assert only(plan_release([item], Policy(), NOW)).skipped


def test_the_latest_of_several_keys_wins() -> None:
    item = instance(tags={"keep-until": "2026-11-01", "Keep-Until": "2026-12-04"})
    release = only(plan_release([item], Policy(), NOW))
    assert release.skipped
    assert "by its Keep-Until tag" in release.reason


def test_override_lifetime_does_not_override_a_keep_until() -> None:
    item = instance(tags={"keep-until": "2026-12-04", "auto-release": "never"})
    release = only(plan_release([item], Policy(override_lifetime=True), NOW))
    assert release.skipped
    assert "keep-until" in release.reason


def test_keep_signals_are_still_reported_first() -> None:
    item = instance(tags={"keep-until": "2026-12-04", "protected": "yes"})
    assert "protect tag" in only(plan_release([item], Policy(), NOW)).reason


@pytest.mark.parametrize(
    ("value", "days"),
    [("2027-01-10T06:00:20Z", 45), ("2026-12-26T06:00:21Z", 31), ("9999-12-31", 2912114)],
)
def test_further_ahead_than_max_keep_days_still_keeps_but_is_flagged_everywhere(
    value: str, days: int
) -> None:
    item = instance("Running", tags={"keep-until": value})
    flag = f"keep-until is {days} days ahead, more than MAX_KEEP_DAYS=30"
    stop, release, auto = all_three(item, Policy(), ReleaseAfter(timedelta(hours=8)))
    assert stop.skipped
    assert release.skipped
    for decision in (stop, release, auto):
        assert flag in decision.reason


def test_max_keep_days_comes_from_the_policy_and_a_keep_within_it_is_not_flagged() -> None:
    item = instance(tags={"keep-until": "2026-12-26T06:00:20Z"})  # exactly 30 days
    assert "MAX_KEEP_DAYS" not in only(plan_release([item], Policy(), NOW)).reason
    assert "MAX_KEEP_DAYS=7" in only(plan_release([item], Policy(max_keep_days=7), NOW)).reason


# --- auto-release: no time falls before the keep-until --------------------------------------------

# The horizon out of the way: these test where a time goes, not when it is written.
NO_HORIZON = timedelta(days=4000)
KEEP = "2026-12-04T18:00:30+08:00"  # ECS takes whole minutes: the floor is the next one
FLOOR = at(2026, 12, 4, 10, 1)


@pytest.mark.parametrize(
    ("schedule", "tags"),
    [
        (ReleaseAfter(timedelta(hours=8)), {}),
        (ReleaseAt(at(2026, 11, 30, 0, 0)), {}),
        (FromTag(), {"auto-release": "72h"}),  # created 14 days ago: long passed
        (FromTag(), {"auto-release": "20d"}),  # 2026-12-02: ahead, but before the keep-until
        (FromTag(), {"auto-release": "2026-12-01T00:00Z"}),
    ],
)
def test_a_time_before_the_keep_until_is_moved_to_it(
    schedule: Schedule, tags: dict[str, str]
) -> None:
    item = instance(tags={"keep-until": KEEP, **tags})
    decision = only(plan_auto_release([item], schedule, Policy(horizon=NO_HORIZON), NOW))
    assert decision.action is Action.SET_AUTO_RELEASE
    assert decision.release_at == FLOOR
    assert "moved to 2026-12-04T10:01Z: kept until 2026-12-04 10:00 +00:00" in decision.reason


def test_a_time_after_the_keep_until_is_set_as_asked() -> None:
    item = instance(tags={"keep-until": KEEP, "auto-release": "30d"})
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.release_at == at(2026, 12, 12, 6, 0)
    assert "moved" not in decision.reason


@pytest.mark.parametrize(
    ("tags", "current"),
    [
        ({"auto-release": "72h"}, FLOOR),  # the reconcile after the move
        ({"auto-release": "20d"}, FLOOR),
        ({}, FLOOR),  # no lifetime tag: a time set by hand, already at the keep-until
        ({}, at(2026, 12, 20, 0, 0)),  # ... or after it
    ],
)
def test_the_reconcile_keeps_it_so(tags: dict[str, str], current: datetime) -> None:
    item = instance(tags={"keep-until": KEEP, **tags}, auto_release_time=current)
    decision = only(plan_auto_release([item], FromTag(), Policy(horizon=NO_HORIZON), NOW))
    assert not decision.changes


def test_a_time_set_by_hand_before_the_keep_until_is_moved_when_an_event_reads_it() -> None:
    # Someone tags keep-until on an instance whose release was set by hand: the tag event moves it.
    item = instance(tags={"keep-until": KEEP}, auto_release_time=at(2026, 11, 27, 0, 0))
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.action is Action.SET_AUTO_RELEASE
    assert decision.release_at == FLOOR
    assert "carries no auto-release tag; its auto-release time was 2026-11-27T00:00Z" in (
        decision.reason
    )


def test_a_time_set_by_hand_within_the_30_minutes_is_moved_too() -> None:
    soon = earliest_release_time(NOW)
    item = instance(tags={"keep-until": KEEP}, auto_release_time=soon)
    decision = only(plan_auto_release([item], ReleaseAfter(timedelta(minutes=5)), Policy(), NOW))
    assert decision.release_at == FLOOR


def test_a_removed_lifetime_tag_still_cancels() -> None:
    item = instance(tags={"keep-until": KEEP}, auto_release_time=FLOOR)
    decision = only(plan_auto_release([item], FromTag(cancel_when_missing=True), Policy(), NOW))
    assert decision.action is Action.CANCEL_AUTO_RELEASE


def test_a_cancel_is_never_blocked_by_a_keep_until() -> None:
    item = instance(tags={"keep-until": KEEP}, auto_release_time=FLOOR)
    decision = only(plan_auto_release([item], CancelRelease(), Policy(), NOW))
    assert decision.action is Action.CANCEL_AUTO_RELEASE


@pytest.mark.parametrize(
    "schedule", [FromTag(), ReleaseAfter(timedelta(hours=8)), FromTag(cancel_when_missing=True)]
)
def test_an_unreadable_keep_until_cancels_any_time_and_sets_none(schedule: Schedule) -> None:
    tags = {"keep-until": "when I'm done", "auto-release": "3d"}
    with_time = instance(tags=tags, auto_release_time=at(2026, 11, 30, 0, 0))
    cancel = only(plan_auto_release([with_time], schedule, Policy(), NOW))
    assert cancel.action is Action.CANCEL_AUTO_RELEASE
    without = only(plan_auto_release([instance(tags=tags)], schedule, Policy(), NOW))
    assert not without.changes


def test_an_unreadable_keep_until_cancels_a_time_set_by_hand_too() -> None:
    item = instance(tags={"keep-until": "??"}, auto_release_time=at(2026, 11, 30, 0, 0))
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.action is Action.CANCEL_AUTO_RELEASE
    assert "keep-until='??'" in decision.reason


def test_a_keep_until_beyond_what_ecs_accepts_leaves_no_time_at_all() -> None:
    # ECS takes at most 3 years ahead: any time it accepts would fall before the keep-until.
    tags = {"keep-until": "2030-01-01", "auto-release": "3d"}
    with_time = instance(tags=tags, auto_release_time=at(2026, 11, 30, 0, 0))
    cancel = only(plan_auto_release([with_time], FromTag(), Policy(), NOW))
    assert cancel.action is Action.CANCEL_AUTO_RELEASE
    assert "3 years" in cancel.reason
    assert "MAX_KEEP_DAYS=30" in cancel.reason
    without = only(plan_auto_release([instance(tags=tags)], FromTag(), Policy(), NOW))
    assert not without.changes


def test_an_expired_keep_until_lets_the_tag_set_its_time() -> None:
    item = instance(tags={"keep-until": "2026-11-01", "auto-release": "30d"})
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.release_at == at(2026, 12, 12, 6, 0)
    assert "expired" in decision.reason


# --- the minimum notice -------------------------------------------------------------------------


def test_a_lifetime_long_passed_gets_the_minimum_notice_not_30_minutes() -> None:
    # A 14-day-old instance tagged auto-release=72h: creation plus 72 hours is long past.
    item = instance(tags={"auto-release": "72h"})
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.release_at == at(2026, 11, 27, 6, 1)
    assert decision.reason == (
        "tag auto-release='72h' (lifetime from creation) gives 2026-11-15T06:00Z: lifetime "
        "already passed; released after the minimum notice at 2026-11-27T06:01Z (MIN_NOTICE=24h)"
    )


def test_a_tag_time_sooner_than_the_notice_is_moved_to_it_and_says_so() -> None:
    item = instance(tags={"auto-release": "2026-11-26T12:00Z"})
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.release_at == at(2026, 11, 27, 6, 1)
    assert "sooner than the minimum notice; released after the minimum notice" in decision.reason


def test_a_tag_time_after_the_notice_is_set_as_asked() -> None:
    item = instance(tags={"auto-release": "2026-11-27T07:00Z"})
    assert only(plan_auto_release([item], FromTag(), Policy(), NOW)).release_at == at(
        2026, 11, 27, 7, 0
    )


@pytest.mark.parametrize(
    ("notice", "expected", "shown"),
    [
        (timedelta(hours=2), at(2026, 11, 26, 8, 1), "MIN_NOTICE=2h"),
        (timedelta(days=3), at(2026, 11, 29, 6, 1), "MIN_NOTICE=3d"),
        (timedelta(minutes=90), at(2026, 11, 26, 7, 31), "MIN_NOTICE=90m"),
    ],
)
def test_the_notice_comes_from_the_policy(
    notice: timedelta, expected: datetime, shown: str
) -> None:
    item = instance(tags={"auto-release": "72h"})
    decision = only(plan_auto_release([item], FromTag(), Policy(min_notice=notice), NOW))
    assert decision.release_at == expected
    assert shown in decision.reason


@pytest.mark.parametrize("hours_later", [1, 12, 23])
def test_the_reconcile_keeps_the_time_the_notice_gave(hours_later: int) -> None:
    # The run that set it gave 24 hours' notice; the hourly reconcile must not push it later.
    item = instance(tags={"auto-release": "72h"}, auto_release_time=at(2026, 11, 27, 6, 1))
    later = NOW + timedelta(hours=hours_later)
    decision = only(plan_auto_release([item], FromTag(), Policy(), later))
    assert not decision.changes
    assert "auto-release time is already 2026-11-27T06:01Z, given the minimum notice" in (
        decision.reason
    )
    assert "kept as it is" in decision.reason


def test_a_later_time_set_otherwise_is_kept_too_and_says_why() -> None:
    # An operator pushed the release back by hand: the passed lifetime does not bring it forward.
    item = instance(tags={"auto-release": "72h"}, auto_release_time=at(2026, 12, 10, 0, 0))
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert not decision.changes
    assert "later than the minimum notice would give" in decision.reason


def test_a_time_sooner_than_the_tag_asks_is_still_moved_to_the_notice() -> None:
    item = instance(
        tags={"auto-release": "2026-11-26T12:00Z"}, auto_release_time=at(2026, 11, 26, 8, 0)
    )
    decision = only(plan_auto_release([item], FromTag(), Policy(), NOW))
    assert decision.release_at == at(2026, 11, 27, 6, 1)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (ReleaseAfter(timedelta(hours=1)), at(2026, 11, 26, 7, 0)),
        (ReleaseAfter(timedelta(minutes=5)), earliest_release_time(NOW)),
        (ReleaseAt(at(2026, 11, 26, 9, 0)), at(2026, 11, 26, 9, 0)),
    ],
)
def test_an_operator_s_time_is_taken_as_given(schedule: Schedule, expected: datetime) -> None:
    item = instance(tags={"auto-release": "72h"})
    decision = only(plan_auto_release([item], schedule, Policy(), NOW))
    assert decision.release_at == expected
    assert "minimum notice" not in decision.reason


def test_the_notice_and_the_keep_until_together_take_the_later() -> None:
    soon_keep = instance(tags={"auto-release": "72h", "keep-until": "2026-11-26T12:00Z"})
    assert only(plan_auto_release([soon_keep], FromTag(), Policy(), NOW)).release_at == at(
        2026, 11, 27, 6, 1
    )
    later_keep = instance(tags={"auto-release": "72h", "keep-until": "2026-11-29T12:00Z"})
    assert only(plan_auto_release([later_keep], FromTag(), Policy(), NOW)).release_at == at(
        2026, 11, 29, 12, 0
    )


@pytest.mark.parametrize("value", ["9999-12-31", "9999-12-31T23:59Z", "9999-12-31T23:00-05:00"])
def test_the_calendar_s_last_day_keeps_without_overflowing_in_any_zone(value: str) -> None:
    item = instance(tags={"keep-until": value, "auto-release": "3d"}, auto_release_time=NOW)
    for zone in (SHANGHAI, UTC, ZoneInfo("Pacific/Pago_Pago")):
        stop, release, auto = all_three(item, Policy(time_zone=zone))
        assert stop.skipped
        assert release.skipped
        assert auto.action is Action.CANCEL_AUTO_RELEASE
