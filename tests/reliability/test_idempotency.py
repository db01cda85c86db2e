"""Idempotency: the same event twice, a lost answer, a retried invocation.

FC retries failed async invocations and EventBridge may deliver an event twice, so every run
must be safe to repeat: the second run ends in the same state and makes no changing call for
work already done, and DeleteInstances carries a ClientToken that is the same when the same
event is retried (ECS answers a repeated token with the first answer and does nothing again).
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_emulator.faults import FaultKind
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.model import Function
from tests.support import Runner

from .conftest import changing_calls, fleet_state, seed_for

RELEASE_AT = "2026-12-24T18:00:00Z"


def _dev_fleet(emulator: EcsEmulator) -> list[str]:
    """A small mixed fleet in two regions; only some of it is ever acted on."""
    ids = []
    for region in ("cn-hangzhou", "cn-shanghai"):
        # No "Stopping" instance here: one added as Stopping never reaches Stopped in the emulator.
        for status in ("Running", "Running", "Stopped"):
            ids.append(
                emulator.add_instance(region=region, status=status, tags={"env": "dev"}).instance_id
            )
        ids.append(
            emulator.add_instance(
                region=region, status="Stopped", tags={"env": "dev", "protected": "true"}
            ).instance_id
        )
        ids.append(
            emulator.add_instance(
                region=region, status="Running", tags={"env": "dev"}, charge_type="PrePaid"
            ).instance_id
        )
        ids.append(
            emulator.add_instance(
                region=region,
                status="Running",
                tags={"env": "dev", "auto-release": "3d"},
            ).instance_id
        )
    return ids


TWO_REGIONS = "cn-hangzhou,cn-shanghai"
EVENTS: dict[str, tuple[Function, dict[str, Any]]] = {
    "stop": (Function.STOP, {"tags": {"env": "dev"}, "regions": TWO_REGIONS}),
    "release": (
        Function.RELEASE,
        {"tags": {"env": "dev"}, "regions": TWO_REGIONS, "dry_run": False},
    ),
    "set auto-release": (
        Function.AUTO_RELEASE,
        {"tags": {"env": "dev"}, "regions": TWO_REGIONS, "release_at": RELEASE_AT},
    ),
    "auto-release from tags (timer)": (
        Function.AUTO_RELEASE,
        {
            "triggerTime": "2026-11-26T06:00:00Z",
            "triggerName": "reconcile",
            "payload": json.dumps({"regions": TWO_REGIONS}),
        },
    ),
}


@pytest.mark.parametrize("name", list(EVENTS))
def test_the_same_event_twice_changes_nothing_the_second_time(
    run: Runner, ecs_emulator: EcsEmulator, name: str
) -> None:
    function, event = EVENTS[name]
    ids = _dev_fleet(ecs_emulator)
    run = replace(run, env={**run.env, "TARGET_REGIONS": TWO_REGIONS})
    first = run(function, event)
    assert first["counts"]["done"] > 0
    ecs_emulator.advance(60)  # let every stop finish, as it would between two deliveries
    after_first = fleet_state(ecs_emulator, ids)
    ecs_emulator.clear_calls()

    second = run(function, event)

    assert [call.operation for call in changing_calls(ecs_emulator)] == []
    assert second["counts"]["done"] == 0
    assert second["counts"]["failed"] == 0
    assert fleet_state(ecs_emulator, ids) == after_first


def test_cancel_twice_changes_nothing_the_second_time(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ids = _dev_fleet(ecs_emulator)
    run(Function.AUTO_RELEASE, {"tags": {"env": "dev"}, "release_at": RELEASE_AT})
    event = {"tags": {"env": "dev"}, "cancel": True}
    run(Function.AUTO_RELEASE, event)
    after_first = fleet_state(ecs_emulator, ids)
    ecs_emulator.clear_calls()

    run(Function.AUTO_RELEASE, event)

    assert changing_calls(ecs_emulator) == []
    assert fleet_state(ecs_emulator, ids) == after_first


# --- the answer is lost after ECS acted ---------------------------------------------------------


LOST = {
    "StopInstances": (Function.STOP, "Running"),
    "DeleteInstances": (Function.RELEASE, "Stopped"),
    "ModifyInstanceAutoReleaseTime": (Function.AUTO_RELEASE, "Running"),
}


@pytest.mark.parametrize("operation", list(LOST))
def test_a_lost_answer_is_retried_harmlessly(
    run: Runner, ecs_emulator: EcsEmulator, operation: str
) -> None:
    function, status = LOST[operation]
    ids = [
        ecs_emulator.add_instance(region="cn-hangzhou", status=status, tags={"env": "dev"})
        for _ in range(3)
    ]
    rule = FaultRule(operation=operation, drop_after_effect_rate=0.5)
    lost = FaultKind.DROP_AFTER_EFFECT
    ecs_emulator.set_faults([rule], seed=seed_for(rule, operation, [lost, None, None, None]))
    event: dict[str, Any] = {"tags": {"env": "dev"}, "dry_run": False}
    if function is Function.AUTO_RELEASE:
        event = {"tags": {"env": "dev"}, "release_at": RELEASE_AT}

    summary = run(function, event)

    assert ecs_emulator.fault_counts[f"{operation}:{lost.value}"] == 1
    assert summary["counts"]["failed"] == 0, summary
    assert summary["counts"]["done"] == 3
    calls = ecs_emulator.calls_to(operation)
    if operation == "DeleteInstances":
        # The retry carried the lost call's token; ECS answered it without acting again.
        assert len(calls) == 2
        assert calls[0].params["ClientToken"] == calls[1].params["ClientToken"]
        assert len(ecs_emulator.released_ids) == 3
    for instance in ids:
        view = ecs_emulator.instance(instance.instance_id)
        if function is Function.RELEASE:
            assert view is None
        elif function is Function.STOP:
            assert view is not None
            assert view.status in ("Stopping", "Stopped")
        else:
            assert view is not None
            assert view.auto_release_time is not None


def test_every_answer_lost_then_the_retried_invocation_finds_nothing_to_do(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    """ECS released them but no answer came back: the invocation fails; FC's retry is a no-op."""
    ids = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
        for _ in range(4)
    ]
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", drop_after_effect_rate=1.0)])
    event = {"instance_ids": [i.instance_id for i in ids], "dry_run": False}

    try:
        run(Function.RELEASE, event)
    except RunFailedError as failure:  # it may also learn the truth while splitting the batch
        assert all(e["error_code"] == "NetworkError" for e in failure.summary["instances"])
    assert all(ecs_emulator.instance(i.instance_id) is None for i in ids)
    ecs_emulator.clear_faults()
    ecs_emulator.clear_calls()

    again = run(Function.RELEASE, event)

    assert changing_calls(ecs_emulator) == []
    assert again["counts"]["failed"] == 0


def test_client_token_is_the_same_when_the_same_event_is_retried(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ids = [
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
        for _ in range(3)
    ]
    event = json.dumps({"instance_ids": [i.instance_id for i in ids], "dry_run": False})
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", unavailable_rate=1.0)])
    with pytest.raises(RunFailedError):
        run(Function.RELEASE, event)
    first_token = ecs_emulator.calls_to("DeleteInstances")[0].params["ClientToken"]
    assert all(ecs_emulator.instance(i.instance_id) is not None for i in ids)
    ecs_emulator.clear_faults()
    ecs_emulator.clear_calls()

    run(Function.RELEASE, event)  # FC retries the invocation with the same event

    (delete,) = ecs_emulator.calls_to("DeleteInstances")
    assert delete.params["ClientToken"] == first_token
    assert len(first_token) <= 64
    assert first_token.isascii()
    assert all(ecs_emulator.instance(i.instance_id) is None for i in ids)


def test_another_event_gets_another_client_token(run: Runner, ecs_emulator: EcsEmulator) -> None:
    """Tomorrow night's timer must not be answered with tonight's stored result."""
    tokens = []
    for night in ("2026-11-26T02:00:00Z", "2026-11-27T02:00:00Z"):
        ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})
        payload = json.dumps({"tags": {"env": "dev"}, "dry_run": False})
        run(
            Function.RELEASE,
            {"triggerTime": night, "triggerName": "nightly", "payload": payload},
        )
        tokens.append(ecs_emulator.calls_to("DeleteInstances")[-1].params["ClientToken"])
    assert tokens[0] != tokens[1]
    assert ecs_emulator.instances() == []
