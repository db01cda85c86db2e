"""The release function: every rule that keeps the wrong instance alive, against the emulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import BlastRadiusExceededError, RunFailedError
from ecs_lifecycle.model import Function
from tests.support import Runner, by_id, sample

ACT = {"dry_run": False}


def test_release_is_a_dry_run_by_default(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}
    )
    summary = run(Function.RELEASE, {"tags": {"env": "dev"}})
    assert summary["dry_run"] is True
    assert by_id(summary)[instance.instance_id]["outcome"] == "planned"
    assert run.changing_calls() == []
    assert ecs_emulator.instance(instance.instance_id) is not None


def test_releases_stopped_pay_as_you_go_instances(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}
    )
    summary = run(Function.RELEASE, {"tags": {"env": "dev"}, **ACT})
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert ecs_emulator.instance(instance.instance_id) is None
    delete = ecs_emulator.calls_to("DeleteInstances")[0]
    assert delete.params["ClientToken"]
    assert delete.params.get("Force", "False") == "False"


@pytest.mark.parametrize(
    ("kwargs", "reason_part"),
    [
        ({"tags": {"env": "dev", "protected": "true"}}, "protect tag"),
        ({"tags": {"env": "dev"}, "deletion_protection": True}, "deletion protection"),
        ({"tags": {"env": "dev"}, "charge_type": "PrePaid"}, "subscription"),
        ({"tags": {"env": "dev"}, "status": "Pending"}, "while it starts"),
    ],
)
def test_never_releases_what_is_protected(
    run: Runner, ecs_emulator: EcsEmulator, kwargs: dict[str, object], reason_part: str
) -> None:
    options = {"region": "cn-hangzhou", "status": "Stopped", **kwargs}
    kept = ecs_emulator.add_instance(**options)  # type: ignore[arg-type]
    summary = run(Function.RELEASE, {"tags": {"env": "dev"}, **ACT})
    entry = by_id(summary)[kept.instance_id]
    assert entry["outcome"] == "skipped"
    assert reason_part in entry["reason"]
    assert ecs_emulator.instance(kept.instance_id) is not None
    assert run.changing_calls() == []


def test_never_turns_deletion_protection_off(run: Runner, ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}, deletion_protection=True
    )
    run(Function.RELEASE, {"tags": {"env": "dev"}, "force": True, **ACT})
    assert ecs_emulator.calls_to("ModifyInstanceAttribute") == []


def test_running_instances_are_stopped_first_then_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    summary = run(Function.RELEASE, {"tags": {"env": "dev"}, **ACT})
    assert by_id(summary)[instance.instance_id]["outcome"] == "done"
    assert ecs_emulator.instance(instance.instance_id) is None
    operations = [call.operation for call in ecs_emulator.calls]
    assert operations.index("StopInstances") < operations.index("DeleteInstances")
    # The release waited for Stopped: it polled by ids, and the delete did not need Force.
    assert ecs_emulator.calls_to("DeleteInstances")[0].params.get("Force", "False") == "False"


def test_force_releases_running_instances_directly(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "dev"}
    )
    run(Function.RELEASE, {"tags": {"env": "dev"}, "force": True, **ACT})
    assert ecs_emulator.instance(instance.instance_id) is None
    assert ecs_emulator.calls_to("StopInstances") == []
    assert ecs_emulator.calls_to("DeleteInstances")[0].params["Force"] == "True"


def test_nightly_timer_releases_the_dev_fleet(run: Runner, ecs_emulator: EcsEmulator) -> None:
    dev = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
        for _ in range(3)
    ]
    prod = ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "prod"})
    summary = run(Function.RELEASE, sample("timer-nightly-release.json"))
    assert summary["trigger"] == "timer"
    assert summary["counts"]["done"] == 3
    assert all(ecs_emulator.instance(i.instance_id) is None for i in dev)
    assert ecs_emulator.instance(prod.instance_id) is not None


def test_instance_that_disappears_meanwhile_counts_as_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # ECS itself releases it (its auto-release time passes) while the run waits for it to stop.
    ecs_emulator.settings.stop_delay = 300
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(minutes=2),
    )
    summary = run(Function.RELEASE, {"instance_ids": [instance.instance_id], **ACT})
    assert by_id(summary)[instance.instance_id]["outcome"] == "done", by_id(summary)
    assert "gone" in by_id(summary)[instance.instance_id]["reason"]
    assert ecs_emulator.calls_to("DeleteInstances") == []


def test_max_instances_refuses_before_any_release(run: Runner, ecs_emulator: EcsEmulator) -> None:
    for _ in range(3):
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
    with pytest.raises(BlastRadiusExceededError):
        run(Function.RELEASE, {"tags": {"env": "dev"}, "max_instances": 2, **ACT})
    assert run.changing_calls() == []
    assert len(ecs_emulator.instances()) == 3


def test_a_failing_instance_is_isolated_and_the_rest_released(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    good = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
        for _ in range(5)
    ]
    bad = ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
    ecs_emulator.fail_instance(
        bad.instance_id,
        operation="DeleteInstances",
        code="DependencyViolation.SLBConfiguring",
        status=400,
    )
    with pytest.raises(RunFailedError) as failed:
        run(Function.RELEASE, {"tags": {"env": "dev"}, **ACT})
    entries = by_id(dict(failed.value.summary))
    assert entries[bad.instance_id]["error_code"] == "DependencyViolation.SLBConfiguring"
    assert all(ecs_emulator.instance(g.instance_id) is None for g in good)
    assert ecs_emulator.instance(bad.instance_id) is not None


def test_two_regions(run: Runner, ecs_emulator: EcsEmulator) -> None:
    east = ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
    west = ecs_emulator.add_instance(region="cn-shanghai", status="Stopped", tags={"env": "dev"})
    summary = run(
        Function.RELEASE,
        sample("manual-release-dry-run.json"),
        TARGET_REGIONS="cn-hangzhou,cn-shanghai",
    )
    assert {e["region"] for e in summary["instances"]} == {"cn-hangzhou", "cn-shanghai"}
    assert summary["counts"]["planned"] == 2
    assert ecs_emulator.instance(east.instance_id) is not None
    assert ecs_emulator.instance(west.instance_id) is not None
