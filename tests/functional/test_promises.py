"""Promises across functions (issue 20): what one function told an owner, no other function and no
later run breaks, through the real handlers, the real SDK and the emulator.

The emulator's fake clock starts at 2026-11-26T06:00Z and releases an instance when ECS's
auto-release time comes, as ECS does.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from alibabacloud_ecs20140526 import models as ecs

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id, sample

from .test_auto_release import event_for

DEV = {"env": "dev"}
TAG_EVENT = "eventbridge-ecs-tagresources.json"
RECONCILE = "timer-empty-payload.json"
NIGHTLY = "timer-nightly-release.json"
REGION = "cn-hangzhou"


def owner_tags(
    client: Any, emulator: EcsEmulator, instance_id: str, tags: dict[str, str], *, old: bool = False
) -> bytes:
    """The owner tags the instance through the real SDK; the emulator records the call as
    ActionTrail does, and this returns the EventBridge event of that record (its eventTime is
    the call's). `old`: AddTags, the older call, instead of TagResources."""
    if old:
        client.add_tags(
            ecs.AddTagsRequest(
                region_id=REGION,
                resource_type="instance",
                resource_id=instance_id,
                tag=[ecs.AddTagsRequestTag(key=k, value=v) for k, v in tags.items()],
            )
        )
    else:
        client.tag_resources(
            ecs.TagResourcesRequest(
                region_id=REGION,
                resource_type="instance",
                resource_id=[instance_id],
                tag=[ecs.TagResourcesRequestTag(key=k, value=v) for k, v in tags.items()],
            )
        )
    record = emulator.trail.events[-1]
    assert record.event_name == ("AddTags" if old else "TagResources")
    envelope = json.loads(sample(TAG_EVENT))
    envelope["subject"] = f"acs:ecs:{REGION}:123456789012****:instance/{instance_id}"
    envelope["data"] = record.body()
    return json.dumps(envelope).encode()


def _advance_to(emulator: EcsEmulator, moment: datetime) -> None:
    emulator.advance((moment - emulator.now()).total_seconds())


def _old_stopped(emulator: EcsEmulator, **tags: str) -> str:
    """A 14-day-old Stopped dev instance (its tags written at creation, long ago)."""
    instance = emulator.add_instance(
        status="Stopped", tags={**DEV, **tags}, creation_time=emulator.now() - timedelta(days=14)
    )
    return instance.instance_id


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
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # Scenario 2: a 14-day-old instance gets auto-release=72h; the owner is told "released after
    # the minimum notice at <tomorrow>"; two hours later the nightly release runs. The notice
    # counts from the tag's write (the event's eventTime), and every later run reads the same
    # moment from ActionTrail's TagResources record.
    instance_id = _old_stopped(ecs_emulator)
    tagged_at = ecs_emulator.now()
    promised = tagged_at + timedelta(hours=24)
    event = owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    summary = run(Function.AUTO_RELEASE, event)
    entry = by_id(summary)[instance_id]
    assert "released after the minimum notice at 2026-11-27T06:00Z" in entry["reason"]
    assert "from when its tags were written (2026-11-26T06:00Z)" in entry["reason"]
    assert entry["release_at"] == "2026-11-27T06:00:00Z"
    # A day ahead, beyond the horizon: said, not written to ECS (nothing to outlive the fleet).
    assert alive(ecs_emulator, instance_id).auto_release_time is None

    for hours in (2, 12, 23):  # the nightly release, whenever it runs before the promised time
        _advance_to(ecs_emulator, tagged_at + timedelta(hours=hours))
        summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
        entry = by_id(summary)[instance_id]
        assert entry["outcome"] == "skipped", entry
        assert "counts from when its tags were written (2026-11-26T06:00Z)" in entry["reason"]
        assert "released from 2026-11-27T06:00Z, not sooner" in entry["reason"]
        assert entry["release_at"] == "2026-11-27T06:00:00Z"
        alive(ecs_emulator, instance_id)
    # Within the horizon the hourly reconcile writes the promised time, and ECS releases it then.
    run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert alive(ecs_emulator, instance_id).auto_release_time == promised
    _advance_to(ecs_emulator, promised + timedelta(minutes=1))
    assert ecs_emulator.instance(instance_id) is None


def test_a_missed_event_gets_the_same_time_from_actiontrail(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The owner tags with AddTags (the older call); EventBridge drops the event. The reconcile an
    # hour later finds the AddTags record and gives the same time the event would have.
    instance_id = _old_stopped(ecs_emulator)
    owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"}, old=True)
    ecs_emulator.advance(3600)
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    entry = by_id(summary)[instance_id]
    assert entry["release_at"] == "2026-11-27T06:00:00Z"
    assert "from when its tags were written (2026-11-26T06:00Z)" in entry["reason"]
    assert alive(ecs_emulator, instance_id).auto_release_time is None
    assert ecs_emulator.calls_to("LookupEvents"), "the anchor comes from ActionTrail"


def test_a_lifetime_tagged_at_creation_counts_its_notice_from_the_creation(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Tags given at creation leave no tag record: the creation time is the latest they may have
    # been written, so a new instance created with auto-release=1h gets its notice from then.
    created = ecs_emulator.now() - timedelta(hours=2)
    instance = ecs_emulator.add_instance(
        status="Stopped", tags={**DEV, "auto-release": "1h"}, creation_time=created
    )
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "released from 2026-11-27T04:00Z, not sooner" in entry["reason"]
    alive(ecs_emulator, instance.instance_id)


def test_a_lifetime_whose_notice_has_run_is_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Tagged long ago (no tag call in the last MIN_NOTICE on record), lifetime passed: released.
    instance_id = _old_stopped(ecs_emulator, **{"auto-release": "72h"})
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    assert by_id(summary)[instance_id]["outcome"] == "done"
    assert ecs_emulator.instance(instance_id) is None


def test_when_actiontrail_cannot_say_doubt_keeps(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # ActionTrail down: when the tag was written cannot be read. The nightly release keeps the
    # lifetime-passed instance and says why; the reconcile counts the notice from its own run and
    # writes that time at once (the promise later runs honour: docs/safety.md).
    instance_id = _old_stopped(ecs_emulator)
    owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    ecs_emulator.advance(600)
    ecs_emulator.set_faults([FaultRule(operation="LookupEvents", unavailable_rate=1.0)])
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    entry = by_id(summary)[instance_id]
    assert entry["outcome"] == "skipped"
    assert "when its tags were written is unknown (ActionTrail:" in entry["reason"]
    assert "doubt keeps it" in entry["reason"]
    assert any("doubt keeps" in note for note in summary["notes"])

    started = ecs_emulator.now()
    summary = run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    promised = alive(ecs_emulator, instance_id).auto_release_time
    assert promised is not None
    assert promised >= started + timedelta(hours=24)
    assert (
        "from this run: when its tags were written is unknown"
        in by_id(summary)[instance_id]["reason"]
    )
    # ActionTrail back: every later run honours the time written, never sooner.
    ecs_emulator.set_faults([])
    ecs_emulator.advance(3600)
    summary = run(Function.RELEASE, sample(NIGHTLY), TARGET_TAGS="env=dev", DRY_RUN="false")
    assert by_id(summary)[instance_id]["outcome"] == "skipped"
    run(Function.AUTO_RELEASE, sample(RECONCILE), TARGET_TAGS="env=dev")
    assert alive(ecs_emulator, instance_id).auto_release_time == promised


def test_the_stop_function_honours_the_keep_signals_the_release_time_rule_reads(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # One reading for all three functions: a keep-until ahead and the protect tag keep an
    # instance from stop as from release; a lifetime does not keep it from a stop.
    kept = ecs_emulator.add_instance(status="Running", tags={**DEV, "keep-until": "2026-11-30"})
    protected = ecs_emulator.add_instance(status="Running", tags={**DEV, "Protected": "yes"})
    lifetime = ecs_emulator.add_instance(status="Running", tags={**DEV, "auto-release": "never"})
    summary = run(Function.STOP, {"tags": DEV})
    results = by_id(summary)
    assert "kept until the end of 2026-11-30" in results[kept.instance_id]["reason"]
    assert "protect tag Protected='yes'" in results[protected.instance_id]["reason"]
    assert results[lifetime.instance_id]["outcome"] == "done"
    summary = run(Function.RELEASE, {"tags": DEV, "dry_run": True})
    results = by_id(summary)
    assert results[kept.instance_id]["outcome"] == "skipped"
    assert results[protected.instance_id]["outcome"] == "skipped"


def test_the_emulator_records_tag_calls_as_actiontrail_does(
    ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    instance = ecs_emulator.add_instance(tags=DEV)
    owner_tags(ecs_sdk_client, ecs_emulator, instance.instance_id, {"auto-release": "8h"})
    ecs_sdk_client.untag_resources(
        ecs.UntagResourcesRequest(
            region_id=REGION,
            resource_type="instance",
            resource_id=[instance.instance_id],
            tag_key=["auto-release"],
        )
    )
    ecs_sdk_client.remove_tags(
        ecs.RemoveTagsRequest(
            region_id=REGION,
            resource_type="instance",
            resource_id=instance.instance_id,
            tag=[ecs.RemoveTagsRequestTag(key="env")],
        )
    )
    names = [event.event_name for event in ecs_emulator.trail.events]
    assert names == ["TagResources", "UntagResources", "RemoveTags"]
    body = ecs_emulator.trail.events[0].body()
    assert body["eventTime"] == datetime.strftime(ecs_emulator.now(), "%Y-%m-%dT%H:%M:%SZ")
    parameters = body["requestParameters"]
    assert isinstance(parameters, dict)
    assert parameters["ResourceId.1"] == instance.instance_id
    assert (parameters["Tag.1.Key"], parameters["Tag.1.Value"]) == ("auto-release", "8h")
    assert body["referencedResources"] == {"ACS::ECS::Instance": [instance.instance_id]}
    assert alive(ecs_emulator, instance.instance_id).tags == {}


def test_the_notice_before_the_nightly_release_says_the_time_the_owner_was_given(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The notice plans for its real run an hour later; it reads the same tag record up to now.
    instance_id = _old_stopped(ecs_emulator)
    owner_tags(ecs_sdk_client, ecs_emulator, instance_id, {"auto-release": "72h"})
    ecs_emulator.advance(3 * 3600)
    summary = run(
        Function.RELEASE, {"tags": DEV, "dry_run": False, "notice": "1h"}, TARGET_TAGS="env=dev"
    )
    entry = by_id(summary)[instance_id]
    assert entry["outcome"] == "skipped"
    assert "released from 2026-11-27T06:00Z, not sooner" in entry["reason"]
    assert entry["release_at"] == "2026-11-27T06:00:00Z"
