"""The emulator's ActionTrail: it records the stop calls it serves and answers LookupEvents as
documented (docs/actiontrail.md), driven by the real ActionTrail SDK."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import TeaException

from ecs_emulator import FaultRule

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator

FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@pytest.fixture
def trail(ecs_emulator: EcsEmulator) -> Any:
    credentials = ecs_emulator.credentials
    return TrailClient(
        Config(
            access_key_id=credentials.access_key_id,
            access_key_secret=credentials.access_key_secret,
            endpoint=ecs_emulator.endpoint,
            protocol="http",
            region_id="cn-hangzhou",
            connect_timeout=1000,
            read_timeout=3000,
        )
    )


def lookup(
    trail: Any,
    *,
    name: str | None = "StopInstance",
    start: datetime | None = None,
    end: datetime | None = None,
    size: int | None = None,
    token: str | None = None,
    direction: str | None = None,
    attributes: list[tuple[str, str]] | None = None,
) -> Any:
    conditions = attributes if attributes is not None else ([("EventName", name)] if name else [])
    request = trail_models.LookupEventsRequest(
        start_time=start.strftime(FORMAT) if start else None,
        end_time=end.strftime(FORMAT) if end else None,
        lookup_attribute=[
            trail_models.LookupEventsRequestLookupAttribute(key=key, value=value)
            for key, value in conditions
        ],
        max_results=str(size) if size is not None else None,
        next_token=token,
        direction=direction,
    )
    return trail.lookup_events(request).body


def test_the_stop_calls_served_are_recorded_and_looked_up(
    ecs_emulator: EcsEmulator, ecs_sdk_client: Any, trail: Any
) -> None:
    one = ecs_emulator.add_instance().instance_id
    two = ecs_emulator.add_instance().instance_id
    three = ecs_emulator.add_instance().instance_id
    ecs_sdk_client.stop_instance(ecs_models.StopInstanceRequest(instance_id=one))
    ecs_sdk_client.stop_instances(
        ecs_models.StopInstancesRequest(region_id="cn-hangzhou", instance_id=[two, three])
    )
    ecs_emulator.update_instance(one, status="Running")
    ecs_emulator.update_instance(one, status="Stopped")  # behind the API's back: no record

    (single,) = lookup(trail).events
    assert single["eventName"] == "StopInstance"
    assert single["requestParameters"]["InstanceId"] == one
    assert single["eventTime"] == ecs_emulator.now().strftime(FORMAT)
    assert single["acsRegion"] == "cn-hangzhou"
    assert "errorCode" not in single
    (batch,) = lookup(trail, name="StopInstances").events
    assert batch["requestParameters"]["InstanceId"] == [two, three]
    assert batch["referencedResources"] == {"ACS::ECS::Instance": [two, three]}
    codes = [
        item["Code"] for item in batch["responseElements"]["InstanceResponses"]["InstanceResponse"]
    ]
    assert codes == ["200", "200"]


def test_a_failed_stop_is_recorded_with_its_error_code(
    ecs_emulator: EcsEmulator, ecs_sdk_client: Any, trail: Any, sdk_error: Callable[..., Any]
) -> None:
    stopped = ecs_emulator.add_instance(status="Stopped").instance_id
    sdk_error(
        lambda: ecs_sdk_client.stop_instance(ecs_models.StopInstanceRequest(instance_id=stopped))
    )
    (event,) = lookup(trail).events
    assert event["errorCode"] == "IncorrectInstanceStatus"


def test_pages_of_at_most_fifty_newest_first_with_a_token_tied_to_the_query(
    ecs_emulator: EcsEmulator, trail: Any
) -> None:
    now = ecs_emulator.now()
    for minutes in range(120):
        ecs_emulator.trail.add(
            "StopInstance", [f"i-{minutes:04d}"], now - timedelta(minutes=minutes)
        )
    first = lookup(trail, size=50)
    assert len(first.events) == 50
    assert first.events[0]["requestParameters"]["InstanceId"] == "i-0000"  # newest first
    assert first.next_token
    second = lookup(trail, size=50, token=first.next_token)
    third = lookup(trail, size=50, token=second.next_token)
    assert len(second.events) == 50
    assert len(third.events) == 20
    assert not third.next_token
    forward = lookup(trail, size=50, direction="FORWARD")
    assert forward.events[0]["requestParameters"]["InstanceId"] == "i-0119"
    with pytest.raises(TeaException, match="NextToken"):
        lookup(trail, name="StopInstances", size=50, token=first.next_token)
    with pytest.raises(TeaException, match="MaxResults"):
        lookup(trail, size=51)


def test_the_time_range_the_retention_and_the_conditions(
    ecs_emulator: EcsEmulator, trail: Any
) -> None:
    now = ecs_emulator.now()
    ecs_emulator.trail.add("StopInstance", ["i-old"], now - timedelta(days=100))
    ecs_emulator.trail.add("StopInstance", ["i-month"], now - timedelta(days=20))
    ecs_emulator.trail.add(
        "StopInstance", ["i-console"], now - timedelta(days=2), event_type="ConsoleOperation"
    )
    ecs_emulator.trail.add("StartInstance", ["i-console"], now - timedelta(days=1))

    # Neither time: the last 7 days.
    assert [e["requestParameters"]["InstanceId"] for e in lookup(trail).events] == ["i-console"]
    month = lookup(trail, start=now - timedelta(days=30), end=now)
    assert len(month.events) == 2
    # Past the 90 days nothing is kept.
    assert not lookup(trail, start=now - timedelta(days=110), end=now - timedelta(days=95)).events
    with pytest.raises(TeaException, match="30 days"):
        lookup(trail, start=now - timedelta(days=31), end=now)
    with pytest.raises(TeaException, match="together"):
        lookup(trail, start=now - timedelta(days=1))
    console = lookup(
        trail, attributes=[("EventType", "ConsoleOperation"), ("ResourceName", "i-console")]
    )
    assert [e["eventName"] for e in console.events] == ["StopInstance"]
    # The same key twice: the second condition wins.
    both = lookup(trail, attributes=[("EventName", "StopInstance"), ("EventName", "StartInstance")])
    assert [e["eventName"] for e in both.events] == ["StartInstance"]


def test_lookups_can_be_throttled_or_unavailable(
    ecs_emulator: EcsEmulator, trail: Any, sdk_error: Callable[..., Any]
) -> None:
    ecs_emulator.set_faults([FaultRule(operation="LookupEvents", throttle_rate=1.0)])
    assert sdk_error(lambda: lookup(trail)).code.startswith("Throttling")
    ecs_emulator.set_faults([FaultRule(operation="LookupEvents", unavailable_rate=1.0)])
    assert sdk_error(lambda: lookup(trail)).code == "ServiceUnavailable"
    assert [call.operation for call in ecs_emulator.calls] == ["LookupEvents", "LookupEvents"]
