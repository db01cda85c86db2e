"""`stopped_for`: only a stop ActionTrail proves counts, and doubt keeps (a table, no network)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ecs_lifecycle.errors import ConfigError, InvalidInputError
from ecs_lifecycle.model import Action, Function, Instance, StopRecords
from ecs_lifecycle.planning import Policy, decide_release
from ecs_lifecycle.settings import ReleaseOptions, Settings, build_request

NOW = datetime(2026, 11, 26, 6, 0, 20, tzinfo=timezone.utc)
STARTED = NOW - timedelta(days=30)
ID = "i-test0001"


def stopped(status: str = "Stopped", start_time: datetime | None = STARTED) -> Instance:
    return Instance(
        instance_id=ID,
        region="cn-hangzhou",
        status=status,
        charge_type="PostPaid",
        deletion_protection=False,
        auto_release_time=None,
        creation_time=NOW - timedelta(days=60),
        tags=(("env", "dev"),),
        start_time=start_time,
    )


def records(stop: datetime | None = None, problem: str | None = None) -> StopRecords:
    return StopRecords(
        since=NOW - timedelta(days=90),
        last_stop={ID: stop} if stop is not None else {},
        problem=problem,
    )


def policy(stop_records: StopRecords | None) -> Policy:
    return Policy(stopped_for=timedelta(days=7), stop_records=stop_records)


@pytest.mark.parametrize(
    ("instance", "stop_records", "released", "reason_part"),
    [
        (stopped(), records(NOW - timedelta(days=8)), True, "stopped 8 days ago (ActionTrail)"),
        (
            stopped(),
            records(NOW - timedelta(days=2)),
            False,
            "stopped 2 days ago; released after 7 days, so from 2026-12-01T06:00Z",
        ),
        (stopped(), records(None), False, "no record of it being stopped since"),
        (stopped(), records(problem="ActionTrail: Throttling"), False, "doubt keeps it"),
        (stopped(), None, False, "doubt keeps it"),
        # Started after the stop on record: whatever stopped it since left no record.
        (
            stopped(start_time=NOW - timedelta(days=3)),
            records(NOW - timedelta(days=8)),
            False,
            "is not after its last start",
        ),
        # StartTime is to the minute: a stop within the minute after it may have come first.
        (
            stopped(start_time=NOW - timedelta(days=8)),
            records(NOW - timedelta(days=8) + timedelta(seconds=59)),
            False,
            "is not after its last start",
        ),
        (
            stopped(start_time=NOW - timedelta(days=8)),
            records(NOW - timedelta(days=8) + timedelta(seconds=60)),
            True,
            "stopped 7 days ago",
        ),
        (stopped("Running"), records(NOW - timedelta(days=8)), False, "is Running; only"),
        (stopped("Stopping"), records(NOW - timedelta(days=8)), False, "is Stopping; only"),
    ],
)
def test_only_a_proven_stop_old_enough_releases(
    instance: Instance,
    stop_records: StopRecords | None,
    released: bool,
    reason_part: str,
) -> None:
    decision = decide_release(instance, policy(stop_records), NOW)
    assert decision.action is Action.RELEASE
    assert decision.changes is released
    assert reason_part in decision.reason


def test_keep_signals_still_win_over_an_old_stop() -> None:
    protected = Instance(
        instance_id=ID,
        region="cn-hangzhou",
        status="Stopped",
        charge_type="PostPaid",
        deletion_protection=False,
        auto_release_time=None,
        creation_time=NOW - timedelta(days=60),
        tags=(("env", "dev"), ("protected", "yes")),
        start_time=STARTED,
    )
    decision = decide_release(protected, policy(records(NOW - timedelta(days=20))), NOW)
    assert not decision.changes
    assert "protect tag" in decision.reason


def test_without_stopped_for_nothing_changes() -> None:
    decision = decide_release(stopped(), Policy(), NOW)
    assert decision.changes
    assert decision.reason == "is Stopped"


def _settings(stopped_for: str = "") -> Settings:
    environ = {"FC_REGION": "cn-hangzhou", "TARGET_TAGS": "env=dev"}
    if stopped_for:
        environ["RELEASE_IF_STOPPED_FOR"] = stopped_for
    return Settings.from_env(Function.RELEASE, environ)


def test_the_setting_is_the_default_and_an_event_may_only_lengthen_it() -> None:
    assert build_request(_settings(), None).stopped_for is None
    assert build_request(_settings("7d"), None).stopped_for == timedelta(days=7)
    longer = build_request(_settings("7d"), ReleaseOptions(stopped_for="2w"))
    assert longer.stopped_for == timedelta(days=14)
    with pytest.raises(InvalidInputError, match="can only lengthen"):
        build_request(_settings("7d"), ReleaseOptions(stopped_for="3d"))


@pytest.mark.parametrize("text", ["soon", "91d", "30m", "6M"])
def test_a_wait_that_is_not_a_duration_or_cannot_be_proven_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="RELEASE_IF_STOPPED_FOR"):
        _settings(text)
    with pytest.raises(InvalidInputError, match="stopped_for"):
        build_request(_settings(), ReleaseOptions(stopped_for=text))
