"""The stop function against the emulator, through the real SDK."""

from __future__ import annotations

import json

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import (
    BlastRadiusExceededError,
    InvalidInputError,
    RunFailedError,
    SelectorRequiredError,
)
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id, sample


def test_stops_running_instances_that_match_and_skips_the_rest(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    running = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    stopped = ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
    starting = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Starting", tags={"env": "dev"}
    )
    other = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "prod"})

    summary = run(Function.STOP, {"tags": {"env": "dev"}})

    entries = by_id(summary)
    assert entries[running.instance_id]["outcome"] == "done"
    assert entries[stopped.instance_id]["outcome"] == "skipped"
    assert "already stopped" in entries[stopped.instance_id]["reason"]
    assert entries[starting.instance_id]["outcome"] == "skipped"
    assert other.instance_id not in entries
    assert alive(ecs_emulator, running.instance_id).status in ("Stopping", "Stopped")
    assert alive(ecs_emulator, other.instance_id).status == "Running"
    stop_calls = ecs_emulator.calls_to("StopInstances")
    assert len(stop_calls) == 1
    assert stop_calls[0].params["StoppedMode"] == "StopCharging"
    assert stop_calls[0].params["BatchOptimization"] == "SuccessFirst"


def test_stop_batches_100_ids_a_call(run: Runner, ecs_emulator: EcsEmulator) -> None:
    for _ in range(150):
        ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    summary = run(Function.STOP, {"tags": {"env": "dev"}, "max_instances": 200})
    assert summary["counts"]["done"] == 150
    sizes = sorted(
        len([key for key in call.params if key.startswith("InstanceId.")])
        for call in ecs_emulator.calls_to("StopInstances")
    )
    assert sizes == [50, 100]


def test_explicit_ids_and_tags_must_both_hold(run: Runner, ecs_emulator: EcsEmulator) -> None:
    dev = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    prod = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "prod"})
    summary = run(
        Function.STOP, {"instance_ids": [dev.instance_id, prod.instance_id], "tags": {"env": "dev"}}
    )
    assert by_id(summary)[dev.instance_id]["outcome"] == "done"
    assert by_id(summary)[prod.instance_id]["action"] == "none"
    assert alive(ecs_emulator, prod.instance_id).status == "Running"


def test_keep_charging_and_force_are_passed_on(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    run(
        Function.STOP,
        {"instance_ids": [instance.instance_id], "force": True},
        STOPPED_MODE="KeepCharging",
    )
    params = ecs_emulator.calls_to("StopInstances")[0].params
    assert params["StoppedMode"] == "KeepCharging"
    assert params["ForceStop"] == "True"


@pytest.mark.parametrize("event", [{}, b"", sample("timer-empty-payload.json")])
def test_refuses_to_run_without_a_selector(
    run: Runner, ecs_emulator: EcsEmulator, event: object
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    with pytest.raises(SelectorRequiredError):
        run(Function.STOP, event)  # type: ignore[arg-type]
    assert ecs_emulator.calls == []


def test_unknown_option_is_refused_before_any_call(run: Runner, ecs_emulator: EcsEmulator) -> None:
    with pytest.raises(InvalidInputError, match="dryrun"):
        run(Function.STOP, {"tags": {"env": "dev"}, "dryrun": True})
    assert ecs_emulator.calls == []


def test_eventbridge_events_are_refused_by_stop(run: Runner, ecs_emulator: EcsEmulator) -> None:
    with pytest.raises(InvalidInputError, match="only auto-release"):
        run(Function.STOP, sample("eventbridge-ecs-tagresources.json"))
    assert ecs_emulator.calls == []


def test_protected_instances_are_never_stopped(run: Runner, ecs_emulator: EcsEmulator) -> None:
    kept = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev", "protected": "yes"}
    )
    unprotected = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev", "protected": "false"}
    )
    summary = run(Function.STOP, {"tags": {"env": "dev"}})
    assert by_id(summary)[kept.instance_id]["outcome"] == "skipped"
    assert alive(ecs_emulator, kept.instance_id).status == "Running"
    assert alive(ecs_emulator, unprotected.instance_id).status != "Running"


def test_max_instances_stops_the_run_before_any_change(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    for _ in range(4):
        ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    with pytest.raises(BlastRadiusExceededError, match="would change 4 instances"):
        run(Function.STOP, {"tags": {"env": "dev"}, "max_instances": 3})
    assert run.changing_calls() == []
    assert all(instance.status == "Running" for instance in ecs_emulator.instances())


def test_dry_run_makes_no_changing_call(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    summary = run(Function.STOP, {"tags": {"env": "dev"}, "dry_run": True})
    assert by_id(summary)[instance.instance_id]["outcome"] == "planned"
    assert summary["dry_run"] is True
    assert run.changing_calls() == []


def test_one_bad_instance_does_not_stop_the_rest_and_fails_the_run(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    good = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
        for _ in range(3)
    ]
    bad = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    ecs_emulator.fail_instance(
        bad.instance_id, operation="StopInstances", code="InstanceLockedForSecurity", status=403
    )
    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, {"tags": {"env": "dev"}})
    entries = by_id(dict(failed.value.summary))
    assert entries[bad.instance_id]["outcome"] == "failed"
    assert entries[bad.instance_id]["error_code"] == "InstanceLockedForSecurity"
    assert entries[bad.instance_id]["request_id"]
    assert all(alive(ecs_emulator, g.instance_id).status != "Running" for g in good)
    assert "1 instance(s) failed" in str(failed.value)


def test_missing_explicit_ids_are_reported(run: Runner, ecs_emulator: EcsEmulator) -> None:
    summary = run(Function.STOP, {"instance_ids": ["i-doesnotexist01"]})
    assert by_id(summary)["i-doesnotexist01"]["outcome"] == "skipped"
    assert "not found" in by_id(summary)["i-doesnotexist01"]["reason"]


def test_summary_is_json_and_complete(run: Runner, ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    summary = run(Function.STOP, sample("manual-stop-ids.json"))
    json.dumps(summary)
    assert set(summary) >= {"function", "dry_run", "regions", "counts", "instances"}
    assert summary["function"] == "stop"
