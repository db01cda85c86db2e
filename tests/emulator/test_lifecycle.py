"""Stop, release, auto-release and deletion protection through the real SDK."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest

from ecs_emulator import EcsEmulator, FakeClock, InstanceView

from .conftest import SdkError

REGION = "cn-hangzhou"


def current(emulator: EcsEmulator, instance_id: str) -> InstanceView:
    view = emulator.instance(instance_id)
    assert view is not None, f"{instance_id} was released"
    return view


def stop_many(client: Any, ids: list[str], **kwargs: Any) -> Any:
    return client.stop_instances(
        ecs.StopInstancesRequest(region_id=REGION, instance_id=ids, **kwargs)
    )


def delete_many(client: Any, ids: list[str], **kwargs: Any) -> Any:
    return client.delete_instances(
        ecs.DeleteInstancesRequest(region_id=REGION, instance_id=ids, **kwargs)
    )


# ----- stopping -----------------------------------------------------------------------------
def test_stop_moves_to_stopping_then_stopped_after_the_delay(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    instance = ecs_emulator.add_instance()
    body = stop_many(client, [instance.instance_id]).body
    result = body.instance_responses.instance_response[0]
    assert (result.code, result.message) == ("200", "success")
    assert (result.previous_status, result.current_status) == ("Running", "Stopping")

    ecs_clock.advance(29)
    assert current(ecs_emulator, instance.instance_id).status == "Stopping"
    ecs_clock.advance(1)
    assert current(ecs_emulator, instance.instance_id).status == "Stopped"


def test_stopped_mode_stop_charging_applies_to_pay_as_you_go_only(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    postpaid = ecs_emulator.add_instance()
    prepaid = ecs_emulator.add_instance(charge_type="PrePaid")
    stop_many(client, [postpaid.instance_id, prepaid.instance_id], stopped_mode="StopCharging")
    assert current(ecs_emulator, postpaid.instance_id).stopped_mode == "StopCharging"
    assert current(ecs_emulator, prepaid.instance_id).stopped_mode == "KeepCharging"


def test_force_stop_can_be_faster(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    ecs_emulator.settings.force_stop_delay = 5
    instance = ecs_emulator.add_instance()
    stop_many(client, [instance.instance_id], force_stop=True)
    ecs_clock.advance(5)
    assert current(ecs_emulator, instance.instance_id).status == "Stopped"


def test_all_together_refuses_the_whole_batch_for_one_bad_instance(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    running = ecs_emulator.add_instance()
    stopped = ecs_emulator.add_instance(status="Stopped")
    error = sdk_error(lambda: stop_many(client, [running.instance_id, stopped.instance_id]))
    assert (error.code, error.status_code) == ("IncorrectInstanceStatus", 403)
    assert current(ecs_emulator, running.instance_id).status == "Running"

    error = sdk_error(lambda: stop_many(client, [running.instance_id, "i-missing"]))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)
    assert current(ecs_emulator, running.instance_id).status == "Running"


def test_success_first_answers_per_instance_with_string_codes(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    running = ecs_emulator.add_instance()
    stopped = ecs_emulator.add_instance(status="Stopped")
    failing = ecs_emulator.add_instance()
    ecs_emulator.fail_instance(
        failing.instance_id, operation="StopInstances", code="InstanceNotReady"
    )

    body = stop_many(
        client,
        [running.instance_id, stopped.instance_id, "i-missing", failing.instance_id],
        batch_optimization="SuccessFirst",
    ).body
    results = {r.instance_id: r for r in body.instance_responses.instance_response}
    assert results[running.instance_id].code == "200"
    assert results[stopped.instance_id].code == "IncorrectInstanceStatus"
    assert results["i-missing"].code == "InvalidInstanceId.NotFound"
    assert results["i-missing"].current_status == ""
    assert results[failing.instance_id].code == "InstanceNotReady"
    assert current(ecs_emulator, running.instance_id).status == "Stopping"
    assert current(ecs_emulator, failing.instance_id).status == "Running"


def test_stop_dry_run_codes(ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError) -> None:
    running = ecs_emulator.add_instance()
    stopped = ecs_emulator.add_instance(status="Stopped")
    error = sdk_error(lambda: stop_many(client, [running.instance_id], dry_run=True))
    assert (error.code, error.status_code) == ("DRYRUN.SUCCESS", 400)
    # With SuccessFirst a dry run always succeeds, even for an instance that cannot stop.
    error = sdk_error(
        lambda: stop_many(
            client, [stopped.instance_id], dry_run=True, batch_optimization="SuccessFirst"
        )
    )
    assert error.code == "DRYRUN.SUCCESS"
    single = ecs.StopInstanceRequest(instance_id=running.instance_id, dry_run=True)
    error = sdk_error(lambda: client.stop_instance(single))
    assert (error.code, error.status_code) == ("DryRunOperation", 400)
    assert current(ecs_emulator, running.instance_id).status == "Running"


def test_stop_instances_limits(client: Any, sdk_error: SdkError) -> None:
    error = sdk_error(lambda: stop_many(client, [f"i-{n}" for n in range(101)]))
    assert (error.code, error.status_code) == ("InvalidParameter.TooManyInstanceIds", 403)


def test_stop_instance_without_region_finds_the_instance_anywhere(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    shanghai = ecs_emulator.add_instance(region="cn-shanghai")
    client.stop_instance(ecs.StopInstanceRequest(instance_id=shanghai.instance_id, force_stop=True))
    assert current(ecs_emulator, shanghai.instance_id).status == "Stopping"
    error = sdk_error(
        lambda: client.stop_instance(ecs.StopInstanceRequest(instance_id=shanghai.instance_id))
    )
    assert (error.code, error.status_code) == ("IncorrectInstanceStatus", 403)
    error = sdk_error(
        lambda: client.stop_instance(ecs.StopInstanceRequest(instance_id="i-missing"))
    )
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)


# ----- releasing ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instance", "request_options", "code"),
    [
        (
            {"status": "Stopped", "deletion_protection": True},
            {},
            "InvalidOperation.DeletionProtection",
        ),
        ({"status": "Stopped", "charge_type": "PrePaid"}, {}, "ChargeTypeViolation"),
        (
            {"status": "Stopped", "charge_type": "PrePaid", "expired": True},
            {},
            "ChargeTypeViolation",
        ),
        ({"status": "Running"}, {}, "IncorrectInstanceStatus"),
        ({"status": "Stopping"}, {}, "IncorrectInstanceStatus"),
        ({"status": "Pending"}, {"force": True}, "IncorrectInstanceStatus.Initializing"),
    ],
)
def test_delete_instances_refusals_are_403_and_release_nothing(  # noqa: PLR0917 - fixtures and params
    ecs_emulator: EcsEmulator,
    client: Any,
    sdk_error: SdkError,
    instance: dict[str, Any],
    request_options: dict[str, Any],
    code: str,
) -> None:
    bad = ecs_emulator.add_instance(**instance)
    good = ecs_emulator.add_instance(status="Stopped")
    error = sdk_error(
        lambda: delete_many(client, [good.instance_id, bad.instance_id], **request_options)
    )
    assert (error.code, error.status_code) == (code, 403)
    assert ecs_emulator.instance(good.instance_id) is not None  # all-or-nothing
    assert ecs_emulator.released_ids == {}


def test_delete_instances_releases_and_the_instances_disappear(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped")
    running = ecs_emulator.add_instance()
    expired = ecs_emulator.add_instance(status="Stopped", charge_type="PrePaid", expired=True)
    delete_many(client, [stopped.instance_id, running.instance_id], force=True)
    delete_many(client, [expired.instance_id], terminate_subscription=True)

    assert ecs_emulator.instances() == []
    released = ecs_emulator.released_ids
    assert set(released) == {stopped.instance_id, running.instance_id, expired.instance_id}
    assert released[stopped.instance_id].cause == "DeleteInstances"
    assert ecs_emulator.disks(stopped.instance_id) == []
    request = ecs.DescribeInstancesRequest(region_id=REGION)
    assert client.describe_instances(request).body.instances.instance == []
    # DeleteInstances names an unknown id in the plural (reference 5.2 and 18).
    error = sdk_error(lambda: delete_many(client, [stopped.instance_id]))
    assert (error.code, error.status_code) == ("InvalidInstanceIds.NotFound", 404)
    assert error.data["Message"] == "The specified InstanceIds does not exist."


def test_delete_instances_dry_run_and_limits(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped")
    error = sdk_error(lambda: delete_many(client, [stopped.instance_id], dry_run=True))
    assert (error.code, error.status_code) == ("DRYRUN.SUCCESS", 400)
    assert ecs_emulator.instance(stopped.instance_id) is not None
    error = sdk_error(lambda: delete_many(client, [f"i-{n}" for n in range(101)]))
    assert (error.code, error.status_code) == ("InvalidParameter.TooManyInstanceIds", 403)


def test_client_token_makes_delete_instances_idempotent(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    first = ecs_emulator.add_instance(status="Stopped")
    second = ecs_emulator.add_instance(status="Stopped")
    delete_many(client, [first.instance_id], client_token="run-1-batch-0")
    # Same token, same parameters: the same answer, and nothing is done again (the instance is
    # already gone, which would otherwise be InvalidInstanceId.NotFound).
    again = delete_many(client, [first.instance_id], client_token="run-1-batch-0")
    assert again.status_code == 200
    assert list(ecs_emulator.released_ids) == [first.instance_id]
    error = sdk_error(
        lambda: delete_many(client, [second.instance_id], client_token="run-1-batch-0")
    )
    assert (error.code, error.status_code) == ("IdempotentParameterMismatch", 403)
    assert ecs_emulator.instance(second.instance_id) is not None


def test_a_failed_call_does_not_use_up_its_client_token(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped", deletion_protection=True)
    sdk_error(lambda: delete_many(client, [instance.instance_id], client_token="t"))
    ecs_emulator.update_instance(instance.instance_id, deletion_protection=False)
    delete_many(client, [instance.instance_id], client_token="t")
    assert instance.instance_id in ecs_emulator.released_ids


def test_delete_instance_single(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    running = ecs_emulator.add_instance(region="cn-shanghai")
    request = ecs.DeleteInstanceRequest(instance_id=running.instance_id)
    error = sdk_error(lambda: client.delete_instance(request))
    assert (error.code, error.status_code) == ("IncorrectInstanceStatus", 403)
    dry = ecs.DeleteInstanceRequest(instance_id=running.instance_id, force=True, dry_run=True)
    assert sdk_error(lambda: client.delete_instance(dry)).code == "DryRunOperation"
    client.delete_instance(ecs.DeleteInstanceRequest(instance_id=running.instance_id, force=True))
    assert ecs_emulator.released_ids[running.instance_id].cause == "DeleteInstance"
    error = sdk_error(lambda: client.delete_instance(request))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)


def test_one_bad_instance_in_a_batch_can_be_isolated(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    good = ecs_emulator.add_instance(status="Stopped")
    bad = ecs_emulator.add_instance(status="Stopped")
    ecs_emulator.fail_instance(
        bad.instance_id,
        operation="DeleteInstances",
        code="DependencyViolation.SLBConfiguring",
        status=400,
    )
    error = sdk_error(lambda: delete_many(client, [good.instance_id, bad.instance_id]))
    assert (error.code, error.status_code) == ("DependencyViolation.SLBConfiguring", 400)
    delete_many(client, [good.instance_id])
    assert sdk_error(lambda: delete_many(client, [bad.instance_id])).status_code == 400
    assert list(ecs_emulator.released_ids) == [good.instance_id]


def test_fail_instance_times_limits_the_failures(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    ecs_emulator.fail_instance(
        instance.instance_id, operation="DeleteInstances", code="InternalError", status=500, times=1
    )
    assert sdk_error(lambda: delete_many(client, [instance.instance_id])).status_code == 500
    delete_many(client, [instance.instance_id])


# ----- auto-release ---------------------------------------------------------------------
def set_auto_release(client: Any, instance_id: str, value: str | None) -> Any:
    request = ecs.ModifyInstanceAutoReleaseTimeRequest(
        region_id=REGION, instance_id=instance_id, auto_release_time=value
    )
    return client.modify_instance_auto_release_time(request)


def test_auto_release_time_drops_seconds_and_reads_back_without_them(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    instance = ecs_emulator.add_instance()
    set_auto_release(client, instance.instance_id, "2026-11-26T08:15:42Z")
    view = ecs_emulator.instance(instance.instance_id)
    assert view is not None
    assert view.auto_release_time == datetime(2026, 11, 26, 8, 15, tzinfo=timezone.utc)
    request = ecs.DescribeInstancesRequest(
        region_id=REGION, instance_ids=f'["{instance.instance_id}"]'
    )
    described = client.describe_instances(request).body.instances.instance[0]
    assert described.auto_release_time == "2026-11-26T08:15Z"


@pytest.mark.parametrize(
    "value",
    [
        "2026-11-26T06:29:00Z",  # less than 30 minutes ahead
        "2029-11-26T06:01:00Z",  # more than 3 years ahead
        "2026-11-27 06:00:00",
        "2026-11-27T06:00:00+08:00",
        "tomorrow",
        "",  # explicit empty value: treated as malformed (see operations/instances.py)
    ],
)
def test_auto_release_time_outside_the_window_or_malformed(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError, value: str
) -> None:
    instance = ecs_emulator.add_instance()
    error = sdk_error(lambda: set_auto_release(client, instance.instance_id, value))
    assert (error.code, error.status_code) == ("InvalidAutoReleaseTime.Malformed", 400)
    assert error.data["Message"] == "The specified paramter autoReleaseTime is not valid."


def test_auto_release_window_edges_are_allowed(ecs_emulator: EcsEmulator, client: Any) -> None:
    instance = ecs_emulator.add_instance()
    set_auto_release(client, instance.instance_id, "2026-11-26T06:30:00Z")
    set_auto_release(client, instance.instance_id, "2029-11-26T06:00:00Z")


def test_omitting_the_time_cancels_auto_release(ecs_emulator: EcsEmulator, client: Any) -> None:
    instance = ecs_emulator.add_instance(
        auto_release_time=datetime(2026, 11, 27, tzinfo=timezone.utc)
    )
    set_auto_release(client, instance.instance_id, None)
    assert ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")[0].params == {
        "InstanceId": instance.instance_id,
        "RegionId": REGION,
    }
    assert current(ecs_emulator, instance.instance_id).auto_release_time is None


def test_auto_release_errors(ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError) -> None:
    prepaid = ecs_emulator.add_instance(charge_type="PrePaid")
    error = sdk_error(lambda: set_auto_release(client, prepaid.instance_id, "2026-11-27T00:00:00Z"))
    assert (error.code, error.status_code) == ("ChargeTypeViolation", 403)
    error = sdk_error(lambda: set_auto_release(client, "i-missing", "2026-11-27T00:00:00Z"))
    assert (error.code, error.status_code) == ("NoSuchResource", 404)


def test_the_emulator_releases_an_instance_when_its_time_comes(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    protected = ecs_emulator.add_instance(deletion_protection=True, tags={"env": "dev"})
    set_auto_release(client, protected.instance_id, "2026-11-26T07:00:00Z")
    ecs_clock.advance(timedelta(minutes=59).total_seconds())
    assert ecs_emulator.instance(protected.instance_id) is not None
    ecs_clock.advance(60)
    # Deletion protection does not block a system release.
    assert ecs_emulator.instance(protected.instance_id) is None
    record = ecs_emulator.released_ids[protected.instance_id]
    assert (record.cause, record.time) == (
        "auto-release",
        datetime(2026, 11, 26, 7, tzinfo=timezone.utc),
    )


def test_a_moved_auto_release_time_replaces_the_old_one(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock, client: Any
) -> None:
    instance = ecs_emulator.add_instance()
    set_auto_release(client, instance.instance_id, "2026-11-26T07:00:00Z")
    set_auto_release(client, instance.instance_id, "2026-11-26T09:00:00Z")
    ecs_clock.advance(2 * 3600)
    assert ecs_emulator.instance(instance.instance_id) is not None
    ecs_clock.advance(3600)
    assert ecs_emulator.instance(instance.instance_id) is None


# ----- deletion protection ----------------------------------------------------------------
def test_deletion_protection_can_be_set_on_pay_as_you_go_only(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    postpaid = ecs_emulator.add_instance(region="cn-shanghai")
    prepaid = ecs_emulator.add_instance(charge_type="PrePaid")
    spot = ecs_emulator.add_instance(spot_strategy="SpotAsPriceGo")

    def protect(instance_id: str, value: bool) -> Any:
        request = ecs.ModifyInstanceAttributeRequest(
            instance_id=instance_id, deletion_protection=value
        )
        return client.modify_instance_attribute(request)

    protect(postpaid.instance_id, True)
    assert current(ecs_emulator, postpaid.instance_id).deletion_protection
    assert (
        ecs_emulator.calls_to("ModifyInstanceAttribute")[0].params["DeletionProtection"] == "True"
    )
    for instance in (prepaid, spot):
        error = sdk_error(lambda i=instance: protect(i.instance_id, True))  # type: ignore[misc]
        assert (error.code, error.status_code) == ("InvalidChargeType.ValueNotSupported", 403)
    error = sdk_error(lambda: protect("i-missing", False))
    assert (error.code, error.status_code) == ("InvalidInstanceId.NotFound", 404)


def test_deletion_protection_set_through_the_api_blocks_release_and_lifting_it_allows_it(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")

    def protect(value: bool) -> None:
        client.modify_instance_attribute(
            ecs.ModifyInstanceAttributeRequest(
                instance_id=instance.instance_id, deletion_protection=value
            )
        )

    def read_back() -> bool:
        request = ecs.DescribeInstancesRequest(
            region_id=REGION, instance_ids=f'["{instance.instance_id}"]'
        )
        return bool(
            client.describe_instances(request).body.instances.instance[0].deletion_protection
        )

    protect(True)
    assert read_back() is True
    error = sdk_error(lambda: delete_many(client, [instance.instance_id]))
    assert (error.code, error.status_code) == ("InvalidOperation.DeletionProtection", 403)
    assert ecs_emulator.instance(instance.instance_id) is not None
    protect(False)
    assert read_back() is False
    delete_many(client, [instance.instance_id])
    assert instance.instance_id in ecs_emulator.released_ids


def test_pending_instances_stay_pending_unless_a_start_delay_is_set(
    ecs_emulator: EcsEmulator, ecs_clock: FakeClock
) -> None:
    stays = ecs_emulator.add_instance(status="Pending")
    ecs_clock.advance(3600)
    assert current(ecs_emulator, stays.instance_id).status == "Pending"
    ecs_emulator.settings.start_delay = 10
    starts = ecs_emulator.add_instance(status="Pending", creation_time=ecs_clock.now())
    ecs_clock.advance(10)
    assert current(ecs_emulator, starts.instance_id).status == "Running"


def test_an_instance_added_while_stopping_reaches_stopped(ecs_emulator: EcsEmulator) -> None:
    view = ecs_emulator.add_instance(status="Stopping")
    ecs_emulator.advance(ecs_emulator.settings.stop_delay - 1)
    assert _current_status(ecs_emulator, view.instance_id) == "Stopping"
    ecs_emulator.advance(1)
    assert _current_status(ecs_emulator, view.instance_id) == "Stopped"


def _current_status(emulator: EcsEmulator, instance_id: str) -> str:
    current = emulator.instance(instance_id)
    assert current is not None
    return current.status
