"""One contract for both gateways: the real one over the emulator, and the in-memory twin.

The executor's fast unit tests (tests/unit/test_apply.py) run on the twin; this suite makes sure
the twin answers as the real gateway does through the SDK: the same records, the same per-instance
codes, the same errors, the same delays. A scenario here that passes on one and not the other is
a twin that lies.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import pytest

from ecs_emulator import EcsEmulator
from ecs_emulator.clock import FakeClock
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.ecs import Gateway, make_gateway
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute import GONE_CODES
from ecs_lifecycle.model import Function, Instance
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings import Settings
from tests.twin import InMemoryGateway

REGION = "cn-hangzhou"
DEV = {"env": "dev"}


class World(Protocol):
    @property
    def gateway(self) -> Gateway: ...

    def add(
        self,
        status: str,
        tags: dict[str, str],
        *,
        deletion_protection: bool = False,
        disks: int = 1,
    ) -> str: ...

    def advance(self, seconds: float) -> None: ...

    def now(self) -> datetime: ...


@dataclass
class EmulatorWorld:
    emulator: EcsEmulator
    gateway: Gateway

    def add(
        self,
        status: str,
        tags: dict[str, str],
        *,
        deletion_protection: bool = False,
        disks: int = 1,
    ) -> str:
        view = self.emulator.add_instance(
            region=REGION,
            status=status,
            tags=tags,
            deletion_protection=deletion_protection,
            disks=disks,
        )
        return view.instance_id

    def advance(self, seconds: float) -> None:
        self.emulator.advance(seconds)

    def now(self) -> datetime:
        return self.emulator.now()


@dataclass
class TwinWorld:
    clock: FakeClock
    gateway: InMemoryGateway

    def add(
        self,
        status: str,
        tags: dict[str, str],
        *,
        deletion_protection: bool = False,
        disks: int = 1,
    ) -> str:
        number = len(self.gateway.boxes) + 1
        instance = Instance(
            instance_id=f"i-twin{number:08d}",
            region=REGION,
            status=status,
            charge_type="PostPaid",
            deletion_protection=deletion_protection,
            auto_release_time=None,
            creation_time=self.clock.now() - timedelta(days=3),
            tags=tuple(tags.items()),
        )
        return self.gateway.add(instance, disks).instance_id

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def now(self) -> datetime:
        return self.clock.now()


@pytest.fixture(params=["emulator", "twin"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "twin":
        clock = FakeClock(DEFAULT_START)
        yield TwinWorld(clock, InMemoryGateway(clock))
        return
    emulator: EcsEmulator = request.getfixturevalue("ecs_emulator")
    environ = {
        "FC_REGION": REGION,
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
    }
    settings = Settings.from_env(Function.STOP, environ)
    yield EmulatorWorld(emulator, make_gateway(settings, emulator.clock))


def ids_of(instances: Any) -> set[str]:
    return {instance.instance_id for instance in instances}


def test_describe_by_ids_and_by_tags(world: World) -> None:
    dev = world.add("Running", DEV)
    prod = world.add("Stopped", {"env": "prod"})
    assert ids_of(world.gateway.describe_instances(REGION, instance_ids=[dev, prod])) == {
        dev,
        prod,
    }
    assert ids_of(world.gateway.describe_instances(REGION, tags=TagSelector.parse("t", DEV))) == {
        dev
    }
    (read,) = world.gateway.describe_instances(REGION, instance_ids=[prod])
    assert read.status == "Stopped"
    assert read.tag("env") == "prod"
    assert read.charge_type == "PostPaid"
    assert list(world.gateway.describe_instances("cn-shanghai", instance_ids=[dev])) == []


def test_stop_answers_per_instance_and_the_stop_finishes_later(world: World) -> None:
    running = world.add("Running", DEV)
    stopped = world.add("Stopped", DEV)
    answers = world.gateway.stop_instances(
        REGION, [running, stopped, "i-bp1nothere000001"], force=False, stopped_mode="StopCharging"
    )
    by_id = {answer.instance_id: answer for answer in answers}
    assert by_id[running].ok
    assert by_id[stopped].code == "IncorrectInstanceStatus"
    assert by_id["i-bp1nothere000001"].code in GONE_CODES
    (stopping,) = world.gateway.describe_instances(REGION, instance_ids=[running])
    assert stopping.status == "Stopping"
    world.advance(60)
    (done,) = world.gateway.describe_instances(REGION, instance_ids=[running])
    assert done.status == "Stopped"


def test_delete_is_all_or_nothing_with_the_real_codes(world: World) -> None:
    stopped = world.add("Stopped", DEV)
    running = world.add("Running", DEV)
    protected = world.add("Stopped", DEV, deletion_protection=True)

    def refused(ids: list[str], *, force: bool = False) -> str:
        with pytest.raises(EcsApiError) as error:
            world.gateway.delete_instances(REGION, ids, force=force, client_token=f"t-{ids}")
        return error.value.code

    assert refused([stopped, running]) == "IncorrectInstanceStatus"
    assert refused([protected]) == "InvalidOperation.DeletionProtection"
    assert refused(["i-bp1nothere000001"]) in GONE_CODES
    assert ids_of(world.gateway.describe_instances(REGION, instance_ids=[stopped])) == {stopped}
    world.gateway.delete_instances(REGION, [stopped], force=False, client_token="t-ok")
    world.gateway.delete_instances(REGION, [running], force=True, client_token="t-force")
    assert list(world.gateway.describe_instances(REGION, instance_ids=[stopped, running])) == []


def test_auto_release_set_cancel_and_the_window(world: World) -> None:
    instance = world.add("Running", DEV)
    wanted = world.now() + timedelta(hours=8, seconds=30)
    sent = world.gateway.modify_auto_release_time(REGION, instance, lambda: wanted)
    assert sent == wanted.replace(second=0, microsecond=0)
    (read,) = world.gateway.describe_instances(REGION, instance_ids=[instance])
    assert read.auto_release_time == sent
    assert world.gateway.modify_auto_release_time(REGION, instance, None) is None
    (read,) = world.gateway.describe_instances(REGION, instance_ids=[instance])
    assert read.auto_release_time is None
    with pytest.raises(EcsApiError) as too_soon:
        world.gateway.modify_auto_release_time(REGION, instance, world.now() + timedelta(minutes=5))
    assert too_soon.value.code == "InvalidAutoReleaseTime.Malformed"
    with pytest.raises(EcsApiError) as gone:
        world.gateway.modify_auto_release_time(REGION, "i-bp1nothere000001", None)
    assert gone.value.code in GONE_CODES


def test_disks_and_snapshots(world: World) -> None:
    instance = world.add("Stopped", DEV, disks=2)
    disks = world.gateway.describe_disks(REGION, instance)
    assert len(disks) == 2
    snapshot_id = world.gateway.create_snapshot(
        REGION,
        disks[0].disk_id,
        name="ecs-lifecycle-contract",
        description="a contract test snapshot",
        tags=[("ecs-lifecycle:instance-id", instance)],
        client_token="t-snapshot",
    )
    (progressing,) = world.gateway.describe_snapshots(REGION, [snapshot_id])
    assert progressing.status == "progressing"
    assert progressing.disk_id == disks[0].disk_id
    world.advance(120)
    (accomplished,) = world.gateway.describe_snapshots(REGION, [snapshot_id])
    assert accomplished.status == "accomplished"
    tagged = world.gateway.describe_tagged_snapshots(REGION, "ecs-lifecycle:instance-id", instance)
    assert [s.snapshot_id for s in tagged] == [snapshot_id]
    assert world.gateway.describe_snapshots(REGION, ["s-bp1nothere000001"]) == []


def test_regions(world: World) -> None:
    assert {"cn-hangzhou", "cn-shanghai", "us-east-1"} <= world.gateway.describe_regions(REGION)
