"""Operation locks (OperationLocks.LockReason) through the real SDK.

What a lock does comes from the security-lock API page (reference 3 and 18, source S18): stopping
and releasing are unaffected, and a release takes even DeleteWithInstance=false disks with it;
starting, modifying attributes or the auto-release time, and snapshotting an attached disk are
refused with InstanceLockedForSecurity. Other locks (financial, ...) are only reported.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import DiskSpec, EcsEmulator, FakeClock

from .conftest import SdkError

REGION = "cn-hangzhou"
KEPT_DATA_DISK = (DiskSpec(disk_type="system"), DiskSpec(delete_with_instance=False))


def locks_of(client: Any, instance_id: str) -> list[tuple[str, str]]:
    request = ecs.DescribeInstancesRequest(region_id=REGION, instance_ids=f'["{instance_id}"]')
    item = client.describe_instances(request).body.instances.instance[0]
    return [(lock.lock_reason, lock.lock_msg) for lock in item.operation_locks.lock_reason]


def test_locks_are_set_by_tests_and_returned_by_describe_instances(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    plain = ecs_emulator.add_instance()
    locked = ecs_emulator.add_instance(lock_reasons=["security", "financial"])
    assert locked.lock_reasons == ("security", "financial")
    assert locks_of(client, plain.instance_id) == []
    assert locks_of(client, locked.instance_id) == [("security", ""), ("financial", "")]

    ecs_emulator.update_instance(plain.instance_id, lock_reasons=["financial"])
    assert locks_of(client, plain.instance_id) == [("financial", "")]
    ecs_emulator.update_instance(locked.instance_id, lock_reasons=[])
    assert locks_of(client, locked.instance_id) == []


def test_unknown_lock_reasons_are_refused_when_set(ecs_emulator: EcsEmulator) -> None:
    with pytest.raises(ValueError, match="unknown lock reason"):
        ecs_emulator.add_instance(lock_reasons=["Security"])
    instance = ecs_emulator.add_instance()
    with pytest.raises(ValueError, match="unknown lock reason"):
        ecs_emulator.update_instance(instance.instance_id, lock_reasons=["frozen"])


def test_describe_instances_filters_by_lock_reason(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    ecs_emulator.add_instance()
    locked = ecs_emulator.add_instance(lock_reasons=["financial"])
    request = ecs.DescribeInstancesRequest(region_id=REGION, lock_reason="financial")
    found = client.describe_instances(request).body.instances.instance
    assert [item.instance_id for item in found] == [locked.instance_id]
    wrong = ecs.DescribeInstancesRequest(region_id=REGION, lock_reason="frozen")
    error = sdk_error(lambda: client.describe_instances(wrong))
    assert (error.code, error.status_code) == ("InvalidLockReason.NotFound", 404)


def test_a_security_locked_instance_can_be_stopped_and_released_with_all_its_disks(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    locked = ecs_emulator.add_instance(lock_reasons=["security"], disks=KEPT_DATA_DISK)
    plain = ecs_emulator.add_instance(disks=KEPT_DATA_DISK)
    ids = [locked.instance_id, plain.instance_id]
    client.stop_instances(ecs.StopInstancesRequest(region_id=REGION, instance_id=ids))
    ecs_clock.advance(ecs_emulator.settings.stop_delay)
    client.delete_instances(ecs.DeleteInstancesRequest(region_id=REGION, instance_id=ids))

    assert set(ecs_emulator.released_ids) == set(ids)
    kept = ecs_emulator.disks()
    # The unlocked instance's DeleteWithInstance=false disk stays (unattached); the locked
    # instance's goes with it.
    assert len(kept) == 1
    assert (kept[0].instance_id, kept[0].delete_with_instance) == ("", False)


@pytest.mark.parametrize(
    "operation",
    ["ModifyInstanceAttribute", "ModifyInstanceAutoReleaseTime", "CreateSnapshot", "StartInstance"],
)
def test_a_security_lock_refuses_changes_other_than_stop_and_release(
    ecs_emulator: EcsEmulator,
    ecs_clock: FakeClock,
    client: Any,
    sdk_error: SdkError,
    operation: str,
) -> None:
    status = "Stopped" if operation == "StartInstance" else "Running"
    instance = ecs_emulator.add_instance(status=status, lock_reasons=["security"])
    instance_id = instance.instance_id
    later = (ecs_clock.now() + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:00Z")
    calls: dict[str, Callable[[], object]] = {
        "ModifyInstanceAttribute": lambda: client.modify_instance_attribute(
            ecs.ModifyInstanceAttributeRequest(instance_id=instance_id, deletion_protection=True)
        ),
        "ModifyInstanceAutoReleaseTime": lambda: client.modify_instance_auto_release_time(
            ecs.ModifyInstanceAutoReleaseTimeRequest(
                region_id=REGION, instance_id=instance_id, auto_release_time=later
            )
        ),
        "CreateSnapshot": lambda: client.create_snapshot(
            ecs.CreateSnapshotRequest(disk_id=ecs_emulator.disks(instance_id)[0].disk_id)
        ),
        "StartInstance": lambda: client.start_instance(
            ecs.StartInstanceRequest(instance_id=instance_id)
        ),
    }
    error = sdk_error(calls[operation])
    assert (error.code, error.status_code) == ("InstanceLockedForSecurity", 403)
    after = ecs_emulator.instance(instance_id)
    assert after is not None
    assert (after.status, after.deletion_protection, after.auto_release_time) == (
        status,
        False,
        None,
    )
    assert ecs_emulator.snapshots(instance_id=instance_id) == []
    # Lifting the lock lets the same call through.
    ecs_emulator.update_instance(instance_id, lock_reasons=[])
    calls[operation]()


def test_a_financial_lock_is_reported_only(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    """The reference does not say what a financial lock refuses, so the emulator refuses nothing."""
    instance = ecs_emulator.add_instance(lock_reasons=["financial"], disks=KEPT_DATA_DISK)
    request = ecs.StopInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    client.stop_instances(request)
    ecs_clock.advance(ecs_emulator.settings.stop_delay)
    client.delete_instances(
        ecs.DeleteInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    )
    assert instance.instance_id in ecs_emulator.released_ids
    assert [disk.delete_with_instance for disk in ecs_emulator.disks()] == [False]
