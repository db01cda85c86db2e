"""What the gateway reads from DescribeInstances into an Instance, through the real SDK."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ecs_emulator import make_sdk_client
from ecs_lifecycle.ecs import EcsGateway

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator

REGION: Final = "cn-hangzhou"


def test_operation_locks_are_read_into_lock_reasons(ecs_emulator: EcsEmulator) -> None:
    plain = ecs_emulator.add_instance()
    locked = ecs_emulator.add_instance(lock_reasons=["security", "financial"])
    gateway = EcsGateway(
        lambda region: make_sdk_client(ecs_emulator, region), clock=ecs_emulator.clock
    )

    read = {
        instance.instance_id: instance
        for instance in gateway.describe_instances(
            REGION, instance_ids=[plain.instance_id, locked.instance_id]
        )
    }

    assert read[plain.instance_id].lock_reasons == ()
    assert read[locked.instance_id].lock_reasons == ("security", "financial")
