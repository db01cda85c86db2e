"""Retries: what is retried (and how long we wait), what is never retried.

Throttling has its own budget: ECS counts its quota per API, region, account and minute, so a
throttled call is retried through the rest of that minute and the whole next one. The emulator
models a spent quota as a throttling rule with `until` (its own clock).

The gateway retries with tenacity; the SDK's own retry is off (tea-openapi 0.4.x has none unless
`retry_options` is set, and we never set it), so the emulator sees exactly one request per
attempt. The gateway sleeps through the run's clock: here the emulator's FakeClock, wrapped to
record each sleep, so nothing really waits and every wait can be checked.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_emulator.faults import FaultKind
from ecs_lifecycle.ecs import RetryPolicy
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.model import Function
from ecs_lifecycle.timeparse import floor_to_minute
from tests.support import Runner

from .conftest import RecordingClock, fake_clock, seed_for

POLICY = RetryPolicy()


def _fleet_for(emulator: EcsEmulator, function: Function) -> str:
    status = "Stopped" if function is Function.RELEASE else "Running"
    return emulator.add_instance(
        region="cn-hangzhou", status=status, tags={"env": "dev"}
    ).instance_id


def _event(function: Function, instance_id: str) -> dict[str, Any]:
    if function is Function.RELEASE:
        return {"instance_ids": [instance_id], "dry_run": False}
    if function is Function.AUTO_RELEASE:
        return {"instance_ids": [instance_id], "release_at": "2026-12-24T18:00:00Z"}
    return {"instance_ids": [instance_id]}


def _done(emulator: EcsEmulator, function: Function, instance_id: str) -> bool:
    view = emulator.instance(instance_id)
    if function is Function.RELEASE:
        return view is None
    assert view is not None
    if function is Function.AUTO_RELEASE:
        return view.auto_release_time is not None
    return view.status in ("Stopping", "Stopped")


OPERATIONS = [
    ("DescribeInstances", Function.STOP),
    ("StopInstances", Function.STOP),
    ("DeleteInstances", Function.RELEASE),
    ("ModifyInstanceAutoReleaseTime", Function.AUTO_RELEASE),
]
TRANSIENT = {
    "Throttling": FaultRule(throttle_rate=0.5, throttle_code="Throttling"),
    "Throttling.User": FaultRule(throttle_rate=0.5, throttle_code="Throttling.User"),
    "Throttling.Api": FaultRule(throttle_rate=0.5, throttle_code="Throttling.Api"),
    "Throttling.Resource (429)": FaultRule(throttle_rate=0.5, throttle_code="Throttling.Resource"),
    "Throttling as 429": FaultRule(
        throttle_rate=0.5, throttle_code="Throttling", throttle_status=429
    ),
    "503 ServiceUnavailable": FaultRule(unavailable_rate=0.5),
    "500 InternalError": FaultRule(internal_error_rate=0.5),
    "dropped connection": FaultRule(drop_rate=0.5),
    "502 HTML page (not JSON)": FaultRule(non_json_rate=0.5),
}
_KIND = {
    "503 ServiceUnavailable": FaultKind.UNAVAILABLE,
    "500 InternalError": FaultKind.INTERNAL_ERROR,
    "dropped connection": FaultKind.DROP,
    "502 HTML page (not JSON)": FaultKind.NON_JSON,
}


@pytest.mark.parametrize(("operation", "function"), OPERATIONS)
@pytest.mark.parametrize("fault", list(TRANSIENT))
def test_transient_failures_are_retried_and_the_run_finishes(
    run: Runner, ecs_emulator: EcsEmulator, operation: str, function: Function, fault: str
) -> None:
    instance_id = _fleet_for(ecs_emulator, function)
    template = TRANSIENT[fault]
    rule = FaultRule(**{**template.__dict__, "operation": operation})
    kind = _KIND.get(fault, FaultKind.THROTTLE)
    # Two faulted attempts, then an answer.
    ecs_emulator.set_faults([rule], seed=seed_for(rule, operation, [kind, kind, None]))

    summary = run(function, _event(function, instance_id))

    assert summary["counts"]["failed"] == 0
    assert _done(ecs_emulator, function, instance_id)
    assert ecs_emulator.fault_counts[f"{operation}:{kind.value}"] == 2
    attempts = ecs_emulator.calls_to(operation)
    assert [call.fault for call in attempts[:3]] == [kind.value, kind.value, None]


def test_retry_after_header_sets_the_wait(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    rule = FaultRule(operation="StopInstances", throttle_rate=0.5, retry_after_ms=2500)
    ecs_emulator.set_faults(
        [rule], seed=seed_for(rule, "StopInstances", [FaultKind.THROTTLE, None])
    )
    clock = RecordingClock(fake_clock(ecs_emulator))

    run.using(clock=clock)(Function.STOP, _event(Function.STOP, instance_id))

    first, second = ecs_emulator.calls_to("StopInstances")
    assert first.error_code == "Throttling.User"
    assert second.error_code is None
    # The wait between the attempts is the header's value (milliseconds), not a backoff.
    assert (second.time - first.time).total_seconds() == pytest.approx(2.5)
    assert 2.5 in clock.sleeps


def test_backoff_is_capped_and_attempts_are_bounded(run: Runner, ecs_emulator: EcsEmulator) -> None:
    instance_id = _fleet_for(ecs_emulator, Function.RELEASE)
    ecs_emulator.set_faults([FaultRule(operation="DeleteInstances", unavailable_rate=1.0)])
    clock = RecordingClock(fake_clock(ecs_emulator))

    with pytest.raises(RunFailedError) as failed:
        run.using(clock=clock)(Function.RELEASE, _event(Function.RELEASE, instance_id))

    # Exactly tenacity's attempts reached ECS: the SDK added no retries of its own.
    attempts = ecs_emulator.calls_to("DeleteInstances")
    assert len(attempts) == POLICY.max_attempts
    gaps = [
        (later.time - earlier.time).total_seconds()
        for earlier, later in itertools.pairwise(attempts)
    ]
    assert all(gap <= POLICY.max_delay + 1e-6 for gap in gaps), gaps
    # Full jitter under an exponential ceiling: attempt n waits at most base * 2**n.
    for number, gap in enumerate(gaps, start=1):
        assert gap <= min(POLICY.max_delay, POLICY.base_delay * 2**number) + 1e-6
    entry = failed.value.summary["instances"][0]
    assert entry["error_code"] == "ServiceUnavailable"
    assert entry["request_id"] == attempts[-1].request_id
    assert ecs_emulator.instance(instance_id) is not None


def test_a_dropped_connection_is_one_request_per_attempt(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    """The SDK does not retry a dropped connection itself: tenacity does, and counts it."""
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    ecs_emulator.set_faults([FaultRule(operation="StopInstances", drop_rate=1.0)])

    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, _event(Function.STOP, instance_id))

    assert len(ecs_emulator.calls_to("StopInstances")) == POLICY.max_attempts
    assert failed.value.summary["instances"][0]["error_code"] == "NetworkError"


FINAL = [
    ("IncorrectInstanceStatus", 403),
    ("ChargeTypeViolation", 403),
    ("InvalidOperation.DeletionProtection", 403),
    ("Forbidden.RAM", 403),
    ("InvalidParameter", 400),
    ("InvalidParameter", 500),  # DeleteInstances' metadata lists a 500 for it: still final
]


@pytest.mark.parametrize(
    "target",
    [
        ("DeleteInstances", Function.RELEASE),
        ("ModifyInstanceAutoReleaseTime", Function.AUTO_RELEASE),
    ],
)
@pytest.mark.parametrize(("code", "status"), FINAL)
def test_final_errors_are_attempted_exactly_once(
    run: Runner, ecs_emulator: EcsEmulator, target: tuple[str, Function], code: str, status: int
) -> None:
    operation, function = target
    instance_id = _fleet_for(ecs_emulator, function)
    ecs_emulator.fail_instance(instance_id, operation=operation, code=code, status=status)
    clock = RecordingClock(fake_clock(ecs_emulator))

    with pytest.raises(RunFailedError) as failed:
        run.using(clock=clock)(function, _event(function, instance_id))

    assert len(ecs_emulator.calls_to(operation)) == 1
    entry = failed.value.summary["instances"][0]
    assert entry["error_code"] == code
    assert entry["request_id"] == ecs_emulator.calls_to(operation)[0].request_id
    assert all(seconds < 1 for seconds in clock.sleeps)  # only the pacer's spacing, no backoff


@pytest.mark.parametrize("code", ["IncorrectInstanceStatus", "Forbidden.RAM", "InvalidParameter"])
def test_final_per_instance_stop_answers_are_not_retried(
    run: Runner, ecs_emulator: EcsEmulator, code: str
) -> None:
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    ecs_emulator.fail_instance(instance_id, operation="StopInstances", code=code, status=403)

    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, _event(Function.STOP, instance_id))

    assert len(ecs_emulator.calls_to("StopInstances")) == 1
    assert failed.value.summary["instances"][0]["error_code"] == code


# --- throttling: a budget that spans the throttle minute and the next one ---------------------


def _throttled_until(emulator: EcsEmulator, operation: str, until: datetime | None) -> FaultRule:
    rule = FaultRule(
        operation=operation, throttle_rate=1.0, throttle_code="Throttling", until=until
    )
    emulator.set_faults([rule])
    return rule


def _throttle_gaps(attempts: list[Any]) -> list[float]:
    return [
        (later.time - earlier.time).total_seconds()
        for earlier, later in itertools.pairwise(attempts)
    ]


@pytest.mark.parametrize(
    "quota_back_after",
    [
        pytest.param(timedelta(minutes=1), id="the rest of the minute"),
        pytest.param(timedelta(minutes=1, seconds=59), id="that minute and nearly all the next"),
    ],
)
def test_a_call_throttled_for_a_whole_minute_is_retried_until_it_passes(
    run: Runner, ecs_emulator: EcsEmulator, quota_back_after: timedelta
) -> None:
    """Today's failure: a call throttled for one minute gave up within seconds, for good."""
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    minute = floor_to_minute(ecs_emulator.clock.now())
    _throttled_until(ecs_emulator, "StopInstances", minute + quota_back_after)
    clock = RecordingClock(fake_clock(ecs_emulator))

    summary = run.using(clock=clock)(Function.STOP, _event(Function.STOP, instance_id))

    assert summary["counts"]["failed"] == 0
    assert _done(ecs_emulator, Function.STOP, instance_id)
    attempts = ecs_emulator.calls_to("StopInstances")
    assert all(call.error_code == "Throttling" for call in attempts[:-1])
    assert attempts[-1].error_code is None
    assert attempts[-1].time >= minute + quota_back_after
    # Backoff, not hammering: one throttle minute and the next cost a couple of dozen attempts.
    assert len(attempts) <= 20
    # Equal jitter: every wait is at least half its step (1 s doubling, capped), and they differ.
    gaps = _throttle_gaps(attempts)
    for number, gap in enumerate(gaps, start=1):
        step = min(POLICY.throttle_max_delay, POLICY.throttle_base_delay * 2 ** (number - 1))
        assert step / 2 - 1e-6 <= gap <= step + 0.5, gaps  # + the pacer's spacing
    assert len({round(gap, 3) for gap in gaps}) > len(gaps) // 2, gaps


def test_throttling_that_outlasts_the_next_minute_fails_with_the_throttling_error(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    minute = floor_to_minute(ecs_emulator.clock.now())
    _throttled_until(ecs_emulator, "StopInstances", None)

    with pytest.raises(RunFailedError) as failed:
        run(Function.STOP, _event(Function.STOP, instance_id))

    entry = failed.value.summary["instances"][0]
    assert entry["error_code"] == "Throttling"
    attempts = ecs_emulator.calls_to("StopInstances")
    assert entry["request_id"] == attempts[-1].request_id
    # It tried into the minute after next (the budget's end), and stopped one wait after it.
    window_end = minute + timedelta(minutes=POLICY.throttle_minutes)
    assert attempts[-1].time >= window_end
    assert attempts[-1].time <= window_end + timedelta(seconds=POLICY.throttle_max_delay + 1)
    assert ecs_emulator.instance(instance_id) is not None
    view = ecs_emulator.instance(instance_id)
    assert view is not None
    assert view.status == "Running"


def test_other_transient_errors_keep_the_short_budget(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    """A 503 that lasts is given up on within seconds, not held for the throttle window."""
    instance_id = _fleet_for(ecs_emulator, Function.STOP)
    ecs_emulator.set_faults([FaultRule(operation="StopInstances", unavailable_rate=1.0)])
    started = ecs_emulator.clock.now()

    with pytest.raises(RunFailedError):
        run(Function.STOP, _event(Function.STOP, instance_id))

    attempts = ecs_emulator.calls_to("StopInstances")
    assert len(attempts) == POLICY.max_attempts
    # Full jitter under 0.2 s doubling, capped at 10 s: at most about 35 s in all.
    bound = sum(min(POLICY.max_delay, POLICY.base_delay * 2**n) for n in range(1, 8))
    assert (attempts[-1].time - started).total_seconds() <= bound + 1
