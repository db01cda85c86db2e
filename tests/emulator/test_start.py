"""StartInstance / StartInstances through the real SDK: Stopped -> Starting -> Running."""

from __future__ import annotations

from typing import Any

import alibabacloud_ecs20140526.models as ecs

from ecs_emulator import EcsEmulator, FakeClock, InstanceView

from .conftest import SdkError

REGION = "cn-hangzhou"


def current(emulator: EcsEmulator, instance_id: str) -> InstanceView:
    view = emulator.instance(instance_id)
    assert view is not None, f"{instance_id} was released"
    return view


def start_many(client: Any, ids: list[str], **kwargs: Any) -> Any:
    return client.start_instances(
        ecs.StartInstancesRequest(region_id=REGION, instance_id=ids, **kwargs)
    )


def described(client: Any, instance_id: str) -> Any:
    request = ecs.DescribeInstancesRequest(region_id=REGION, instance_ids=f'["{instance_id}"]')
    return client.describe_instances(request).body.instances.instance[0]


def test_start_instances_goes_starting_then_running_and_moves_start_time(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    ecs_emulator.settings.start_delay = 20
    instance = ecs_emulator.add_instance(status="Stopped")
    before = described(client, instance.instance_id)
    assert before.stopped_mode == "KeepCharging"
    ecs_clock.advance(3600)

    body = start_many(client, [instance.instance_id]).body
    result = body.instance_responses.instance_response[0]
    assert (result.code, result.message) == ("200", "success")
    assert (result.previous_status, result.current_status) == ("Stopped", "Starting")
    assert described(client, instance.instance_id).status == "Starting"

    ecs_clock.advance(19)
    assert current(ecs_emulator, instance.instance_id).status == "Starting"
    ecs_clock.advance(1)
    after = described(client, instance.instance_id)
    assert after.status == "Running"
    assert after.stopped_mode == "Not-applicable"
    assert after.start_time == ecs_clock.now().strftime("%Y-%m-%dT%H:%MZ")
    assert after.start_time != before.start_time
    assert current(ecs_emulator, instance.instance_id).start_time == ecs_clock.now()


def test_without_a_start_delay_a_started_instance_is_running_at_once(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    result = start_many(client, [instance.instance_id]).body.instance_responses.instance_response[0]
    assert result.current_status == "Running"
    assert current(ecs_emulator, instance.instance_id).status == "Running"


def test_a_restart_while_someone_waits_for_stopped(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    """Stop, reach Stopped, start again: a poller that looks late sees Starting or Running."""
    ecs_emulator.settings.start_delay = 10
    instance = ecs_emulator.add_instance()
    client.stop_instances(
        ecs.StopInstancesRequest(region_id=REGION, instance_id=[instance.instance_id])
    )
    ecs_clock.advance(ecs_emulator.settings.stop_delay)
    assert current(ecs_emulator, instance.instance_id).status == "Stopped"
    client.start_instance(ecs.StartInstanceRequest(instance_id=instance.instance_id))
    assert current(ecs_emulator, instance.instance_id).status == "Starting"
    ecs_clock.advance(10)
    assert current(ecs_emulator, instance.instance_id).status == "Running"


def test_all_together_starts_nothing_when_one_instance_is_not_stopped(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped")
    running = ecs_emulator.add_instance()
    error = sdk_error(lambda: start_many(client, [stopped.instance_id, running.instance_id]))
    assert (error.code, error.status_code) == ("IncorrectInstanceStatus", 403)
    assert current(ecs_emulator, stopped.instance_id).status == "Stopped"
    error = sdk_error(lambda: start_many(client, [stopped.instance_id, "i-missing"]))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)


def test_success_first_answers_per_instance(ecs_emulator: EcsEmulator, client: Any) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped")
    running = ecs_emulator.add_instance()
    locked = ecs_emulator.add_instance(status="Stopped", lock_reasons=["security"])
    ids = [stopped.instance_id, running.instance_id, locked.instance_id, "i-missing"]
    body = start_many(client, ids, batch_optimization="SuccessFirst").body
    results = {r.instance_id: r for r in body.instance_responses.instance_response}
    assert results[stopped.instance_id].code == "200"
    assert results[running.instance_id].code == "IncorrectInstanceStatus"
    assert results[locked.instance_id].code == "InstanceLockedForSecurity"
    assert results["i-missing"].code == "InvalidInstanceId.NotFound"
    assert current(ecs_emulator, stopped.instance_id).status == "Running"
    assert current(ecs_emulator, locked.instance_id).status == "Stopped"


def test_start_dry_runs_and_limits(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped")
    error = sdk_error(lambda: start_many(client, [stopped.instance_id], dry_run=True))
    assert (error.code, error.status_code) == ("DRYRUN.SUCCESS", 400)
    running = ecs_emulator.add_instance()
    # With SuccessFirst a dry run answers DRYRUN.SUCCESS whatever the check finds.
    error = sdk_error(
        lambda: start_many(
            client, [running.instance_id], dry_run=True, batch_optimization="SuccessFirst"
        )
    )
    assert error.code == "DRYRUN.SUCCESS"
    single = ecs.StartInstanceRequest(instance_id=stopped.instance_id, dry_run=True)
    assert sdk_error(lambda: client.start_instance(single)).code == "DryRunOperation"
    assert current(ecs_emulator, stopped.instance_id).status == "Stopped"
    error = sdk_error(lambda: start_many(client, [f"i-{n}" for n in range(101)]))
    assert (error.code, error.status_code) == ("InvalidParameter.TooManyInstanceIds", 403)


def test_start_instance_single_refusals(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    running = ecs_emulator.add_instance()
    locked = ecs_emulator.add_instance(status="Stopped", lock_reasons=["security"])

    def start(instance_id: str) -> Any:
        return client.start_instance(ecs.StartInstanceRequest(instance_id=instance_id))

    error = sdk_error(lambda: start(running.instance_id))
    assert (error.code, error.status_code) == ("IncorrectInstanceStatus", 403)
    error = sdk_error(lambda: start(locked.instance_id))
    assert (error.code, error.status_code) == ("InstanceLockedForSecurity", 403)
    error = sdk_error(lambda: start("i-missing"))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)
