"""The executor on the in-memory twin of the gateway: batching, splitting, polling, snapshots, the
deadline, in milliseconds. tests/contract keeps the twin honest; the emulator suites show the
real SDK agrees end to end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from ecs_emulator.clock import FakeClock
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.ecs import DEADLINE_CODE, INTERRUPTED_CODE
from ecs_lifecycle.execute import Execution, execute
from ecs_lifecycle.model import (
    CancelRelease,
    Decision,
    Instance,
    InstanceResult,
    Outcome,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.planning import Policy, decide_auto_release, decide_release, decide_stop
from ecs_lifecycle.progress import ReleaseProgress
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


# ----- each room of the executor (ecs_lifecycle.execute) on the twin ----------------------------
PROTECTED = (("env", "dev"), ("protected", "true"))


def execution(
    twin: InMemoryGateway,
    clock: FakeClock,
    recheck: Callable[[Instance, datetime], Decision],
    **options: Any,
) -> Execution:
    settings: dict[str, Any] = {
        "gateway": twin,
        "clock": clock,
        "deadline": clock.now() + timedelta(minutes=15),
        "dry_run": False,
        "force_stop": False,
        "stopped_mode": "StopCharging",
        "idempotency_seed": "unit",
        "recheck": recheck,
        "planned_at": clock.now(),
        "poll_interval": 5.0,
    }
    return Execution(**(settings | options))


def release_recheck(instance: Instance, at: datetime) -> Decision:
    return decide_release(instance, Policy(), at)


def test_auto_release_times_are_set_and_cancelled_one_call_each(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    to_set, to_cancel = fleet(twin, 2, "Running")
    set_at = clock.now() + timedelta(hours=2)
    twin.update(to_cancel.instance_id, auto_release_time=set_at)
    schedules: dict[str, Schedule] = {
        to_set.instance_id: ReleaseAt(set_at),
        to_cancel.instance_id: CancelRelease(),
    }

    def recheck(instance: Instance, at: datetime) -> Decision:
        return decide_auto_release(instance, schedules[instance.instance_id], Policy(), at)

    decisions = [
        recheck(to_set, clock.now()),
        recheck(replace(to_cancel, auto_release_time=set_at), clock.now()),
    ]
    results = execute(decisions, execution(twin, clock, recheck))
    assert [r.outcome for r in results] == [Outcome.DONE, Outcome.DONE]
    assert [r.release_at for r in results] == [set_at, None]
    assert twin.boxes[to_set.instance_id].instance.auto_release_time == set_at
    assert twin.boxes[to_cancel.instance_id].instance.auto_release_time is None
    # One re-read of the chunk first, then one call per instance (the API has no batch form).
    operations = [name for name, _ in twin.calls]
    assert operations == ["DescribeInstances"] + ["ModifyInstanceAutoReleaseTime"] * 2


def test_an_auto_release_time_is_not_set_on_an_instance_protected_since_the_read(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    (instance,) = fleet(twin, 1, "Running")
    schedule = ReleaseAt(clock.now() + timedelta(hours=2))

    def recheck(fresh: Instance, at: datetime) -> Decision:
        return decide_auto_release(fresh, schedule, Policy(), at)

    decision = recheck(instance, clock.now())
    twin.update(instance.instance_id, tags=PROTECTED)
    (result,) = execute([decision], execution(twin, clock, recheck))
    assert result.outcome is Outcome.SKIPPED
    assert "changed since the run read it" in result.reason
    assert twin.calls_to("ModifyInstanceAutoReleaseTime") == []


def test_a_stop_batch_read_long_ago_is_read_again_and_keeps_what_gained_a_keep_signal(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    kept, stopped = fleet(twin, 2, "Running")
    decisions = [decide_stop(i, Policy(), clock.now()) for i in (kept, stopped)]
    twin.update(kept.instance_id, tags=PROTECTED)
    clock.advance(60)  # longer than STALE_READ since the run read and planned
    results = execute(
        decisions,
        execution(
            twin,
            clock,
            lambda instance, at: decide_stop(instance, Policy(), at),
            planned_at=clock.now() - timedelta(seconds=60),
        ),
    )
    assert [r.outcome for r in results] == [Outcome.SKIPPED, Outcome.DONE]
    assert twin.calls_to("StopInstances") == [(stopped.instance_id,)]


def test_a_stop_refused_because_it_is_already_stopped_has_reached_the_goal(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    (instance,) = fleet(twin, 1, "Running")
    decision = decide_stop(instance, Policy(), clock.now())
    twin.update(instance.instance_id, status="Stopped")  # stopped by someone else meanwhile
    (result,) = execute(
        [decision], execution(twin, clock, lambda i, at: decide_stop(i, Policy(), at))
    )
    assert result.outcome is Outcome.DONE
    assert "it was already Stopped" in result.reason


def test_each_result_is_reported_once_and_the_pipeline_reports_its_progress(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    instances = fleet(twin, 3, "Running")
    reported: list[InstanceResult] = []
    progress: list[ReleaseProgress] = []
    results = execute(
        [decide_release(i, Policy(), clock.now()) for i in instances],
        execution(
            twin,
            clock,
            release_recheck,
            on_result=reported.append,
            on_progress=progress.append,
            progress_every=0.0,
        ),
    )
    assert sorted(r.instance_id for r in reported) == sorted(i.instance_id for i in instances)
    assert {r.outcome for r in results} == {Outcome.DONE}
    assert progress
    assert [p.at for p in progress] == sorted(p.at for p in progress)
    assert progress[0].stopping == 3
    assert (progress[-1].instances, progress[-1].released, progress[-1].stopping) == (3, 3, 0)


def test_an_instance_started_again_while_it_was_stopping_is_kept(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    (instance,) = fleet(twin, 1, "Running")

    def someone_starts_it(_: ReleaseProgress) -> None:
        # After the first polling round: someone starts it again in the console.
        if twin.boxes[instance.instance_id].instance.status == "Stopping":
            twin.update(instance.instance_id, status="Running")

    (result,) = execute(
        [decide_release(instance, Policy(), clock.now())],
        execution(twin, clock, release_recheck, on_progress=someone_starts_it, progress_every=0.0),
    )
    assert result.outcome is Outcome.SKIPPED
    assert "someone started it while it was being stopped" in result.reason
    assert twin.calls_to("DeleteInstances") == []


def test_a_dry_run_names_the_disks_it_would_snapshot_and_changes_nothing(
    twin: InMemoryGateway, clock: FakeClock
) -> None:
    (instance,) = fleet(twin, 1, "Stopped", disks=2)
    policy = Policy(snapshot=True)
    (result,) = execute(
        [decide_release(instance, policy, clock.now())],
        execution(twin, clock, lambda i, at: decide_release(i, policy, at), dry_run=True),
    )
    assert result.outcome is Outcome.PLANNED
    for disk_id in twin.boxes[instance.instance_id].disks:
        assert disk_id in result.reason
    assert {name for name, _ in twin.calls} == {"DescribeDisks"}


def test_nothing_starts_once_a_stop_is_requested(twin: InMemoryGateway, clock: FakeClock) -> None:
    instances = fleet(twin, 2, "Stopped") + fleet(twin, 1, "Running")
    decisions = [decide_release(i, Policy(), clock.now()) for i in instances[:2]]
    decisions.append(decide_stop(instances[2], Policy(), clock.now()))
    results = execute(
        decisions, execution(twin, clock, release_recheck, stop_requested=lambda: True)
    )
    assert {r.error_code for r in results} == {INTERRUPTED_CODE}
    assert {name for name, _ in twin.calls} <= {"DescribeInstances"}  # no call changes a thing
