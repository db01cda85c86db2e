"""Safety under change: keep signals win, fences hold, and every destructive call is re-checked.

Each test changes the world while a run is under way (`EcsEmulator.on_call`), or sends what an
adversarial caller could send, and shows the instance its owner wanted kept survives.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id, sample

DEV = {"env": "dev"}
RELEASE = {"tags": DEV, "dry_run": False}
LATER = datetime(2026, 12, 24, 10, 0, tzinfo=timezone.utc)


def tag_event(name: str, instance_id: str, region: str = "cn-hangzhou") -> bytes:
    """A shared EventBridge sample about another instance (and region)."""
    event: dict[str, Any] = json.loads(sample(name))
    text = json.dumps(event).replace("i-bp1dev000000000001", instance_id)
    text = text.replace("i-bp1dev000000000002", instance_id).replace("cn-hangzhou", region)
    return text.encode()


# --- 1. keep signals never block a cancel ------------------------------------------------------


@pytest.mark.parametrize(
    "keep", [{"tags": {**DEV, "protected": "true"}}, {"deletion_protection": True}]
)
def test_a_manual_cancel_is_carried_out_whatever_protects_the_instance(
    run: Runner, ecs_emulator: EcsEmulator, keep: dict[str, Any]
) -> None:
    options: dict[str, Any] = {"tags": DEV, "auto_release_time": LATER, **keep}
    instance = ecs_emulator.add_instance(**options)
    summary = run(Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "cancel": True})
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


@pytest.mark.parametrize(
    ("event", "tag_value"),
    [
        ("eventbridge-ecs-tagresources.json", "never"),
        ("eventbridge-ecs-untagresources.json", None),
    ],
    ids=["tag set to never", "tag removed"],
)
def test_a_tag_that_cancels_is_carried_out_on_a_protected_instance(
    run: Runner, ecs_emulator: EcsEmulator, event: str, tag_value: str | None
) -> None:
    tags = {**DEV, "protected": "true"}
    if tag_value is not None:
        tags["auto-release"] = tag_value
    instance = ecs_emulator.add_instance(tags=tags, auto_release_time=LATER)
    summary = run(Function.AUTO_RELEASE, tag_event(event, instance.instance_id))
    assert by_id(summary)[instance.instance_id]["action"] == "cancel-auto-release"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


@pytest.mark.parametrize(
    ("keep", "why"),
    [
        ({"tags": {**DEV, "auto-release": "30d", "protected": "yes"}}, "protect tag"),
        ({"tags": {**DEV, "auto-release": "30d"}, "deletion_protection": True}, "deletion"),
    ],
    ids=["protect tag", "deletion protection"],
)
def test_the_reconcile_cancels_a_time_that_a_keep_signal_forbids(
    run: Runner, ecs_emulator: EcsEmulator, keep: dict[str, Any], why: str
) -> None:
    # The tool set the time from the tag earlier; the keep signal came afterwards.
    instance = ecs_emulator.add_instance(**keep, auto_release_time=LATER)
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
    entry = by_id(summary)[instance.instance_id]
    assert entry["action"] == "cancel-auto-release"
    assert entry["outcome"] == "done"
    assert why in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_cancellations_never_count_against_max_instances(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    timed = [ecs_emulator.add_instance(tags=DEV, auto_release_time=LATER) for _ in range(3)]
    summary = run(Function.AUTO_RELEASE, {"tags": DEV, "cancel": True, "max_instances": 0})
    assert summary["counts"]["done"] == 3
    assert all(alive(ecs_emulator, i.instance_id).auto_release_time is None for i in timed)


def test_a_run_over_the_cap_still_carries_out_its_cancellations(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    cancelled = ecs_emulator.add_instance(
        tags={**DEV, "auto-release": "never"}, auto_release_time=LATER
    )
    # Lifetimes long passed: each would get the minimum notice's time, written at once (a 30d
    # lifetime is no longer written at all, only within AUTO_RELEASE_HORIZON of it).
    old = ecs_emulator.now() - timedelta(days=14)
    held = [
        ecs_emulator.add_instance(tags={**DEV, "auto-release": "72h"}, creation_time=old)
        for _ in range(2)
    ]
    with pytest.raises(BlastRadiusExceededError):
        run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), MAX_INSTANCES="1")
    assert alive(ecs_emulator, cancelled.instance_id).auto_release_time is None
    assert all(alive(ecs_emulator, i.instance_id).auto_release_time is None for i in held)
    assert [
        c.params["InstanceId"] for c in ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")
    ] == [cancelled.instance_id]


# --- 2. fences hold ----------------------------------------------------------------------------


def test_event_tags_narrow_target_tags_and_never_replace_them(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    prod = ecs_emulator.add_instance(status="Stopped", tags={"env": "prod", "team": "core"})
    dev = ecs_emulator.add_instance(status="Stopped", tags={"env": "dev", "team": "core"})
    summary = run(
        Function.RELEASE, {"tags": {"team": "core"}, "dry_run": False}, TARGET_TAGS="env=dev"
    )
    assert prod.instance_id not in by_id(summary)
    assert alive(ecs_emulator, prod.instance_id)
    assert ecs_emulator.instance(dev.instance_id) is None


def test_an_event_asking_for_a_region_outside_the_fence_is_refused(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    elsewhere = ecs_emulator.add_instance(region="cn-beijing", status="Stopped", tags=DEV)
    with pytest.raises(InvalidInputError, match=r"cn-beijing is outside .*cn-hangzhou"):
        run(Function.RELEASE, {**RELEASE, "regions": ["cn-beijing"]})
    assert ecs_emulator.calls == []
    assert alive(ecs_emulator, elsewhere.instance_id)


def test_a_tag_event_from_a_region_outside_the_fence_changes_nothing(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(region="cn-beijing", tags={**DEV, "auto-release": "1h"})
    summary = run(
        Function.AUTO_RELEASE,
        tag_event("eventbridge-ecs-tagresources.json", instance.instance_id, "cn-beijing"),
    )
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "outside this deployment's regions" in entry["reason"]
    assert ecs_emulator.calls == []
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


# --- 3. re-check on a fresh read right before acting --------------------------------------------


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"tags": {**DEV, "protected": "true"}}, "protect tag"),
        ({"tags": {"env": "prod"}}, "no longer matches the selector"),
        ({"deletion_protection": True}, "deletion protection"),
        ({"status": "Running"}, "Running again"),
    ],
    ids=["protect tag", "left the selector", "deletion protection", "started again"],
)
def test_a_stopped_instance_that_changed_after_the_read_is_not_released(
    run: Runner, ecs_emulator: EcsEmulator, change: dict[str, Any], why: str
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    ecs_emulator.on_call(
        "DescribeInstances", lambda: ecs_emulator.update_instance(instance.instance_id, **change)
    )
    summary = run(Function.RELEASE, RELEASE)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped", entry
    assert why in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id)
    assert ecs_emulator.calls_to("DeleteInstances") == []


def test_an_instance_protected_while_it_stops_is_not_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV)
    ecs_emulator.on_call(
        "StopInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id, tags={**DEV, "protected": "true"}
        ),
    )
    summary = run(Function.RELEASE, RELEASE)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "protect tag" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).status == "Stopped"


def test_an_instance_started_again_while_it_stops_is_not_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV)
    # The first status poll after the stop finds it started again (someone pressed Start).
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(instance.instance_id, status="Running"),
        nth=2,
        before=True,
    )
    summary = run(Function.RELEASE, RELEASE)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "Running again" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).status == "Running"


def test_a_stop_long_after_the_read_is_re_checked(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV)

    def protect_after_a_long_load() -> None:
        ecs_emulator.advance(120)
        ecs_emulator.update_instance(instance.instance_id, tags={**DEV, "protected": "true"})

    ecs_emulator.on_call("DescribeInstances", protect_after_a_long_load)
    summary = run(Function.STOP, {"tags": DEV})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "protect tag" in entry["reason"]
    assert ecs_emulator.calls_to("StopInstances") == []


def test_the_tag_as_it_is_when_the_time_is_written_decides(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(tags={**DEV, "auto-release": "1h"})
    # The owner changes their mind between the run's read and its write.
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id, tags={**DEV, "auto-release": "never"}
        ),
    )
    summary = run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "never" in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None
    assert ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime") == []


# --- 4. the released disks are the snapshotted disks ---------------------------------------------


def test_snapshot_with_force_stops_gracefully_and_never_forces_the_delete(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV, disks=2)
    summary = run(Function.RELEASE, {**RELEASE, "snapshot": True, "force": True})
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert [c.params.get("ForceStop") for c in ecs_emulator.calls_to("StopInstances")] == ["False"]
    assert all(
        c.params.get("Force", "false").lower() == "false"
        for c in ecs_emulator.calls_to("DeleteInstances")
    )


def test_an_instance_restarted_during_the_snapshot_wait_is_kept(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)

    def restart() -> None:
        ecs_emulator.update_instance(instance.instance_id, status="Running")

    ecs_emulator.on_call("CreateSnapshot", restart)
    summary = run(Function.RELEASE, {**RELEASE, "snapshot": True, "force": True})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped", entry
    assert "Running again" in entry["reason"]
    assert entry["snapshot_ids"]
    assert alive(ecs_emulator, instance.instance_id)
    assert ecs_emulator.calls_to("DeleteInstances") == []


def test_a_disk_attached_during_the_snapshot_wait_is_snapshotted_before_release(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    attached: list[str] = []
    ecs_emulator.on_call(
        "CreateSnapshot",
        lambda: attached.append(ecs_emulator.attach_disk(instance.instance_id).disk_id),
    )
    summary = run(Function.RELEASE, {**RELEASE, "snapshot": True})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    snapshotted = {s.disk_id for s in ecs_emulator.snapshots(instance_id=instance.instance_id)}
    assert attached[0] in snapshotted
    assert len(entry["snapshot_ids"]) == 2
    operations = [c.operation for c in ecs_emulator.calls]
    last_snapshot = max(i for i, op in enumerate(operations) if op == "CreateSnapshot")
    assert last_snapshot < operations.index("DeleteInstances")


# --- 5. tags as people write them ---------------------------------------------------------------


@pytest.mark.parametrize("key", ["Protected", "PROTECTED", "protected ", " Protected"])
@pytest.mark.parametrize("value", ["true", "yes", ""])
def test_the_protect_tag_protects_in_any_case_and_spacing(
    run: Runner, ecs_emulator: EcsEmulator, key: str, value: str
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags={**DEV, key: value})
    summary = run(Function.RELEASE, RELEASE)
    assert by_id(summary)[instance.instance_id]["outcome"] == "skipped"
    assert alive(ecs_emulator, instance.instance_id)


@pytest.mark.parametrize("key", ["Auto-Release", "auto_release"])
def test_a_near_miss_auto_release_key_is_reported_as_ignored(
    run: Runner, ecs_emulator: EcsEmulator, key: str
) -> None:
    instance = ecs_emulator.add_instance(tags={**DEV, key: "1h"})
    summary = run(
        Function.AUTO_RELEASE,
        tag_event("eventbridge-ecs-tagresources.json", instance.instance_id),
    )
    reason = by_id(summary)[instance.instance_id]["reason"]
    assert f"tag {key}='1h' is ignored" in reason
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


# --- 7. the nightly release respects the owner's stated lifetime ---------------------------------


@pytest.mark.parametrize(
    ("lifetime", "why"),
    [
        ("never", "kept indefinitely by its owner's tag"),
        ("OFF", "kept indefinitely by its owner's tag"),
        ("2027-01-15T00:00:00+08:00", "keeps it until 2027-01-14T16:00Z"),
        ("30d", "keeps it until"),
        ("in a while", "cannot be read"),
    ],
)
def test_the_nightly_release_keeps_what_the_owner_s_lifetime_still_keeps(
    run: Runner, ecs_emulator: EcsEmulator, lifetime: str, why: str
) -> None:
    day_old = ecs_emulator.now() - timedelta(days=1)
    instance = ecs_emulator.add_instance(
        status="Stopped", tags={**DEV, "auto-release": lifetime}, creation_time=day_old
    )
    summary = run(Function.RELEASE, sample("timer-nightly-release.json"))
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert why in entry["reason"]
    assert alive(ecs_emulator, instance.instance_id)


def test_a_lifetime_that_has_passed_lets_the_release_go_ahead(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "auto-release": "1d"})
    run(Function.RELEASE, sample("timer-nightly-release.json"))
    assert ecs_emulator.instance(instance.instance_id) is None


def test_override_lifetime_releases_explicit_ids_and_says_so(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "auto-release": "never"})
    event = {"instance_ids": [instance.instance_id], "dry_run": False, "override_lifetime": True}
    summary = run(Function.RELEASE, event)
    assert "override_lifetime overrides" in by_id(summary)[instance.instance_id]["reason"]
    assert ecs_emulator.instance(instance.instance_id) is None


def test_override_lifetime_never_applies_to_a_whole_fleet(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(status="Stopped", tags={**DEV, "auto-release": "never"})
    with pytest.raises(InvalidInputError, match="override_lifetime"):
        run(Function.RELEASE, {**RELEASE, "override_lifetime": True})
    assert ecs_emulator.calls == []


# --- operation locks (issue 11) -----------------------------------------------------------------


@pytest.mark.parametrize("lock", ["security", "financial"])
@pytest.mark.parametrize(
    ("function", "event"),
    [
        (Function.STOP, {"tags": DEV}),
        (Function.RELEASE, RELEASE),
        (Function.AUTO_RELEASE, {"tags": DEV, "release_after": "8h"}),
    ],
    ids=["stop", "release", "auto-release"],
)
def test_a_locked_instance_is_left_alone_with_the_lock_as_reason(
    run: Runner, ecs_emulator: EcsEmulator, lock: str, function: Function, event: dict[str, Any]
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV, lock_reasons=(lock,))
    summary = run(function, event)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert f"operation lock ({lock})" in entry["reason"]
    assert run.changing_calls() == []
    assert alive(ecs_emulator, instance.instance_id).status == "Running"
