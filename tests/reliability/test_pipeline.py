"""Under faults and time: one stuck instance, a throttled batch, a vanished instance, the deadline.

The release is a pipeline per instance with no barrier; a batch is split only on a verdict about
an instance; nothing is split, polled or sent after the deadline; a time is computed as it is sent.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.execute import client_token
from ecs_lifecycle.model import Function
from ecs_lifecycle.planning import earliest_release_time
from tests.support import Runner, alive, by_id

DEV = {"env": "dev"}
RELEASE = {"tags": DEV, "dry_run": False}


def failed_summary(run: Runner, function: Function, event: dict[str, Any], **env: str) -> Any:
    with pytest.raises(RunFailedError) as failure:
        run(function, event, **env)
    return failure.value.summary


def test_one_instance_that_never_stops_holds_no_other_release_back(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    stuck = ecs_emulator.add_instance(status="Running", tags=DEV)
    others = [ecs_emulator.add_instance(status="Running", tags=DEV) for _ in range(2)]
    # Right after the stop, `stuck` hangs in Stopping for good (a stop ECS never finishes).
    ecs_emulator.on_call(
        "StopInstances", lambda: ecs_emulator.update_instance(stuck.instance_id, status="Stopping")
    )
    summary = failed_summary(run, Function.RELEASE, {**RELEASE, "snapshot": True}, FC_TIMEOUT="600")
    entries = by_id(summary)
    for other in others:
        assert entries[other.instance_id]["outcome"] == "done", entries[other.instance_id]
        assert entries[other.instance_id]["snapshot_ids"]
        assert ecs_emulator.instance(other.instance_id) is None
    assert entries[stuck.instance_id]["error_code"] == "DeadlineExceeded"
    assert alive(ecs_emulator, stuck.instance_id)


def test_a_batch_out_of_retries_on_throttling_is_not_split(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ids = {ecs_emulator.add_instance(status="Stopped", tags=DEV).instance_id for _ in range(4)}
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", throttle_rate=1.0)])
    summary = failed_summary(run, Function.RELEASE, RELEASE, FC_TIMEOUT="600")
    assert {e["error_code"] for e in summary["instances"]} == {"Throttling.User"}
    calls = ecs_emulator.calls_to("DeleteInstances")
    assert calls
    # Every attempt names the whole batch: splitting would only multiply calls into the quota.
    assert all(len([k for k in c.params if k.startswith("InstanceId")]) == 4 for c in calls)
    assert all(ecs_emulator.instance(i) is not None for i in ids)


def test_no_batch_is_split_after_the_deadline(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instances = [ecs_emulator.add_instance(status="Stopped", tags=DEV) for _ in range(4)]
    ecs_emulator.fail_instance(
        instances[0].instance_id,
        operation="DeleteInstances",
        code="DependencyViolation.SLBConfiguring",
    )
    # The refused batch comes back after the function's time limit has passed.
    ecs_emulator.on_call("DeleteInstances", lambda: ecs_emulator.advance(3600))
    summary = failed_summary(run, Function.RELEASE, RELEASE, FC_TIMEOUT="600")
    assert summary["counts"]["failed"] == 4
    assert len(ecs_emulator.calls_to("DeleteInstances")) == 1


@pytest.mark.parametrize(
    ("function", "event", "reason"),
    [
        (Function.STOP, {"tags": DEV}, "stopped (it is gone)"),
        (Function.RELEASE, RELEASE, "released (it is gone)"),
    ],
    ids=["stop", "release"],
)
def test_an_instance_gone_before_the_stop_has_reached_the_goal(
    run: Runner, ecs_emulator: EcsEmulator, function: Function, event: dict[str, Any], reason: str
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags=DEV)
    ecs_emulator.on_call(
        "DescribeInstances", lambda: ecs_emulator.release_now(instance.instance_id)
    )
    summary = run(function, event)
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done"
    assert entry["reason"] == reason


def test_a_clamped_time_is_computed_when_the_call_is_sent(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(tags=DEV)
    # Five minutes pass between planning and the call (a busy quota, retries): the minute planned
    # as the earliest allowed is no longer 30 minutes ahead when the call goes out.
    ecs_emulator.on_call("DescribeInstances", lambda: ecs_emulator.advance(300), nth=2)
    summary = run(
        Function.AUTO_RELEASE, {"instance_ids": [instance.instance_id], "release_after": "10m"}
    )
    entry = by_id(summary)[instance.instance_id]
    assert entry["outcome"] == "done", entry
    sent = alive(ecs_emulator, instance.instance_id).auto_release_time
    assert sent == earliest_release_time(ecs_emulator.now())
    assert entry["release_at"] == sent.strftime("%Y-%m-%dT%H:%M:00Z") if sent else False


_VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))


@given(
    st.dictionaries(st.sampled_from(["DiskId", "Tag", "RetentionDays", "Name"]), _VALUES),
    st.sampled_from(["DiskId", "Tag", "RetentionDays", "Name"]),
    _VALUES,
)
def test_a_client_token_covers_every_parameter_sent(
    parameters: dict[str, Any], changed: str, value: Any
) -> None:
    token = client_token("seed", "CreateSnapshot", **parameters)
    assert token == client_token("seed", "CreateSnapshot", **dict(parameters))
    assert len(token) == 64
    assert token.isascii()
    if parameters.get(changed, object()) != value or changed not in parameters:
        other = {**parameters, changed: value}
        if other != parameters:
            assert client_token("seed", "CreateSnapshot", **other) != token
