"""Release after N days stopped, proven by ActionTrail (issue 14), through the release handler.

The stops are real StopInstances calls to the emulator (which ActionTrail records), or records a
test adds (console stops, stops older than the 90 days); the release reads them with the real
ActionTrail SDK. Time moves on the emulator's fake clock.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest
from alibabacloud_ecs20140526 import models as ecs_models

from ecs_emulator import FaultRule, make_sdk_client
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator

DEV = {"env": "dev"}
DAY = 86400.0


def _runner(emulator: EcsEmulator) -> Runner:
    return Runner(
        emulator,
        env={
            "TARGET_TAGS": "env=dev",
            "ACTIONTRAIL_ENDPOINT": emulator.endpoint,
            "ACTIONTRAIL_PROTOCOL": "http",
        },
    )


def _release(run: Runner, **options: Any) -> dict[str, Any]:
    return run(Function.RELEASE, {"dry_run": False, "stopped_for": "7d", **options})


def _stop(run: Runner, *instance_ids: str) -> None:
    run(Function.STOP, {"instance_ids": list(instance_ids)})
    run.emulator.advance(60)  # Stopping -> Stopped


def _start(emulator: EcsEmulator, instance_id: str) -> None:
    make_sdk_client(emulator).start_instance(
        ecs_models.StartInstanceRequest(instance_id=instance_id)
    )


def test_released_only_once_stopped_for_the_whole_wait(ecs_emulator: EcsEmulator) -> None:
    run = _runner(ecs_emulator)
    old = ecs_emulator.add_instance(tags=DEV).instance_id
    recent = ecs_emulator.add_instance(tags=DEV).instance_id
    running = ecs_emulator.add_instance(tags=DEV).instance_id
    _stop(run, old)
    ecs_emulator.advance(6 * DAY)
    _stop(run, recent)
    ecs_emulator.advance(2 * DAY)

    results = by_id(_release(run))

    assert ecs_emulator.instance(old) is None
    assert results[old]["outcome"] == "done"
    assert "stopped 8 days ago (ActionTrail); released after 7 days" in results[old]["reason"]
    assert alive(ecs_emulator, recent).status == "Stopped"
    assert results[recent]["outcome"] == "skipped"
    # The reason says when it will be released: what the notice before the nightly run needs.
    assert "stopped 2 days ago; released after 7 days, so from " in results[recent]["reason"]
    assert alive(ecs_emulator, running).status == "Running"
    assert "is Running; only instances Stopped for 7 days" in results[running]["reason"]
    assert len(ecs_emulator.calls_to("StopInstances")) == 2  # the test's two; the run's none


def test_an_instance_started_since_its_last_stop_record_is_kept(
    ecs_emulator: EcsEmulator,
) -> None:
    run = _runner(ecs_emulator)
    restarted = ecs_emulator.add_instance(tags=DEV).instance_id
    _stop(run, restarted)
    ecs_emulator.advance(10 * DAY)
    _start(ecs_emulator, restarted)
    ecs_emulator.advance(DAY)
    # Shut down from inside the OS: no record, and the old one is older than the last start.
    ecs_emulator.update_instance(restarted, status="Stopped")
    ecs_emulator.advance(DAY)

    result = by_id(_release(run))[restarted]

    assert alive(ecs_emulator, restarted).status == "Stopped"
    assert result["outcome"] == "skipped"
    assert "is not after its last start" in result["reason"]


def test_a_stopped_instance_without_a_stop_record_is_kept_with_the_reason(
    ecs_emulator: EcsEmulator,
) -> None:
    run = _runner(ecs_emulator)
    now = ecs_emulator.now()
    created = now - timedelta(days=200)
    no_record = ecs_emulator.add_instance(
        tags=DEV, status="Stopped", creation_time=created
    ).instance_id
    too_old = ecs_emulator.add_instance(
        tags=DEV, status="Stopped", creation_time=created
    ).instance_id
    console = ecs_emulator.add_instance(
        tags=DEV, status="Stopped", creation_time=created
    ).instance_id
    ecs_emulator.trail.add("StopInstance", [too_old], now - timedelta(days=120))
    ecs_emulator.trail.add(
        "StopInstance", [console], now - timedelta(days=9), event_type="ConsoleOperation"
    )

    results = by_id(_release(run))

    for kept in (no_record, too_old):
        assert alive(ecs_emulator, kept).status == "Stopped"
        assert results[kept]["outcome"] == "skipped"
        assert "ActionTrail has no record of it being stopped since" in results[kept]["reason"]
        assert "never assumed old" in results[kept]["reason"]
    assert ecs_emulator.instance(console) is None
    assert "stopped 9 days ago" in results[console]["reason"]


def test_a_failed_stop_call_proves_nothing(ecs_emulator: EcsEmulator) -> None:
    run = _runner(ecs_emulator)
    now = ecs_emulator.now()
    instance = ecs_emulator.add_instance(
        tags=DEV, status="Stopped", creation_time=now - timedelta(days=60)
    ).instance_id
    ecs_emulator.trail.add(
        "StopInstances",
        [instance],
        now - timedelta(days=20),
        error_code="IncorrectInstanceStatus",
    )

    result = by_id(_release(run))[instance]

    assert alive(ecs_emulator, instance).status == "Stopped"
    assert "no record of it being stopped" in result["reason"]


def _stopped_long_ago(ecs_emulator: EcsEmulator, count: int) -> list[str]:
    run = _runner(ecs_emulator)
    ids = [ecs_emulator.add_instance(tags=DEV).instance_id for _ in range(count)]
    _stop(run, *ids)
    ecs_emulator.advance(8 * DAY)
    return ids


def test_actiontrail_throttled_or_down_releases_nothing_and_says_why(
    ecs_emulator: EcsEmulator,
) -> None:
    for fault in (
        FaultRule(operation="LookupEvents", throttle_rate=1.0, throttle_code="Throttling"),
        FaultRule(operation="LookupEvents", unavailable_rate=1.0),
    ):
        ecs_emulator.reset(clock=ecs_emulator.clock)
        ids = _stopped_long_ago(ecs_emulator, 3)
        ecs_emulator.set_faults([fault])

        summary = _release(_runner(ecs_emulator))

        assert not ecs_emulator.calls_to("DeleteInstances")
        for instance_id in ids:
            assert alive(ecs_emulator, instance_id).status == "Stopped"
            reason = by_id(summary)[instance_id]["reason"]
            assert "how long it has been Stopped is unknown" in reason
            assert "doubt keeps it" in reason
        assert any(
            "no instance is released on the stopped_for basis" in n for n in summary["notes"]
        )


def test_an_unreadable_record_releases_nothing(ecs_emulator: EcsEmulator) -> None:
    ids = _stopped_long_ago(ecs_emulator, 2)
    ecs_emulator.trail.add(
        "StopInstance", [], ecs_emulator.now() - timedelta(days=1), request_parameters={}
    )

    summary = _release(_runner(ecs_emulator))

    assert not ecs_emulator.calls_to("DeleteInstances")
    for instance_id in ids:
        assert "names no instance" in by_id(summary)[instance_id]["reason"]


def test_look_ups_grow_with_stop_events_not_with_instances(ecs_emulator: EcsEmulator) -> None:
    def look_ups(count: int) -> int:
        ecs_emulator.reset(clock=ecs_emulator.clock)
        ids = _stopped_long_ago(ecs_emulator, count)  # one StopInstances call: one event
        _release(_runner(ecs_emulator))
        assert all(ecs_emulator.instance(i) is None for i in ids)
        return len(ecs_emulator.calls_to("LookupEvents"))

    few, many = look_ups(2), look_ups(90)
    assert few == many == 6  # 2 event names x 3 ranges of 30 days, one page each

    ecs_emulator.reset(clock=ecs_emulator.clock)
    run = _runner(ecs_emulator)
    ids = [ecs_emulator.add_instance(tags=DEV).instance_id for _ in range(60)]
    for instance_id in ids:  # 60 StopInstances calls: 60 events, two pages in one range
        _stop(run, instance_id)
    ecs_emulator.advance(8 * DAY)
    _release(run)
    assert len(ecs_emulator.calls_to("LookupEvents")) == 7


def test_an_instance_started_after_planning_is_kept_on_the_fresh_read(
    ecs_emulator: EcsEmulator,
) -> None:
    ids = _stopped_long_ago(ecs_emulator, 2)
    started = ids[0]
    # Started by someone between the plan and the release's re-read.
    ecs_emulator.on_call(
        "LookupEvents", lambda: ecs_emulator.update_instance(started, status="Running"), nth=6
    )

    results = by_id(_release(_runner(ecs_emulator)))

    assert alive(ecs_emulator, started).status == "Running"
    assert results[started]["outcome"] == "skipped"
    assert ecs_emulator.instance(ids[1]) is None


def test_an_event_can_lengthen_the_setting_but_not_shorten_it(ecs_emulator: EcsEmulator) -> None:
    ids = _stopped_long_ago(ecs_emulator, 1)
    run = _runner(ecs_emulator)

    summary = run(Function.RELEASE, {"dry_run": False}, RELEASE_IF_STOPPED_FOR="10d")
    assert "released after 10 days, so from" in by_id(summary)[ids[0]]["reason"]

    with pytest.raises(InvalidInputError, match="can only lengthen"):
        run(
            Function.RELEASE,
            {"dry_run": False, "stopped_for": "7d"},
            RELEASE_IF_STOPPED_FOR="10d",
        )
    assert alive(ecs_emulator, ids[0]).status == "Stopped"


def test_no_look_up_starts_past_the_deadline_and_everything_is_kept(
    ecs_emulator: EcsEmulator,
) -> None:
    ids = _stopped_long_ago(ecs_emulator, 2)
    # The load takes the rest of the time: 60 s of a 60 s limit (deadline 45 s in).
    ecs_emulator.on_call("DescribeInstances", lambda: ecs_emulator.advance(60))

    summary = _runner(ecs_emulator)(
        Function.RELEASE, {"dry_run": False, "stopped_for": "7d"}, FC_TIMEOUT="60"
    )

    assert not ecs_emulator.calls_to("LookupEvents")
    assert not ecs_emulator.calls_to("DeleteInstances")
    for instance_id in ids:
        assert alive(ecs_emulator, instance_id).status == "Stopped"
        assert "DeadlineExceeded" in by_id(summary)[instance_id]["reason"]
