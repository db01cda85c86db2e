"""Snapshot before release: no instance goes without an accomplished snapshot of every disk."""

from __future__ import annotations

from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.model import SNAPSHOT_INSTANCE_TAG, Function
from tests.support import Runner, alive, by_id

DEV = {"env": "dev"}
SNAPSHOT_RELEASE: dict[str, Any] = {"tags": DEV, "dry_run": False, "snapshot": True}


def failed_run(run: Runner, event: dict[str, Any], **env: str) -> dict[str, Any]:
    """Run a release that must fail; its summary."""
    with pytest.raises(RunFailedError) as failure:
        run(Function.RELEASE, event, **env)
    return dict(failure.value.summary)


def creates_per_disk(emulator: EcsEmulator) -> dict[str, int]:
    counts: dict[str, int] = {}
    for call in emulator.calls_to("CreateSnapshot"):
        if call.status == 200:
            counts[call.params["DiskId"]] = counts.get(call.params["DiskId"], 0) + 1
    return counts


def test_every_disk_is_snapshotted_and_accomplished_before_the_release(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "team": "a"}, disks=3)
    running = ecs_emulator.add_instance(status="Running", tags=DEV, disks=2)
    disks = {
        view.instance_id: [d.disk_id for d in ecs_emulator.disks(view.instance_id)]
        for view in (stopped, running)
    }
    summary = run(Function.RELEASE, SNAPSHOT_RELEASE, SNAPSHOT_RETENTION_DAYS="30")

    entries = by_id(summary)
    for view in (stopped, running):
        entry = entries[view.instance_id]
        assert entry["outcome"] == "done", entry
        assert ecs_emulator.instance(view.instance_id) is None
        snapshots = ecs_emulator.snapshots(instance_id=view.instance_id)
        assert sorted(s.disk_id for s in snapshots) == sorted(disks[view.instance_id])
        assert sorted(entry["snapshot_ids"]) == sorted(s.snapshot_id for s in snapshots)
        delete = next(
            c for c in ecs_emulator.calls_to("DeleteInstances") if view.instance_id in str(c.params)
        )
        for snapshot in snapshots:
            assert snapshot.status == "accomplished"
            assert snapshot.finished_at is not None
            assert snapshot.finished_at <= delete.time
            assert snapshot.tags[SNAPSHOT_INSTANCE_TAG] == view.instance_id
            assert snapshot.tags["env"] == "dev"
            assert snapshot.retention_days == 30
            assert snapshot.name.startswith("ecs-lifecycle-")
            assert view.instance_id in snapshot.description
    assert ecs_emulator.snapshots(instance_id=stopped.instance_id)[0].tags["team"] == "a"
    # The running one was stopped before its disks were snapshotted.
    operations = [c.operation for c in ecs_emulator.calls if c.status == 200]
    assert operations.index("StopInstances") < operations.index("CreateSnapshot")
    assert creates_per_disk(ecs_emulator) == {d: 1 for ids in disks.values() for d in ids}


def test_a_failed_snapshot_keeps_its_instance_and_fails_the_run(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    doomed = ecs_emulator.add_instance(status="Stopped", tags=DEV, disks=2)
    fine = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    ecs_emulator.fail_snapshots(ecs_emulator.disks(doomed.instance_id)[1].disk_id)

    summary = failed_run(run, SNAPSHOT_RELEASE)

    entry = by_id(summary)[doomed.instance_id]
    assert entry["outcome"] == "failed"
    assert entry["error_code"] == "SnapshotFailed"
    assert len(entry["snapshot_ids"]) == 2
    alive(ecs_emulator, doomed.instance_id)
    assert by_id(summary)[fine.instance_id]["outcome"] == "done"
    assert ecs_emulator.instance(fine.instance_id) is None


@pytest.mark.parametrize("code", ["QuotaExceed.Snapshot", "IncorrectDiskStatus.CreatingSnapshot"])
def test_create_snapshot_refused_keeps_the_instance(
    run: Runner, ecs_emulator: EcsEmulator, code: str
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV, disks=2)
    second = ecs_emulator.disks(instance.instance_id)[1].disk_id
    ecs_emulator.fail_resource(second, operation="CreateSnapshot", code=code)

    summary = failed_run(run, SNAPSHOT_RELEASE)

    entry = by_id(summary)[instance.instance_id]
    assert (entry["outcome"], entry["error_code"]) == ("failed", code)
    assert second in entry["reason"]
    alive(ecs_emulator, instance.instance_id)
    assert ecs_emulator.calls_to("DeleteInstances") == []


def test_a_snapshot_already_in_progress_on_the_disk_keeps_the_instance(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    disk = ecs_emulator.disks(instance.instance_id)[0].disk_id
    # Someone else's snapshot (an automatic policy, say) is still being made.
    ecs_sdk_client.create_snapshot(ecs.CreateSnapshotRequest(disk_id=disk))

    summary = failed_run(run, SNAPSHOT_RELEASE)

    assert by_id(summary)[instance.instance_id]["error_code"] == (
        "IncorrectDiskStatus.CreatingSnapshot"
    )
    alive(ecs_emulator, instance.instance_id)


def test_a_slow_snapshot_keeps_the_instance_and_a_rerun_reuses_it(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.settings.snapshot_duration = 600  # longer than the function may run
    instance = ecs_emulator.add_instance(status="Running", tags=DEV, disks=2)

    summary = failed_run(run, SNAPSHOT_RELEASE, FC_TIMEOUT="300")

    entry = by_id(summary)[instance.instance_id]
    assert (entry["outcome"], entry["error_code"]) == ("failed", "DeadlineExceeded")
    assert len(entry["snapshot_ids"]) == 2
    alive(ecs_emulator, instance.instance_id)
    assert ecs_emulator.calls_to("DeleteInstances") == []
    assert all(s.status == "progressing" for s in ecs_emulator.snapshots())

    # Function Compute retries the same event: the snapshots are found again, not retaken.
    summary = run(Function.RELEASE, SNAPSHOT_RELEASE, FC_TIMEOUT="900")

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done"
    assert ecs_emulator.instance(instance.instance_id) is None
    assert set(creates_per_disk(ecs_emulator).values()) == {1}
    assert len(creates_per_disk(ecs_emulator)) == 2
    assert sorted(entry["snapshot_ids"]) == sorted(s.snapshot_id for s in ecs_emulator.snapshots())


def test_a_later_run_with_another_event_reuses_the_snapshots_by_their_tag(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV, disks=2)
    ecs_emulator.fail_resource(instance.instance_id, operation="DeleteInstances", times=1)
    failed_run(run, SNAPSHOT_RELEASE)
    alive(ecs_emulator, instance.instance_id)
    assert len(ecs_emulator.snapshots()) == 2

    # A different event (another ClientToken seed): only the tag lookup can find them.
    run(Function.RELEASE, {**SNAPSHOT_RELEASE, "max_instances": 5})

    assert ecs_emulator.instance(instance.instance_id) is None
    assert set(creates_per_disk(ecs_emulator).values()) == {1}
    assert len(ecs_emulator.snapshots()) == 2


def test_a_failed_snapshot_is_retaken_by_a_retry_not_replayed(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    disk = ecs_emulator.disks(instance.instance_id)[0].disk_id
    ecs_emulator.fail_snapshots(disk)
    failed_run(run, SNAPSHOT_RELEASE)
    # The same event again: the ClientToken must not hand back the failed snapshot.
    failed_run(run, SNAPSHOT_RELEASE)

    creates = ecs_emulator.calls_to("CreateSnapshot")
    assert len({call.params["ClientToken"] for call in creates}) == 2
    assert len(ecs_emulator.snapshots(disk_id=disk)) == 2
    alive(ecs_emulator, instance.instance_id)


def test_dry_run_lists_the_disks_and_takes_no_snapshot(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV, disks=2)
    disks = [d.disk_id for d in ecs_emulator.disks(instance.instance_id)]

    summary = run(Function.RELEASE, {**SNAPSHOT_RELEASE, "dry_run": True})

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "planned"
    assert f"would snapshot {disks[0]}, {disks[1]} then release" in entry["reason"]
    assert run.changing_calls() == []
    assert ecs_emulator.snapshots() == []
    assert ecs_emulator.calls_to("DescribeDisks")


@pytest.mark.parametrize(
    ("option", "tag", "snapshotted"),
    [
        (False, "true", True),  # the tag asks for it although the run does not
        (True, "false", False),  # the tag declines it although the run asks
        (True, "TRUE", True),
        (None, None, False),  # the default: no snapshot
    ],
)
def test_the_instance_tag_overrides_the_option(
    run: Runner, ecs_emulator: EcsEmulator, option: bool | None, tag: str | None, snapshotted: bool
) -> None:
    tags = {**DEV, **({"snapshot-before-release": tag} if tag is not None else {})}
    instance = ecs_emulator.add_instance(status="Stopped", tags=tags, disks=2)
    event: dict[str, Any] = {"tags": DEV, "dry_run": False}
    if option is not None:
        event["snapshot"] = option

    summary = run(Function.RELEASE, event)

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done"
    assert ecs_emulator.instance(instance.instance_id) is None
    assert len(ecs_emulator.snapshots(instance_id=instance.instance_id)) == (
        2 if snapshotted else 0
    )
    assert ("snapshot_ids" in entry) is snapshotted


def test_the_setting_turns_it_on_and_the_event_can_turn_it_off(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    first = ecs_emulator.add_instance(status="Stopped", tags={"env": "a"})
    second = ecs_emulator.add_instance(status="Stopped", tags={"env": "b"})
    run(Function.RELEASE, {"tags": {"env": "a"}, "dry_run": False}, SNAPSHOT_BEFORE_RELEASE="true")
    run(
        Function.RELEASE,
        {"tags": {"env": "b"}, "dry_run": False, "snapshot": False},
        SNAPSHOT_BEFORE_RELEASE="true",
    )
    assert len(ecs_emulator.snapshots(instance_id=first.instance_id)) == 1
    assert ecs_emulator.snapshots(instance_id=second.instance_id) == []


def test_an_unreadable_tag_keeps_the_instance(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        status="Stopped", tags={**DEV, "snapshot-before-release": "maybe"}
    )
    summary = run(Function.RELEASE, SNAPSHOT_RELEASE)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "skipped"
    assert "neither true nor false" in entry["reason"]
    alive(ecs_emulator, instance.instance_id)
    assert run.changing_calls() == []


def test_a_refused_tagged_snapshot_is_taken_untagged_and_the_release_goes_ahead(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    """If RAM authorises CreateSnapshot's tags as the denied ecs:TagResources (UNCONFIRMED)."""
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV, disks=2)
    disks = [d.disk_id for d in ecs_emulator.disks(instance.instance_id)]
    ecs_emulator.refuse_tagged_snapshots()

    summary = run(Function.RELEASE, SNAPSHOT_RELEASE)

    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    assert ecs_emulator.instance(instance.instance_id) is None
    snapshots = ecs_emulator.snapshots(instance_id=instance.instance_id)
    assert sorted(s.disk_id for s in snapshots) == sorted(disks)
    assert sorted(entry["snapshot_ids"]) == sorted(s.snapshot_id for s in snapshots)
    delete = ecs_emulator.calls_to("DeleteInstances")[0]
    for snapshot in snapshots:
        assert snapshot.status == "accomplished"
        assert snapshot.finished_at is not None
        assert snapshot.finished_at <= delete.time
        assert snapshot.tags == {}
    for disk in disks:
        calls = [c for c in ecs_emulator.calls_to("CreateSnapshot") if c.params["DiskId"] == disk]
        assert [(c.status, "Tag.1.Key" in c.params) for c in calls] == [(403, True), (200, False)]


def test_a_snapshot_refused_with_and_without_tags_keeps_the_instance_after_one_retry(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    (disk,) = [d.disk_id for d in ecs_emulator.disks(instance.instance_id)]
    ecs_emulator.fail_resource(disk, operation="CreateSnapshot", code="Forbidden.RAM")

    summary = failed_run(run, SNAPSHOT_RELEASE)

    entry = by_id(summary)[instance.instance_id]
    assert (entry["outcome"], entry["error_code"]) == ("failed", "Forbidden.RAM")
    alive(ecs_emulator, instance.instance_id)
    assert ecs_emulator.calls_to("DeleteInstances") == []
    assert [c.status for c in ecs_emulator.calls_to("CreateSnapshot")] == [403, 403]
