"""The deadline: a run stops starting work before FC's time limit and reports what it left undone.

FC kills a function at its timeout; work cut off there would be lost without a trace. The run
reads the limit from the context (`function.timeout`), stops before it, reports what is left as
failed with `DeadlineExceeded` (so the invocation fails and FC's retry picks it up), and a later
run finishes the job. The deadline holds at each ECS call too: no attempt starts after it, and no
retry wait that would end past it is slept.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.ecs import DEADLINE_CODE, make_gateway
from ecs_lifecycle.errors import EcsApiError, RunFailedError
from ecs_lifecycle.model import Function
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings import Settings
from tests.support import Runner

from .conftest import changing_calls

EVENT = {"tags": {"env": "dev"}, "dry_run": False}


def test_instances_that_do_not_stop_in_time_are_failed_then_released_by_a_rerun(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.settings.stop_delay = 600  # longer than the function may run
    ids = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
        for _ in range(3)
    ]
    started = ecs_emulator.clock.now()

    with pytest.raises(RunFailedError) as failed:
        run(Function.RELEASE, EVENT, FC_TIMEOUT="60")

    entries = failed.value.summary["instances"]
    assert {e["error_code"] for e in entries} == {"DeadlineExceeded"}
    assert {e["instance_id"] for e in entries} == {i.instance_id for i in ids}
    assert "time limit" in entries[0]["reason"]
    # It gave up before FC's limit, and released nothing it had not seen stop.
    assert (ecs_emulator.clock.now() - started).total_seconds() < 60
    assert ecs_emulator.calls_to("DeleteInstances") == []
    assert all(ecs_emulator.instance(i.instance_id) is not None for i in ids)

    ecs_emulator.advance(600)  # they stop meanwhile; FC retries the invocation
    ecs_emulator.clear_calls()
    summary = run(Function.RELEASE, EVENT, FC_TIMEOUT="60")

    assert summary["counts"] == {"done": 3, "planned": 0, "skipped": 0, "failed": 0}
    assert all(ecs_emulator.instance(i.instance_id) is None for i in ids)
    assert [c.operation for c in changing_calls(ecs_emulator)] == ["DeleteInstances"]


def test_retries_stop_at_the_deadline(run: Runner, ecs_emulator: EcsEmulator) -> None:
    """A call that keeps failing: no attempt after the deadline, and no wait that crosses it."""
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}
    )
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", unavailable_rate=1.0)])
    started = ecs_emulator.clock.now()
    deadline = started + timedelta(seconds=3)  # FC_TIMEOUT 4 s, less a quarter of it

    with pytest.raises(RunFailedError) as failed:
        run(Function.RELEASE, EVENT, FC_TIMEOUT="4")

    # It gave up with the last error ECS gave, not a made-up one.
    entry = failed.value.summary["instances"][0]
    attempts = ecs_emulator.calls_to("DeleteInstances")
    assert entry["error_code"] == "ServiceUnavailable"
    assert entry["request_id"] == attempts[-1].request_id
    assert len(attempts) >= 2
    assert all(attempt.time < deadline for attempt in attempts)
    # The run did not sleep a backoff past its deadline either (FC would have killed it there).
    assert ecs_emulator.clock.now() < deadline
    assert ecs_emulator.instance(instance.instance_id) is not None


def test_throttling_is_retried_only_until_the_deadline(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    """The throttle budget spans two minutes; a run with less time left stops at its deadline."""
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    ecs_emulator.set_faults(
        [FaultRule(operation="StopInstances", throttle_rate=1.0, throttle_code="Throttling")]
    )
    started = ecs_emulator.clock.now()
    deadline = started + timedelta(seconds=45)  # FC_TIMEOUT 60 s, less the 15 s margin

    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, EVENT, FC_TIMEOUT="60", DEADLINE_MARGIN_SECONDS="15")

    assert failed.value.summary["instances"][0]["error_code"] == "Throttling"
    attempts = ecs_emulator.calls_to("StopInstances")
    assert all(attempt.time < deadline for attempt in attempts)
    assert ecs_emulator.clock.now() < deadline
    view = ecs_emulator.instance(instance.instance_id)
    assert view is not None
    assert view.status == "Running"


def test_a_retry_after_longer_than_the_time_left_is_not_waited(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    ecs_emulator.set_faults(
        [FaultRule(operation="StopInstances", throttle_rate=1.0, retry_after_ms=50_000)]
    )
    started = ecs_emulator.clock.now()

    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, EVENT, FC_TIMEOUT="60", DEADLINE_MARGIN_SECONDS="15")

    assert failed.value.summary["instances"][0]["error_code"] == "Throttling.User"
    assert len(ecs_emulator.calls_to("StopInstances")) == 1
    assert (ecs_emulator.clock.now() - started).total_seconds() < 45


def test_no_call_starts_once_the_deadline_has_passed(ecs_emulator: EcsEmulator) -> None:
    """Not even the first attempt: the gateway answers DeadlineExceeded and ECS sees nothing."""
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    runner = Runner(ecs_emulator)
    settings = Settings.from_env(Function.STOP, runner.environ())
    gateway = make_gateway(settings, ecs_emulator.clock, deadline=ecs_emulator.clock.now())

    with pytest.raises(EcsApiError) as refused:
        list(gateway.describe_instances("cn-hangzhou", tags=TagSelector.parse("tags", "env=dev")))

    assert refused.value.code == DEADLINE_CODE
    assert refused.value.operation == "DescribeInstances"
    assert ecs_emulator.calls == []
