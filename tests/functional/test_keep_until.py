"""keep-until and the minimum notice through the handlers, the real SDK and the emulator.

The fleet's zone is Asia/Shanghai here (TIME_ZONE, as s.yaml sets it next to the timers' CRON_TZ),
so a date ends at midnight in Shanghai. The emulator's fake clock starts at 2026-11-26T06:00Z.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import ConfigError
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id, sample

from .test_auto_release import event_for
from .test_promises import owner_tags

UTC = timezone.utc
DEV = {"env": "dev"}
SHANGHAI = {"TIME_ZONE": "Asia/Shanghai"}
TAG_EVENT = "eventbridge-ecs-tagresources.json"
# The end of 2026-12-04 in Shanghai: midnight there, 16:00 UTC.
END_OF_DEC_4 = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def test_the_nightly_release_keeps_what_keep_until_keeps_and_releases_the_expired(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    kept = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "Keep-Until": "2026-12-04"})
    unreadable = ecs_emulator.add_instance(
        status="Stopped", tags={**DEV, "keep-until": "after the demo"}
    )
    far = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "keep-until": "2027-03-01"})
    expired = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "keep-until": "2026-11-25"})

    summary = run(Function.RELEASE, sample("timer-nightly-release.json"), **SHANGHAI)

    results = by_id(summary)
    assert results[kept.instance_id]["outcome"] == "skipped"
    assert results[kept.instance_id]["reason"] == (
        "kept until the end of 2026-12-04 (2026-12-05 00:00 +08:00) by its Keep-Until tag"
    )
    assert results[unreadable.instance_id]["outcome"] == "skipped"
    assert "keep-until='after the demo'" in results[unreadable.instance_id]["reason"]
    assert results[far.instance_id]["outcome"] == "skipped"
    assert (
        "keep-until is 96 days ahead, more than MAX_KEEP_DAYS=30"
        in (results[far.instance_id]["reason"])
    )
    assert results[expired.instance_id]["outcome"] == "done"
    assert (
        "its keep-until tag '2026-11-25' expired at the end of 2026-11-25"
        in (results[expired.instance_id]["reason"])
    )
    for survivor in (kept, unreadable, far):
        assert alive(ecs_emulator, survivor.instance_id)
    assert ecs_emulator.instance(expired.instance_id) is None


def test_stop_skips_an_instance_keep_until_keeps(run: Runner, ecs_emulator: EcsEmulator) -> None:
    kept = ecs_emulator.add_instance(
        status="Running", tags={**DEV, "keep-until": "2026-11-26T20:00+08:00"}
    )
    other = ecs_emulator.add_instance(status="Running", tags=DEV)

    summary = run(Function.STOP, {"tags": DEV}, **SHANGHAI)

    assert by_id(summary)[kept.instance_id]["reason"] == (
        "kept until 2026-11-26 20:00 +08:00 by its keep-until tag"
    )
    stopped = [c.params["InstanceId.1"] for c in ecs_emulator.calls_to("StopInstances")]
    assert stopped == [other.instance_id]
    assert alive(ecs_emulator, kept.instance_id).status == "Running"


def test_a_keep_until_tagged_after_the_read_keeps_the_instance_from_release(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    # Its owner tags it between the run's read and the release: the fresh re-read decides.
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id, tags={**DEV, "keep-until": "2026-12-04"}
        ),
    )

    summary = run(Function.RELEASE, sample("timer-nightly-release.json"), **SHANGHAI)

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "not released: kept until the end of 2026-12-04" in entry["reason"]
    assert ecs_emulator.calls_to("DeleteInstances") == []
    assert alive(ecs_emulator, instance.instance_id)


def test_tagging_keep_until_moves_an_earlier_release_time_to_it(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # A release set by hand for tomorrow; the owner tags keep-until, and EventBridge reports it.
    tomorrow = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    instance = ecs_emulator.add_instance(
        status="Running", tags={**DEV, "keep-until": "2026-12-04"}, auto_release_time=tomorrow
    )

    summary = run(Function.AUTO_RELEASE, event_for(TAG_EVENT, instance.instance_id), **SHANGHAI)

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    assert "moved to 2026-12-04T16:00Z: kept until the end of 2026-12-04" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == END_OF_DEC_4


def test_the_reconcile_never_sets_a_lifetime_before_the_keep_until_and_keeps_it_so(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "3d", "keep-until": "2026-12-04"},
        creation_time=ecs_emulator.now() - timedelta(hours=1),
    )

    # The time said is the keep-until's end; ECS's is written within AUTO_RELEASE_HORIZON of it.
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), **SHANGHAI)
    assert by_id(summary)[instance.instance_id]["release_at"] == "2026-12-04T16:00:00Z"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None

    ecs_emulator.advance(3600)  # the next hourly reconcile
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), **SHANGHAI)
    assert by_id(summary)[instance.instance_id]["outcome"] == "skipped"
    assert by_id(summary)[instance.instance_id]["release_at"] == "2026-12-04T16:00:00Z"

    # Within the horizon of it, a time is written, never before the keep-until. The lifetime has
    # passed by then, so the minimum notice counts from this run (docs/safety.md, known limits).
    ecs_emulator.advance(
        (END_OF_DEC_4 - timedelta(minutes=90) - ecs_emulator.now()).total_seconds()
    )
    run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), **SHANGHAI)
    written = alive(ecs_emulator, instance.instance_id).auto_release_time
    assert written is not None
    assert written >= END_OF_DEC_4
    assert len(ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")) == 1


def test_a_keep_until_tagged_after_the_read_moves_the_time_being_written(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Due within the horizon (MIN_NOTICE=0: nothing else moves it), so the plan is to write it.
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "3d"},
        creation_time=ecs_emulator.now() - timedelta(hours=71),
    )
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id, tags={**DEV, "auto-release": "3d", "keep-until": "2026-12-04"}
        ),
    )

    summary = run(
        Function.AUTO_RELEASE, sample("timer-empty-payload.json"), MIN_NOTICE="0", **SHANGHAI
    )

    # The fresh read moves it to the keep-until, beyond the horizon: nothing is written before it.
    assert "2026-12-04T16:00Z" in by_id(summary)[instance.instance_id]["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_an_unreadable_keep_until_cancels_the_release_time(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "3d", "keep-until": "2026-12-4"},
        auto_release_time=datetime(2026, 11, 28, tzinfo=UTC),
    )

    summary = run(Function.AUTO_RELEASE, event_for(TAG_EVENT, instance.instance_id))

    assert "keep-until='2026-12-4'" in by_id(summary)[instance.instance_id]["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


# --- the minimum notice -------------------------------------------------------------------------


def test_a_lifetime_long_passed_is_released_after_the_minimum_notice_and_stays_so(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # Tried as a new user would: a 14-day-old instance tagged auto-release=72h. The notice counts
    # from the tag's write (issue 20): every run says the same time, and the reconcile writes it
    # to ECS once it is within the horizon.
    instance = ecs_emulator.add_instance(
        status="Running", tags=DEV, creation_time=ecs_emulator.now() - timedelta(days=14)
    )
    notice_end = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)  # the clock is on a whole minute
    event = owner_tags(ecs_sdk_client, ecs_emulator, instance.instance_id, {"auto-release": "72h"})

    summary = run(Function.AUTO_RELEASE, event)

    entry = by_id(summary)[instance.instance_id]
    assert (
        "lifetime already passed; released after the minimum notice at 2026-11-27T06:00Z "
        "(MIN_NOTICE=24h from when its tags were written (2026-11-26T06:00Z))"
    ) in entry["reason"]
    assert entry["release_at"] == "2026-11-27T06:00:00Z"

    # Every hourly reconcile says the same time, and writes it once it is within the horizon.
    for _ in range(23):
        ecs_emulator.advance(3600)
        summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
        assert "2026-11-27T06:00Z" in by_id(summary)[instance.instance_id]["reason"]
    assert len(ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")) == 1
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == notice_end


@pytest.mark.parametrize(("notice", "hours"), [("2h", 2), ("0", 0.5)])
def test_the_minimum_notice_is_a_setting(
    run: Runner, ecs_emulator: EcsEmulator, notice: str, hours: float
) -> None:
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "72h"},
        creation_time=ecs_emulator.now() - timedelta(days=14),
    )

    before = ecs_emulator.now()

    tagged = {"eventTime": before.strftime("%Y-%m-%dT%H:%M:%SZ")}  # the call's own time
    run(
        Function.AUTO_RELEASE,
        event_for(TAG_EVENT, instance.instance_id, **tagged),
        MIN_NOTICE=notice,
    )

    set_at = alive(ecs_emulator, instance.instance_id).auto_release_time
    assert set_at is not None
    # "0": only what ECS requires, 30 minutes (and the planner's minute of margin, to the minute).
    assert timedelta(hours=hours) <= set_at - before <= timedelta(hours=hours, minutes=3)


def test_an_operator_s_release_after_is_taken_as_given(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "72h"},
        creation_time=ecs_emulator.now() - timedelta(days=14),
    )

    asked = ecs_emulator.now()

    run(Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "release_after": "1h"})

    assert alive(ecs_emulator, instance.instance_id).auto_release_time == (
        asked + timedelta(hours=1)
    ).replace(second=0, microsecond=0)


def test_a_time_zone_the_runtime_does_not_know_is_refused_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(status="Stopped", tags={**DEV, "keep-until": "2026-12-04"})
    with pytest.raises(ConfigError, match="TIME_ZONE") as refused:
        run(Function.RELEASE, sample("timer-nightly-release.json"), TIME_ZONE="Asia/Shangai")
    assert "'Asia/Shangai' is not a time zone this runtime knows" in refused.value.problem
    assert ecs_emulator.calls == []
