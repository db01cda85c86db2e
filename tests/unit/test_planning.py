"""The pure planner: every rule that keeps the wrong instance alive, as tables (no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError
from ecs_lifecycle.model import (
    Action,
    CancelRelease,
    Decision,
    FromTag,
    Instance,
    ReleaseAfter,
    ReleaseAt,
)
from ecs_lifecycle.planning import (
    Policy,
    check_blast_radius,
    earliest_release_time,
    plan_auto_release,
    plan_release,
    plan_stop,
)

NOW = datetime(2026, 11, 26, 6, 0, 20, tzinfo=timezone.utc)
CREATED = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


def instance(
    status: str = "Running",
    *,
    tags: dict[str, str] | None = None,
    charge_type: str = "PostPaid",
    deletion_protection: bool = False,
    auto_release_time: datetime | None = None,
    instance_id: str = "i-test0001",
) -> Instance:
    return Instance(
        instance_id=instance_id,
        region="cn-hangzhou",
        status=status,
        charge_type=charge_type,
        deletion_protection=deletion_protection,
        auto_release_time=auto_release_time,
        creation_time=CREATED,
        tags=tuple((tags or {"env": "dev"}).items()),
    )


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1
    return decisions[0]


@pytest.mark.parametrize(
    ("status", "action", "changes", "reason_part"),
    [
        ("Running", Action.STOP, True, "Running"),
        ("Stopping", Action.NONE, False, "already stopped"),
        ("Stopped", Action.NONE, False, "already stopped"),
        ("Pending", Action.STOP, False, "while it starts"),
        ("Starting", Action.STOP, False, "while it starts"),
    ],
)
def test_stop_acts_only_on_running_instances(
    status: str, action: Action, changes: bool, reason_part: str
) -> None:
    decision = only(plan_stop([instance(status)], Policy(), NOW))
    assert (decision.action, decision.changes) == (action, changes)
    assert reason_part in decision.reason


@pytest.mark.parametrize("value", ["true", "yes", "", "FALSE-ish"])
def test_protect_tag_keeps_an_instance_from_every_function(value: str) -> None:
    protected = instance(tags={"env": "dev", "protected": value})
    for decisions in (
        plan_stop([protected], Policy(), NOW),
        plan_release([protected], Policy(), NOW),
        plan_auto_release([protected], ReleaseAfter(timedelta(hours=8)), Policy(), NOW),
    ):
        decision = only(decisions)
        assert not decision.changes
        assert "protect tag" in decision.reason


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_protect_tag_with_value_false_does_not_protect(value: str) -> None:
    decision = only(plan_stop([instance(tags={"protected": value})], Policy(), NOW))
    assert decision.changes


def test_protect_tag_name_comes_from_the_policy() -> None:
    keep = instance(tags={"keep-me": "1"})
    assert only(plan_stop([keep], Policy(protect_tag="keep-me"), NOW)).skipped
    assert only(plan_stop([keep], Policy(), NOW)).changes


@pytest.mark.parametrize(
    ("kwargs", "reason_part"),
    [
        ({"deletion_protection": True}, "deletion protection"),
        ({"charge_type": "PrePaid"}, "subscription"),
        ({"status": "Pending"}, "while it starts"),
        ({"tags": {"protected": "yes"}}, "protect tag"),
    ],
)
def test_release_skips_what_must_not_be_released(
    kwargs: dict[str, object], reason_part: str
) -> None:
    decision = only(plan_release([instance(**kwargs)], Policy(), NOW))  # type: ignore[arg-type]
    assert decision.skipped
    assert decision.action is Action.RELEASE
    assert reason_part in decision.reason


def test_release_stops_running_instances_first_unless_forced() -> None:
    running = instance("Running")
    gentle = only(plan_release([running], Policy(), NOW))
    forced = only(plan_release([running], Policy(force=True), NOW))
    assert gentle.stop_first
    assert not forced.stop_first
    assert forced.changes


def test_release_waits_for_stopping_and_releases_stopped() -> None:
    stopping, stopped = plan_release(
        [instance("Stopping", instance_id="i-a0001"), instance("Stopped", instance_id="i-b0001")],
        Policy(),
        NOW,
    )
    assert stopping.wait_for_stop
    assert not stopped.wait_for_stop
    assert not stopped.stop_first
    assert stopped.changes


def test_release_of_spot_instance_is_allowed() -> None:
    spot = Instance(
        instance_id="i-spot0001",
        region="cn-hangzhou",
        status="Stopped",
        charge_type="PostPaid",
        deletion_protection=False,
        auto_release_time=None,
        creation_time=CREATED,
        spot_strategy="SpotAsPriceGo",
    )
    assert only(plan_release([spot], Policy(), NOW)).changes


def test_blast_radius_counts_only_changing_decisions() -> None:
    decisions = plan_stop(
        [instance("Running", instance_id=f"i-run{n:04d}") for n in range(3)]
        + [instance("Stopped", instance_id=f"i-stp{n:04d}") for n in range(5)],
        Policy(),
        NOW,
    )
    assert check_blast_radius(decisions, 3) == 3
    with pytest.raises(BlastRadiusExceededError) as refused:
        check_blast_radius(decisions, 2)
    assert refused.value.matched == 3
    assert "3 instances" in str(refused.value)


# --- auto-release ----------------------------------------------------------------------------


def test_earliest_release_time_is_a_whole_minute_at_least_30_minutes_ahead() -> None:
    earliest = earliest_release_time(NOW)
    assert earliest.second == 0
    assert earliest - NOW >= timedelta(minutes=30)
    assert earliest - NOW < timedelta(minutes=32)


def test_manual_release_after_sets_now_plus_duration_to_the_minute() -> None:
    decision = only(
        plan_auto_release([instance()], ReleaseAfter(timedelta(hours=8)), Policy(), NOW)
    )
    assert decision.action is Action.SET_AUTO_RELEASE
    assert decision.release_at == datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)


def test_manual_time_sooner_than_30_minutes_is_clamped_and_says_so() -> None:
    decision = only(
        plan_auto_release([instance()], ReleaseAfter(timedelta(minutes=5)), Policy(), NOW)
    )
    assert decision.release_at == earliest_release_time(NOW)
    assert "clamped" in decision.reason


@pytest.mark.parametrize(
    "schedule",
    [
        ReleaseAt(NOW - timedelta(minutes=1)),
        ReleaseAt(NOW + timedelta(days=3 * 365 + 2)),
        ReleaseAfter(timedelta(days=3 * 366)),
    ],
)
def test_manual_time_in_the_past_or_beyond_three_years_is_refused(
    schedule: ReleaseAt | ReleaseAfter,
) -> None:
    with pytest.raises(InvalidInputError):
        plan_auto_release([instance()], schedule, Policy(), NOW)


def test_same_time_already_set_makes_no_change() -> None:
    already = instance(auto_release_time=datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc))
    decision = only(plan_auto_release([already], ReleaseAfter(timedelta(hours=8)), Policy(), NOW))
    assert not decision.changes
    assert "already" in decision.reason


def test_cancel_only_changes_instances_that_have_a_time() -> None:
    with_time = instance(auto_release_time=NOW + timedelta(days=1), instance_id="i-with0001")
    without = instance(instance_id="i-none0001")
    cancel, nothing = plan_auto_release([with_time, without], CancelRelease(), Policy(), NOW)
    assert cancel.action is Action.CANCEL_AUTO_RELEASE
    assert cancel.release_at is None
    assert not nothing.changes


def test_subscription_instances_get_no_auto_release() -> None:
    decision = only(
        plan_auto_release(
            [instance(charge_type="PrePaid")], ReleaseAfter(timedelta(hours=8)), Policy(), NOW
        )
    )
    assert decision.skipped
    assert "subscription" in decision.reason


# A horizon wider than any time these tables set (AUTO_RELEASE_HORIZON is at most a day).
NO_HORIZON = timedelta(days=4000)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-12-01T18:00:00+08:00", datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)),
        ("2026-12-01T10:00Z", datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)),
        ("2026-12-01T10:00:45Z", datetime(2026, 12, 1, 10, 0, tzinfo=timezone.utc)),
        ("10d", CREATED + timedelta(days=10)),
        ("P10D", CREATED + timedelta(days=10)),
        ("240h", CREATED + timedelta(days=10)),
        ("2w", CREATED + timedelta(weeks=2)),
    ],
)
def test_tag_value_gives_a_time_or_a_lifetime_from_creation(value: str, expected: datetime) -> None:
    # The horizon out of the way: this reads the time; when it is written is the horizon's test.
    tagged = instance(tags={"auto-release": value})
    decision = only(plan_auto_release([tagged], FromTag(), Policy(horizon=NO_HORIZON), NOW))
    assert decision.action is Action.SET_AUTO_RELEASE
    assert decision.release_at == expected


def test_lifetime_already_over_is_released_after_the_minimum_notice() -> None:
    tagged = instance(tags={"auto-release": "1h"})  # created six days ago
    decision = only(plan_auto_release([tagged], FromTag(), Policy(), NOW))
    assert decision.release_at == datetime(2026, 11, 27, 6, 1, tzinfo=timezone.utc)  # NOW + 24h
    assert "lifetime already passed; released after the minimum notice at" in decision.reason


def test_without_a_minimum_notice_a_lifetime_over_is_clamped_to_the_earliest_minute() -> None:
    tagged = instance(tags={"auto-release": "1h"})
    policy = Policy(min_notice=timedelta(0))
    decision = only(plan_auto_release([tagged], FromTag(), policy, NOW))
    assert decision.release_at == earliest_release_time(NOW)


@pytest.mark.parametrize("word", ["never", "off", "NONE", " Off "])
def test_tag_words_cancel(word: str) -> None:
    tagged = instance(tags={"auto-release": word}, auto_release_time=NOW + timedelta(days=2))
    decision = only(plan_auto_release([tagged], FromTag(), Policy(), NOW))
    assert decision.action is Action.CANCEL_AUTO_RELEASE


@pytest.mark.parametrize("value", ["tomorrow", "2026-12-01T10:00:00", "0h", "-3d", "", "10 days"])
def test_unparseable_tag_value_is_skipped_with_the_value_quoted(value: str) -> None:
    tagged = instance(tags={"auto-release": value})
    decision = only(plan_auto_release([tagged], FromTag(), Policy(), NOW))
    assert decision.skipped
    assert repr(value) in decision.reason


def test_tag_time_beyond_three_years_is_skipped() -> None:
    tagged = instance(tags={"auto-release": "2031-01-01T00:00:00Z"})
    decision = only(plan_auto_release([tagged], FromTag(), Policy(), NOW))
    assert decision.skipped
    assert "3 years" in decision.reason


def test_removed_tag_cancels_only_when_the_event_removed_it() -> None:
    untagged = instance(tags={"env": "dev"}, auto_release_time=NOW + timedelta(days=1))
    after_untag = only(
        plan_auto_release([untagged], FromTag(cancel_when_missing=True), Policy(), NOW)
    )
    on_reconcile = only(plan_auto_release([untagged], FromTag(), Policy(), NOW))
    assert after_untag.action is Action.CANCEL_AUTO_RELEASE
    assert not on_reconcile.changes


def test_auto_release_tag_name_comes_from_the_policy() -> None:
    tagged = instance(tags={"ttl": "8h"})
    decision = only(plan_auto_release([tagged], FromTag(), Policy(auto_release_tag="ttl"), NOW))
    assert decision.changes


def test_release_after_counts_from_since_when_given() -> None:
    trigger = NOW - timedelta(minutes=10)
    decision = only(
        plan_auto_release(
            [instance()], ReleaseAfter(timedelta(hours=8), since=trigger), Policy(), NOW
        )
    )
    assert decision.release_at == (trigger + timedelta(hours=8)).replace(second=0, microsecond=0)


def test_release_after_from_a_long_past_trigger_is_clamped_not_refused() -> None:
    trigger = NOW - timedelta(hours=2)
    decision = only(
        plan_auto_release(
            [instance()], ReleaseAfter(timedelta(hours=1), since=trigger), Policy(), NOW
        )
    )
    assert decision.release_at == earliest_release_time(NOW)
    assert "clamped" in decision.reason
