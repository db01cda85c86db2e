"""Injected faults, as the real SDK sees them."""

from __future__ import annotations

import contextlib
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest
from alibabacloud_tea_openapi.exceptions import (
    ClientException,
    ServerException,
    ThrottlingException,
)
from darabonba.exceptions import UnretryableException
from darabonba.policy.retry import RetryOptions
from Tea.exceptions import TeaException

from ecs_emulator import EcsEmulator, FaultRule, make_sdk_client

from .conftest import SdkError


def list_instances(client: Any) -> Any:
    return client.describe_instances(ecs.DescribeInstancesRequest(region_id="cn-hangzhou"))


def outcomes(client: Any, calls: int) -> list[str]:
    seen = []
    for _ in range(calls):
        try:
            list_instances(client)
            seen.append("ok")
        except TeaException as error:
            seen.append(str(error.code))
    return seen


def test_same_seed_same_faults(ecs_emulator: EcsEmulator, client: Any) -> None:
    rules = [FaultRule(throttle_rate=0.3, unavailable_rate=0.2)]
    ecs_emulator.set_faults(rules, seed=7)
    first = outcomes(client, 30)
    ecs_emulator.set_faults(rules, seed=7)
    assert outcomes(client, 30) == first
    assert {"ok", "Throttling.User", "ServiceUnavailable"} <= set(first)
    ecs_emulator.set_faults(rules, seed=8)
    assert outcomes(client, 30) != first


def test_other_operations_do_not_shift_an_operations_faults(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    ecs_emulator.set_faults([FaultRule(throttle_rate=0.5)], seed=3)
    first = outcomes(client, 20)
    ecs_emulator.set_faults([FaultRule(throttle_rate=0.5)], seed=3)
    interleaved = []
    for _ in range(20):
        interleaved += outcomes(client, 1)
        status = ecs.DescribeInstanceStatusRequest(region_id="cn-hangzhou")
        with contextlib.suppress(TeaException):
            client.describe_instance_status(status)
    assert interleaved == first


def test_counts_of_injected_faults(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.set_faults([FaultRule(throttle_rate=1.0)])
    outcomes(client, 3)
    assert ecs_emulator.fault_counts == {"throttle": 3, "DescribeInstances:throttle": 3}
    assert [c.fault for c in ecs_emulator.calls] == ["throttle"] * 3


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("Throttling", 400),
        ("Throttling.User", 400),
        ("Throttling.Api", 400),
        ("Throttling.Resource", 429),
    ],
)
def test_throttling_codes_and_statuses(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError, code: str, status: int
) -> None:
    ecs_emulator.set_faults([FaultRule(throttle_rate=1.0, throttle_code=code)])
    error = sdk_error(lambda: list_instances(client))
    assert isinstance(error, ClientException)
    assert (error.code, error.status_code) == (code, status)


def test_retry_after_header_makes_the_sdk_raise_throttling_exception(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    ecs_emulator.set_faults([FaultRule(throttle_rate=1.0, retry_after_ms=1500)])
    error = sdk_error(lambda: list_instances(client))
    assert isinstance(error, ThrottlingException)
    assert error.retry_after == 1500


def test_server_errors(ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError) -> None:
    ecs_emulator.set_faults([FaultRule(unavailable_rate=1.0)])
    error = sdk_error(lambda: list_instances(client))
    assert isinstance(error, ServerException)
    assert (error.code, error.status_code) == ("ServiceUnavailable", 503)
    ecs_emulator.set_faults([FaultRule(internal_error_rate=1.0)])
    error = sdk_error(lambda: list_instances(client))
    assert (error.code, error.status_code) == ("InternalError", 500)


def test_a_fault_means_the_call_had_no_effect(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", unavailable_rate=1.0)])
    assert len(list_instances(client).body.instances.instance) == 1  # other operations unaffected
    request = ecs.DeleteInstancesRequest(
        region_id="cn-hangzhou", instance_id=[instance.instance_id]
    )
    sdk_error(lambda: client.delete_instances(request))
    assert ecs_emulator.instance(instance.instance_id) is not None


def test_a_dropped_connection_is_a_network_error_for_the_sdk(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    instance = ecs_emulator.add_instance()
    ecs_emulator.set_faults([FaultRule(drop_rate=1.0)])
    request = ecs.StopInstancesRequest(region_id="cn-hangzhou", instance_id=[instance.instance_id])
    with pytest.raises(UnretryableException) as caught:
        client.stop_instances(request)
    assert caught.value.code is None
    assert "RemoteDisconnected" in repr(caught.value.inner_exception) or "Connection" in repr(
        caught.value.inner_exception
    )
    assert ecs_emulator.instances()[0].status == "Running"
    assert [(c.status, c.fault) for c in ecs_emulator.calls] == [(0, "drop")]
    ecs_emulator.clear_faults()
    client.stop_instances(request)  # the server is fine afterwards


def test_a_drop_after_the_effect_leaves_the_change_applied(
    ecs_emulator: EcsEmulator, client: Any, sdk_error: SdkError
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", drop_after_effect_rate=1.0)])
    request = ecs.DeleteInstancesRequest(
        region_id="cn-hangzhou", instance_id=[instance.instance_id], client_token="tok-1"
    )
    with pytest.raises(UnretryableException):
        client.delete_instances(request)
    assert ecs_emulator.instance(instance.instance_id) is None  # released, though no answer came
    ecs_emulator.clear_faults()
    # A retry with the same ClientToken gets the original success, not NotFound.
    assert client.delete_instances(request).status_code == 200


def test_a_non_json_body_is_unparsable_for_the_sdk(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.set_faults([FaultRule(non_json_rate=1.0)])
    with pytest.raises(UnretryableException) as caught:
        list_instances(client)
    assert caught.value.code is None
    assert ecs_emulator.calls[0].status == 502


def test_latency_is_paid_in_parallel_not_in_series(ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.set_faults([FaultRule(latency=0.1)])
    clients = [make_sdk_client(ecs_emulator) for _ in range(10)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(list_instances, clients))
    elapsed = time.perf_counter() - started
    assert all(r.status_code == 200 for r in results)
    assert 0.1 <= elapsed < 0.6  # ten calls in series would take a full second


def test_fault_rules_are_validated() -> None:
    with pytest.raises(ValueError, match="add up"):
        FaultRule(throttle_rate=0.7, drop_rate=0.4)
    with pytest.raises(ValueError, match="Throttling"):
        FaultRule(throttle_code="Busy")


def test_sdk_retries_get_through_throttling(ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.set_faults([FaultRule(throttle_rate=0.5)], seed=1)
    retry = RetryOptions(
        {
            "retryable": True,
            "retryCondition": [
                {
                    "maxAttempts": 10,
                    "errorCode": ["Throttling.User"],
                    "backoff": {"policy": "Fixed", "period": 1},
                }
            ],
        }
    )
    client = make_sdk_client(ecs_emulator, retry_options=retry)
    for _ in range(5):
        assert list_instances(client).status_code == 200
    assert ecs_emulator.fault_counts.get("throttle", 0) > 0
