"""Auto-release tag values as people write them, through the handler (and on Python 3.10 too).

An ambiguous lifetime must set no time: `6M` is six months to many people, and read as six minutes
the instance would be gone within the hour. Unreadable values are skipped with the value quoted.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.model import Function
from ecs_lifecycle.planning import earliest_release_time
from tests.support import Runner, alive, by_id, sample

from .test_auto_release import event_for

TAG_EVENT = "eventbridge-ecs-tagresources.json"


@pytest.mark.parametrize("value", ["6M", "12M", "P6M", "P1Y", "6mo", "6 months"])
def test_an_ambiguous_lifetime_sets_no_time_and_is_quoted(
    run: Runner, ecs_emulator: EcsEmulator, value: str
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev", "auto-release": value},
        creation_time=ecs_emulator.clock.now() - timedelta(minutes=1),
    )

    summary = run(Function.AUTO_RELEASE, event_for(TAG_EVENT, instance.instance_id))

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert repr(value) in entry["reason"]
    assert ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime") == []
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_the_reconcile_timer_skips_a_capital_m_too(run: Runner, ecs_emulator: EcsEmulator) -> None:
    ambiguous = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "6M"}
    )
    minutes = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "6m"}
    )
    now = ecs_emulator.clock.now()

    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))

    assert by_id(summary)[ambiguous.instance_id]["outcome"] == "skipped"
    assert alive(ecs_emulator, ambiguous.instance_id).auto_release_time is None
    # Lower-case m is minutes, as documented: six minutes from creation, long passed. Its tags
    # were written when it was created, days ago (no tag call on record since), so the minimum
    # notice has run too: as soon as ECS allows (issue 20, the notice's anchor).
    assert by_id(summary)[minutes.instance_id]["outcome"] == "done"
    assert alive(ecs_emulator, minutes.instance_id).auto_release_time == (
        earliest_release_time(now)
    )


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-24T18:00:00+0800",  # refused by Python 3.10's fromisoformat, FC's runtime
        "2026-12-24T18:00:00+08",
        "2026-12-24T18:00:00.5+08:00",
        "2026-12-24T10:00:00Z",
    ],
)
def test_a_zoned_time_sets_the_same_minute_on_every_python(
    run: Runner, ecs_emulator: EcsEmulator, value: str
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": value}
    )

    summary = run(Function.AUTO_RELEASE, event_for(TAG_EVENT, instance.instance_id))

    # The time said; ECS's is written within AUTO_RELEASE_HORIZON of it (test_promises).
    assert by_id(summary)[instance.instance_id]["release_at"] == "2026-12-24T10:00:00Z"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_a_time_past_the_calendar_s_end_is_unreadable_and_stops_no_other_instance(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # The year 10000 in UTC: read as a time, it overflowed and failed the whole reconcile.
    odd = ecs_emulator.add_instance(
        status="Running", tags={"auto-release": "9999-12-31T23:00:00-05:00"}
    )
    other = ecs_emulator.add_instance(status="Running", tags={"auto-release": "2026-12-24T10:00Z"})

    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))

    assert by_id(summary)[odd.instance_id]["outcome"] == "skipped"
    assert "'9999-12-31T23:00:00-05:00'" in by_id(summary)[odd.instance_id]["reason"]
    assert by_id(summary)[other.instance_id]["release_at"] == "2026-12-24T10:00:00Z"
