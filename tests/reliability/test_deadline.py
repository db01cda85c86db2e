"""The deadline: a run stops starting work before FC's time limit and reports what it left undone.

FC kills a function at its timeout; work cut off there would be lost without a trace. The run
reads the limit from the context (`function.timeout`), stops before it, reports what is left as
failed with `DeadlineExceeded` (so the invocation fails and FC's retry picks it up), and a later
run finishes the job.
"""

from __future__ import annotations

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.model import Function
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
    """A call that keeps failing is not retried past the function's time limit."""
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}
    )
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", unavailable_rate=1.0)])
    started = ecs_emulator.clock.now()

    with pytest.raises(RunFailedError) as failed:
        run(Function.RELEASE, EVENT, FC_TIMEOUT="4")  # deadline: 3 s in

    assert failed.value.summary["instances"][0]["error_code"] == "ServiceUnavailable"
    attempts = ecs_emulator.calls_to("DeleteInstances")
    # No attempt started after the deadline (at most one backoff wait past it to notice).
    assert all((a.time - started).total_seconds() < 3 + 10 for a in attempts)
    assert (attempts[-2].time - started).total_seconds() < 3
    assert ecs_emulator.instance(instance.instance_id) is not None
