"""Promises across functions (issue 20): what one function told an owner, no other function and no
later run breaks, through the real handlers, the real SDK and the emulator.

The emulator's fake clock starts at 2026-11-26T06:00Z and releases an instance when ECS's
auto-release time comes, as ECS does.
"""

from __future__ import annotations

from datetime import timedelta

from ecs_emulator import EcsEmulator
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id, sample

from .test_auto_release import event_for

DEV = {"env": "dev"}
TAG_EVENT = "eventbridge-ecs-tagresources.json"
RECONCILE = "timer-empty-payload.json"
NIGHTLY = "timer-nightly-release.json"


def test_a_release_time_does_not_outlive_the_fleet(run: Runner, ecs_emulator: EcsEmulator) -> None:
    # Scenario 1: the hourly reconcile reads auto-release=72h on a new dev instance; the owner
    # then promotes it out of the fleet, and every later event falls outside TARGET_TAGS.
    instance = ecs_emulator.add_instance(
        status="Running", tags={**DEV, "auto-release": "72h"}, creation_time=ecs_emulator.now()
    )
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    entry = by_id(summary)[instance.instance_id]
    # The due time is said, but ECS's time is written only within the horizon of it.
    assert entry["release_at"] == "2026-11-29T06:00:00Z"
    assert "within 2h of it while the instance stays in the fleet" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None

    ecs_emulator.advance(3600)
    ecs_emulator.update_instance(instance.instance_id, tags={"env": "prod", "protected": "true"})
    for _ in range(3):
        run(
            Function.AUTO_RELEASE,
            event_for(TAG_EVENT, instance.instance_id),
            TARGET_TAGS="env=dev",
        )
    for _ in range(80):  # past creation + 72 h, one reconcile an hour
        ecs_emulator.advance(3600)
        run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_within_the_horizon_the_reconcile_writes_the_due_time(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # MIN_NOTICE=0: only the horizon decides (with the default 24 h, the minimum notice's time,
    # at most MIN_NOTICE ahead, is written at once: docs/safety.md, the known limit).
    now = ecs_emulator.now()
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "72h"},
        creation_time=now - timedelta(hours=69),
    )
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev", MIN_NOTICE="0")
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None
    assert "within 2h of it" in by_id(summary)[instance.instance_id]["reason"]
    ecs_emulator.advance(3600)
    run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev", MIN_NOTICE="0")
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == now + timedelta(hours=3)
    ecs_emulator.advance(2 * 3600 + 60)
    assert ecs_emulator.instance(instance.instance_id) is None  # ECS released it on time


def test_a_far_time_set_under_the_old_behaviour_is_cancelled_by_the_reconcile(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    now = ecs_emulator.now()
    instance = ecs_emulator.add_instance(
        status="Running",
        tags={**DEV, "auto-release": "72h"},
        creation_time=now,
        auto_release_time=now + timedelta(hours=72),
    )
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert "cancelled" in by_id(summary)[instance.instance_id]["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_the_nightly_release_honours_the_minimum_notice_the_auto_release_function_gave(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Scenario 2: a 14-day-old instance gets auto-release=72h; the owner is told "released after
    # the minimum notice at <tomorrow>"; two hours later the nightly release runs.
    instance = ecs_emulator.add_instance(
        status="Stopped",
        tags={**DEV, "auto-release": "72h"},
        creation_time=ecs_emulator.now() - timedelta(days=14),
    )
    summary = run(Function.AUTO_RELEASE, event_for(TAG_EVENT, instance.instance_id))
    assert "released after the minimum notice" in by_id(summary)[instance.instance_id]["reason"]
    promised = alive(ecs_emulator, instance.instance_id).auto_release_time
    assert promised is not None

    ecs_emulator.advance(2 * 3600)
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev")
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "promised" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == promised
