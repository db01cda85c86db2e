"""The auto-release function: manual times, tag-driven lifetimes, events, cancel, clamping."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import Function
from ecs_lifecycle.planning import earliest_release_time
from tests.support import Runner, alive, by_id, sample

UTC = timezone.utc


def event_for(name: str, instance_id: str, **data: Any) -> bytes:
    """A shared sample event, pointed at an emulator instance."""
    event = json.loads(sample(name))
    event["subject"] = event["subject"].rsplit("/", 1)[0] + "/" + instance_id
    if "referencedResources" in event["data"]:
        event["data"]["referencedResources"] = {"ACS::ECS::Instance": [instance_id]}
        event["data"]["requestParameters"]["ResourceId.1"] = instance_id
    else:
        event["data"]["resourceId"] = instance_id
    event["data"].update(data)
    return json.dumps(event).encode()


def test_release_after_sets_the_time(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    now = ecs_emulator.clock.now()
    summary = run(
        Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "release_after": "8h"}
    )
    expected = (now + timedelta(hours=8)).replace(second=0, microsecond=0)
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == expected
    sent = ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")[0].params["AutoReleaseTime"]
    assert sent == expected.strftime("%Y-%m-%dT%H:%M:00Z")


def test_sample_manual_event(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        instance_id="i-bp1dev000000000001",
        status="Running",
        tags={"env": "dev"},
    )
    run(Function.AUTO_RELEASE, sample("manual-auto-release.json"))
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == datetime(
        2026, 12, 1, tzinfo=UTC
    )


def test_too_soon_is_clamped_to_the_earliest_minute(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    now = ecs_emulator.clock.now()
    summary = run(
        Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "release_after": "10m"}
    )
    assert "clamped" in by_id(summary)[instance.instance_id]["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == earliest_release_time(now)


@pytest.mark.parametrize(
    "options",
    [
        {"release_at": "2020-01-01T00:00:00Z"},
        {"release_after": "1200d"},
        {"release_at": "2031-01-01T00:00:00+08:00"},
    ],
)
def test_manual_time_outside_the_window_is_refused_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator, options: dict[str, str]
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    with pytest.raises(InvalidInputError):
        run(Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], **options})
    assert ecs_emulator.calls == []


def test_cancel_omits_the_parameter(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(days=2),
    )
    run(Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "cancel": True})
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None
    assert "AutoReleaseTime" not in ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")[0].params


def test_same_time_twice_makes_one_call(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    event = {"instance_ids": [instance.instance_id], "release_at": "2026-12-01T00:00:00Z"}
    run(Function.AUTO_RELEASE, event)
    second = run(Function.AUTO_RELEASE, event)
    assert len(ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")) == 1
    assert "already" in by_id(second)[instance.instance_id]["reason"]


def test_subscription_and_protected_instances_are_skipped(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    prepaid = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}, charge_type="PrePaid"
    )
    kept = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev", "protected": "1"}
    )
    summary = run(Function.AUTO_RELEASE, {"tags": {"env": "dev"}, "release_after": "8h"})
    assert by_id(summary)[prepaid.instance_id]["outcome"] == "skipped"
    assert by_id(summary)[kept.instance_id]["outcome"] == "skipped"
    assert run.changing_calls() == []


def test_tag_event_sets_lifetime_from_creation(run: Runner, ecs_emulator: EcsEmulator) -> None:
    created = ecs_emulator.clock.now() - timedelta(hours=1)
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev", "auto-release": "72h"},
        creation_time=created,
    )
    summary = run(
        Function.AUTO_RELEASE, event_for("eventbridge-ecs-tagresources.json", instance.instance_id)
    )
    assert summary["trigger"] == "eventbridge"
    # Said, and written to ECS only within AUTO_RELEASE_HORIZON of it (test_promises.py).
    due = (created + timedelta(hours=72)).replace(second=0, microsecond=0)
    assert by_id(summary)[instance.instance_id]["release_at"] == due.strftime("%Y-%m-%dT%H:%M:00Z")
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_tag_event_rereads_the_instance_instead_of_trusting_the_event(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # The event says 72h; by the time it arrives the tag says 'never'.
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"auto-release": "never"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(days=1),
    )
    run(Function.AUTO_RELEASE, event_for("eventbridge-ecs-tagresources.json", instance.instance_id))
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_untag_event_cancels(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(days=1),
    )
    run(
        Function.AUTO_RELEASE,
        event_for("eventbridge-ecs-untagresources.json", instance.instance_id),
    )
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_failed_call_events_are_ignored(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "8h"}
    )
    event = event_for(
        "eventbridge-ecs-tagresources.json", instance.instance_id, errorCode="Forbidden.RAM"
    )
    summary = run(Function.AUTO_RELEASE, event)
    assert ecs_emulator.calls == []
    assert "Forbidden.RAM" in summary["notes"][0]


def test_state_change_event_applies_the_tag(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "2026-12-24T18:00:00+08:00"}
    )
    summary = run(
        Function.AUTO_RELEASE,
        event_for("eventbridge-ecs-instance-statechange.json", instance.instance_id),
    )
    # Said, and written to ECS only within AUTO_RELEASE_HORIZON of it.
    assert by_id(summary)[instance.instance_id]["release_at"] == "2026-12-24T10:00:00Z"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_unparseable_tag_is_skipped_with_the_value_quoted(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "next week"}
    )
    summary = run(
        Function.AUTO_RELEASE,
        event_for("eventbridge-ecs-instance-statechange.json", instance.instance_id),
    )
    assert "'next week'" in by_id(summary)[instance.instance_id]["reason"]
    assert run.changing_calls() == []


def test_reconcile_timer_covers_every_tagged_instance(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    tagged = [
        ecs_emulator.add_instance(
            region="cn-hangzhou", status="Running", tags={"auto-release": "3d"}
        )
        for _ in range(3)
    ]
    untagged = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(days=5),
    )
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
    assert summary["counts"]["done"] == 3
    assert all(alive(ecs_emulator, i.instance_id).auto_release_time is not None for i in tagged)
    # An instance without the tag keeps whatever a person set on it.
    assert alive(ecs_emulator, untagged.instance_id).auto_release_time is not None
    assert untagged.instance_id not in by_id(summary)


def test_events_about_instances_outside_the_fleet_selector_change_nothing(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    prod = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "prod", "auto-release": "8h"}
    )
    summary = run(
        Function.AUTO_RELEASE,
        event_for("eventbridge-ecs-tagresources.json", prod.instance_id),
        TARGET_TAGS="env=dev",
    )
    assert run.changing_calls() == []
    assert alive(ecs_emulator, prod.instance_id).auto_release_time is None
    assert by_id(summary)[prod.instance_id]["outcome"] == "skipped"


def test_reconcile_within_the_fleet_selector_lists_only_tagged_fleet_instances(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    tagged = ecs_emulator.add_instance(status="Running", tags={"env": "dev", "auto-release": "3d"})
    untagged = ecs_emulator.add_instance(status="Running", tags={"env": "dev"})
    outside = ecs_emulator.add_instance(
        status="Running", tags={"env": "prod", "auto-release": "3d"}
    )
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), TARGET_TAGS="env=dev")
    assert set(by_id(summary)) == {tagged.instance_id}
    assert alive(ecs_emulator, tagged.instance_id).auto_release_time is not None
    assert alive(ecs_emulator, outside.instance_id).auto_release_time is None
    assert untagged.instance_id not in by_id(summary)
    # ECS was asked for exactly that: the fleet tag and the auto-release key.
    params = ecs_emulator.calls_to("DescribeInstances")[0].params
    assert {params["Tag.1.Key"], params["Tag.2.Key"]} == {"env", "auto-release"}


def test_a_retried_timer_with_release_after_asks_for_the_same_minute(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags={"env": "dev"})
    trigger = ecs_emulator.clock.now()
    payload = json.dumps({"instance_ids": [instance.instance_id], "release_after": "8h"})
    timer = json.dumps(
        {
            "triggerTime": trigger.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "triggerName": "ttl",
            "payload": payload,
        }
    )
    run(Function.AUTO_RELEASE, timer)
    ecs_emulator.advance(600)  # FC retries the invocation ten minutes later
    retried = run(Function.AUTO_RELEASE, timer)
    assert len(ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")) == 1
    assert "already" in by_id(retried)[instance.instance_id]["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time == trigger + timedelta(
        hours=8
    )
