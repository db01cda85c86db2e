"""A fault rule with `until`: a spent per-minute quota, as the real SDK sees it."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest
from Tea.exceptions import TeaException

from ecs_emulator import EcsEmulator, FakeClock, FaultRule
from ecs_emulator.faults import FaultInjector


def _answer(client: Any) -> str:
    try:
        client.describe_instances(ecs.DescribeInstancesRequest(region_id="cn-hangzhou"))
    except TeaException as error:
        return str(error.code)
    return "ok"


def test_a_rule_holds_until_its_moment_on_the_emulators_clock(
    ecs_emulator: EcsEmulator, client: Any
) -> None:
    clock = ecs_emulator.clock
    assert isinstance(clock, FakeClock)
    next_minute = clock.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    ecs_emulator.set_faults(
        [FaultRule(throttle_rate=1.0, throttle_code="Throttling", until=next_minute)]
    )

    assert _answer(client) == "Throttling"
    clock.set(next_minute - timedelta(milliseconds=1))
    assert _answer(client) == "Throttling"
    clock.set(next_minute)
    assert _answer(client) == "ok"
    assert ecs_emulator.fault_counts["throttle"] == 2


def test_a_spent_rule_gives_way_to_the_next_one(ecs_emulator: EcsEmulator, client: Any) -> None:
    now = ecs_emulator.clock.now()
    ecs_emulator.set_faults(
        [
            FaultRule(throttle_rate=1.0, until=now),  # already over
            FaultRule(unavailable_rate=1.0),
        ]
    )
    assert _answer(client) == "ServiceUnavailable"


def test_until_needs_an_aware_time_and_a_clock() -> None:
    with pytest.raises(ValueError, match="aware"):
        FaultRule(throttle_rate=1.0, until=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="clock"):
        FaultInjector(
            [FaultRule(throttle_rate=1.0, until=datetime(2026, 1, 1, tzinfo=timezone.utc))]
        )
