"""The executor on the in-memory twin of the gateway: batching, splitting, polling, snapshots, the
deadline, in milliseconds. tests/contract keeps the twin honest; the emulator suites show the
real SDK agrees end to end.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from ecs_emulator.clock import FakeClock
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.ecs import DEADLINE_CODE
from ecs_lifecycle.execute import Execution, execute
from ecs_lifecycle.model import Decision, Instance, Outcome
from ecs_lifecycle.planning import Policy, decide_release, decide_stop
from tests.twin import InMemoryGateway

REGION = "cn-hangzhou"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(DEFAULT_START)


@pytest.fixture
def twin(clock: FakeClock) -> InMemoryGateway:
    return InMemoryGateway(clock)


def fleet(twin: InMemoryGateway, count: int, status: str, *, disks: int = 1) -> list[Instance]:
    start = len(twin.boxes)
    return [
        twin.add(
            Instance(
                instance_id=f"i-unit{start + n:08d}",
                region=REGION,
                status=status,
                charge_type="PostPaid",
                deletion_protection=False,
                auto_release_time=None,
                creation_time=DEFAULT_START - timedelta(days=3),
                tags=(("env", "dev"),),
                start_time=DEFAULT_START - timedelta(days=3),
            ),
            disks,
        )
        for n in range(count)
    ]


def run(
    twin: InMemoryGateway,
    clock: FakeClock,
    decisions: list[Decision],
    *,
    policy: Policy | None = None,
    deadline: datetime | None = None,
) -> dict[str, Outcome]:
    chosen = policy or Policy()

    def recheck(instance: Instance, at: datetime) -> Decision:
        return decide_release(instance, chosen, at)

    results = execute(
        decisions,
        Execution(
            gateway=twin,
            clock=clock,
            deadline=deadline or clock.now() + timedelta(minutes=15),
            dry_run=False,
            force_stop=False,
            stopped_mode="StopCharging",
            idempotency_seed="unit",
            recheck=recheck,
            planned_at=clock.now(),
            poll_interval=5.0,
        ),
    )
    assert [r.instance_id for r in results] == [d.instance_id for d in decisions]
    return {result.instance_id: result.outcome for result in results}


def test_stops_go_in_batches_of_100(twin: InMemoryGateway, clock: FakeClock) -> None:
    instances = fleet(twin, 250, "Running")
    decisions = [decide_stop(i, Policy(), clock.now()) for i in instances]
    outcomes = run(twin, clock, decisions)
    assert set(outcomes.values()) == {Outcome.DONE}
    assert sorted(len(ids) for ids in twin.calls_to("StopInstances")) == [50, 100, 100]


def test_a_verdict_on_one_instance_is_isolated_by_splitting(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    instances = fleet(twin, 8, "Stopped")
    twin.fail("DeleteInstances", instances[5].instance_id, "DependencyViolation.SLBConfiguring")
    outcomes = run(twin, clock, [decide_release(i, Policy(), clock.now()) for i in instances])
    assert outcomes.pop(instances[5].instance_id) is Outcome.FAILED
    assert set(outcomes.values()) == {Outcome.DONE}
    # 8 -> 4 + 4 -> 2 + 2 -> 1 + 1: log2 rounds, not one call per instance.
    assert len(twin.calls_to("DeleteInstances")) == 7


def test_a_transient_failure_is_not_split(twin: InMemoryGateway, clock: FakeClock) -> None:
    instances = fleet(twin, 8, "Stopped")
    twin.fail("DeleteInstances", "*", "Throttling.User", status=400)
    outcomes = run(twin, clock, [decide_release(i, Policy(), clock.now()) for i in instances])
    assert set(outcomes.values()) == {Outcome.FAILED}
    assert len(twin.calls_to("DeleteInstances")) == 1


def test_running_instances_are_stopped_polled_and_released(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    instances = fleet(twin, 3, "Running")
    outcomes = run(twin, clock, [decide_release(i, Policy(), clock.now()) for i in instances])
    assert set(outcomes.values()) == {Outcome.DONE}
    assert twin.boxes == {}
    operations = [name for name, _ in twin.calls]
    assert operations.index("StopInstances") < operations.index("DeleteInstances")


def test_snapshots_are_accomplished_before_the_release(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    (instance,) = fleet(twin, 1, "Stopped", disks=2)
    decision = decide_release(instance, Policy(snapshot=True), clock.now())
    assert run(twin, clock, [decision], policy=Policy(snapshot=True)) == {
        instance.instance_id: Outcome.DONE
    }
    assert len(twin.snapshots) == 2
    operations = [name for name, _ in twin.calls]
    assert operations.count("CreateSnapshot") == 2
    assert (
        operations.index("DeleteInstances")
        > max(n for n, name in enumerate(operations) if name == "DescribeSnapshots") - 1
    )


def test_nothing_starts_after_the_deadline(twin: InMemoryGateway, clock: FakeClock) -> None:
    instances = fleet(twin, 3, "Stopped")
    decisions = [decide_release(i, Policy(), clock.now()) for i in instances]
    outcomes = run(twin, clock, decisions, deadline=clock.now())
    assert set(outcomes.values()) == {Outcome.FAILED}
    assert twin.calls_to("DeleteInstances") == []


def test_a_stop_that_never_finishes_ends_at_the_deadline(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    twin.stop_seconds = 3600
    instances = fleet(twin, 2, "Running")
    decisions = [decide_release(i, Policy(), clock.now()) for i in instances]
    deadline = clock.now() + timedelta(minutes=2)
    results = execute(
        decisions,
        Execution(
            gateway=twin,
            clock=clock,
            deadline=deadline,
            dry_run=False,
            force_stop=False,
            stopped_mode="StopCharging",
            idempotency_seed="unit",
            recheck=lambda instance, at: decide_release(instance, Policy(), at),
            planned_at=clock.now(),
        ),
    )
    assert {r.error_code for r in results} == {DEADLINE_CODE}
    assert clock.now() < deadline + timedelta(seconds=10)
    assert twin.calls_to("DeleteInstances") == []
