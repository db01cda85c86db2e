"""Findings of the adversarial review of the merged branches, each a test first, then a fix.

Each test drives a handler through the real SDK against the emulator and changes the world
mid-run (`EcsEmulator.on_call`) where the seam needs it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import BlastRadiusExceededError, RunFailedError
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import SNAPSHOT_INSTANCE_TAG, Function
from ecs_lifecycle.notify.memory import InMemoryChannel
from ecs_lifecycle.notify.message import KeepHint, MessageKind, Notification
from tests.support import SAMPLES, Runner, alive, by_id, sample

DEV = {"env": "dev"}
REGION = "cn-hangzhou"
LATER = datetime(2026, 12, 24, 10, 0, tzinfo=timezone.utc)
# A lifetime long passed: the minimum notice's time is written at once. (A 30d lifetime is now
# written only within AUTO_RELEASE_HORIZON of it, so it plans no write.)
PASSED = {"auto-release": "72h"}
OLD = datetime(2026, 11, 12, 6, 0, tzinfo=timezone.utc)


def test_a_refused_run_s_cancellation_never_becomes_a_release_time_on_the_re_check(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Over the cap, the run carries out only its cancellations. The protect tag comes off
    # between the read and the write: the re-check must not turn the cancellation into a new
    # release time, a destructive change the refused run was never allowed to make.
    guarded = ecs_emulator.add_instance(
        tags={**DEV, "auto-release": "30d", "protected": "yes"}, auto_release_time=LATER
    )
    held = [ecs_emulator.add_instance(tags={**DEV, **PASSED}, creation_time=OLD) for _ in range(2)]
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            guarded.instance_id, tags={**DEV, "auto-release": "30d"}
        ),
        nth=2,
        before=True,
    )
    with pytest.raises(BlastRadiusExceededError):
        run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), MAX_INSTANCES="1")
    sets = [
        call.params["InstanceId"]
        for call in ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")
        if call.params.get("AutoReleaseTime")
    ]
    assert sets == [], "a run refused by max_instances set a release time"
    assert all(alive(ecs_emulator, i.instance_id).auto_release_time is None for i in held)


def test_a_snapshot_asked_for_after_the_read_is_taken_afresh_not_an_old_one_reused(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # An old snapshot the tool took of the disk, then a start and a stop: the disk changed
    # since. The owner tags the instance snapshot-before-release=true while the run is under
    # way: the release must wait for a snapshot taken now, not reuse the stale one.
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV, disks=1)
    (disk,) = ecs_emulator.disks(instance.instance_id)
    old = ecs_sdk_client.create_snapshot(
        ecs.CreateSnapshotRequest(
            disk_id=disk.disk_id,
            tag=[
                ecs.CreateSnapshotRequestTag(key=SNAPSHOT_INSTANCE_TAG, value=instance.instance_id)
            ],
        )
    ).body.snapshot_id
    ecs_emulator.advance(3600)
    ecs_sdk_client.start_instances(
        ecs.StartInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    )
    ecs_emulator.advance(3600)
    ecs_sdk_client.stop_instances(
        ecs.StopInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    )
    ecs_emulator.advance(3600)
    assert alive(ecs_emulator, instance.instance_id).status == "Stopped"
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id, tags={**DEV, "snapshot-before-release": "true"}
        ),
        nth=2,
        before=True,
    )
    summary = run(Function.RELEASE, {"tags": DEV, "dry_run": False})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    assert old not in entry["snapshot_ids"], entry
    assert len(entry["snapshot_ids"]) == 1
    assert ecs_emulator.calls_to("CreateSnapshot")[-1].params["DiskId"] == disk.disk_id


def test_the_stop_before_a_release_long_after_the_read_is_re_checked(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # The protect tag means never stopped either. A release's own StopInstances, sent more than
    # 30 s after the read, must be re-checked like the stop function's.
    instance = ecs_emulator.add_instance(status="Running", tags=DEV)

    def protect_after_a_long_load() -> None:
        ecs_emulator.advance(120)
        ecs_emulator.update_instance(instance.instance_id, tags={**DEV, "protected": "true"})

    ecs_emulator.on_call("DescribeInstances", protect_after_a_long_load)
    summary = run(Function.RELEASE, {"tags": DEV, "dry_run": False})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped", entry
    assert "protect tag" in entry["reason"]
    assert ecs_emulator.calls_to("StopInstances") == []
    assert alive(ecs_emulator, instance.instance_id).status == "Running"


def test_an_auto_release_time_not_set_is_not_reported_as_set(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # `release_at` in a result means a time set (or, with action "none", a lifetime's due time
    # beyond the horizon, said as such). One the re-check kept from being written, and
    # one ECS refused, are not set: their results must not carry it (a report turns it into
    # "ECS auto-releases it at ...", which would be untrue).
    changed = ecs_emulator.add_instance(tags={**DEV, **PASSED}, creation_time=OLD)
    refused = ecs_emulator.add_instance(tags={**DEV, **PASSED}, creation_time=OLD)
    ecs_emulator.fail_instance(
        refused.instance_id, operation="ModifyInstanceAutoReleaseTime", code="InvalidParameter"
    )
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            changed.instance_id, tags={**DEV, "auto-release": "never"}
        ),
        nth=2,
        before=True,
    )
    with pytest.raises(RunFailedError) as failed:
        run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
    entries = by_id(failed.value.summary)
    assert entries[changed.instance_id]["outcome"] == "skipped"
    assert entries[refused.instance_id]["outcome"] == "failed"
    assert "release_at" not in entries[changed.instance_id], entries[changed.instance_id]
    assert "release_at" not in entries[refused.instance_id], entries[refused.instance_id]
    assert alive(ecs_emulator, changed.instance_id).auto_release_time is None
    assert alive(ecs_emulator, refused.instance_id).auto_release_time is None


def test_a_release_due_later_is_not_announced_as_an_ecs_auto_release() -> None:
    # A release stopped_for keeps only for now carries its due time as `release_at`; the notice
    # must not tell its owner that ECS auto-releases it then (ECS has no time set: this function
    # releases it, and a keep-until tag, not an auto-release change, keeps it).
    channel = InMemoryChannel()
    due = "2026-12-01T06:00:00Z"
    channel.send(
        Notification(
            MessageKind.NOTICE,
            {
                "function": "release",
                "dry_run": True,
                "trigger": "timer:nightly",
                "regions": [REGION],
                "counts": {"done": 0, "planned": 0, "skipped": 1, "failed": 0},
                "instances": [
                    {
                        "instance_id": "i-1",
                        "region": REGION,
                        "action": "release",
                        "outcome": "skipped",
                        "reason": f"stopped 2 days ago; released after 7 days, so from {due}",
                        "release_at": due,
                    }
                ],
                "notes": [],
            },
            keep=KeepHint("keep-until", "2026-12-03"),
        )
    )
    (message,) = channel.messages
    assert "ECS auto-releases" not in message
    assert f"released by this function from {due}" in message


def test_a_snapshot_asked_for_after_the_read_never_goes_with_a_forced_delete(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Planned as a forced release of a Running instance; before the re-read someone stops it
    # and tags it snapshot-before-release=true. Releases with snapshots never use Force.
    instance = ecs_emulator.add_instance(status="Running", tags=DEV, disks=1)
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            instance.instance_id,
            status="Stopped",
            tags={**DEV, "snapshot-before-release": "true"},
        ),
        nth=2,
        before=True,
    )
    summary = run(Function.RELEASE, {"tags": DEV, "dry_run": False, "force": True})
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    assert len(entry["snapshot_ids"]) == 1
    deletes = ecs_emulator.calls_to("DeleteInstances")
    assert deletes
    assert all(c.params.get("Force", "false").lower() == "false" for c in deletes)


def test_ctrl_c_starts_no_further_actiontrail_look_up(ecs_emulator: EcsEmulator) -> None:
    # The first Ctrl-C starts nothing new. Once it came, the waits end at once, so an
    # ActionTrail reader that ignored it would go on paging (and retrying) unpaced.
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    ecs_emulator.trail.add("StopInstance", [instance.instance_id], ecs_emulator.now())
    ecs_emulator.advance(8 * 86400)
    environ = Runner(ecs_emulator).environ(
        ACTIONTRAIL_ENDPOINT=ecs_emulator.endpoint, ACTIONTRAIL_PROTOCOL="http"
    )
    services = Services(
        clock=ecs_emulator.clock,
        environ=environ,
        gateway_factory=make_gateway,
        stop_requested=lambda: bool(ecs_emulator.calls_to("LookupEvents")),
    )
    event = json.dumps({"tags": DEV, "dry_run": False, "stopped_for": "7d"})
    try:
        summary = handle(Function.RELEASE, event, make_context(Function.RELEASE, environ), services)
    except RunFailedError as failure:  # what was planned and not done: Interrupted
        summary = dict(failure.summary)
    assert len(ecs_emulator.calls_to("LookupEvents")) == 1
    entry = by_id(summary)[instance.instance_id]
    assert "Interrupted" in entry["reason"], entry
    assert alive(ecs_emulator, instance.instance_id)


def tag_event(instance_id: str) -> bytes:
    """The shared TagResources sample, about another instance."""
    raw = (SAMPLES / "eventbridge-ecs-tagresources.json").read_text()
    return raw.replace("i-bp1dev000000000001", instance_id).encode()


@pytest.mark.parametrize(
    "keep", [{"tags": {**DEV, "protected": "true"}}, {"tags": DEV, "deletion_protection": True}]
)
def test_a_keep_signal_cancels_a_time_set_by_hand_when_an_event_reads_the_instance(
    run: Runner, ecs_emulator: EcsEmulator, keep: dict[str, Any]
) -> None:
    # Keep signals win: auto-release gives a protected instance no auto-release time and
    # cancels one that is set (ECS's auto-release ignores deletion protection). A time set by
    # hand on an instance without the lifetime tag was cancelled only when a keep-until was
    # present too; tagging the instance `protected` left the time to release it.
    instance = ecs_emulator.add_instance(auto_release_time=LATER, **keep)
    summary = run(Function.AUTO_RELEASE, tag_event(instance.instance_id))
    entry = by_id(summary)[instance.instance_id]
    assert entry["action"] == "cancel-auto-release", entry
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None
