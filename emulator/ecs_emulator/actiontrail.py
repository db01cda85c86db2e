"""ActionTrail 2020-07-06 beside the ECS API: the stop calls the emulator makes, and LookupEvents.

The same server answers it: a request whose ``x-acs-version`` is ``2020-07-06`` is routed here
(the ActionTrail SDK signs and sends it like the ECS one; point ``ACTIONTRAIL_ENDPOINT`` at the
emulator). Faults, the call log and authentication are the ECS emulator's, so
``FaultRule(operation="LookupEvents", throttle_rate=1.0)`` throttles it and
``unavailable_rate=1.0`` takes it down.

ActionTrail records API calls, not state changes: every StopInstance / StopInstances request
that reaches an operation is recorded as one event at the time of the call, with its
parameters, its per-instance answers (``responseElements``) or its ``errorCode``. An instance
stopped from inside its OS, or behind the API's back (``update_instance``), leaves no record.
Tests add records of their own (older than the window, console records) with
:meth:`TrailLog.add`.

LookupEvents as documented (docs/actiontrail.md has the sources): ``StartTime``/``EndTime`` in
``yyyy-MM-ddTHH:mm:ssZ`` UTC, both or neither (then the last 7 days); at most 30 days between
them (an earlier revision of the page); only the last 90 days are kept; ``LookupAttribute.N``
one or two exact, case-sensitive conditions (two on the same key: the second wins; more than two:
the first two); ``MaxResults`` 1-50; ``Direction`` BACKWARD (newest first, the default) or
FORWARD; ``NextToken`` valid only with the same parameters. The answer: ``RequestId``,
``Events`` (a list of event objects), ``NextToken`` (empty on the last page), ``StartTime``,
``EndTime``. UNCONFIRMED, and chosen here: the default MaxResults (20), the error codes for bad
parameters (``InvalidParameter``, 400) and the refusal of a range longer than 30 days.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from ecs_emulator.errors import ApiError, invalid_parameter
from ecs_emulator.wire import Params

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from ecs_emulator.operations import Body, Call, Handler
    from ecs_emulator.state import FleetState

API_VERSION: Final = "2020-07-06"
RECORDED_OPERATIONS: Final = frozenset({"StopInstance", "StopInstances"})
RETENTION: Final = timedelta(days=90)
MAX_RANGE: Final = timedelta(days=30)
DEFAULT_RANGE: Final = timedelta(days=7)
MAX_RESULTS: Final = 50
DEFAULT_RESULTS: Final = 20
LOOKUP_KEYS: Final = frozenset(
    {"EventName", "ServiceName", "ResourceName", "ResourceType", "EventType", "EventRW", "EventId"}
)
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class TrailEvent:
    """One ActionTrail record of an ECS call."""

    event_id: str
    event_name: str
    time: datetime
    region: str
    request_parameters: dict[str, object]
    instance_ids: tuple[str, ...]
    event_type: str = "ApiCall"  # or ConsoleOperation
    error_code: str | None = None
    response_elements: dict[str, object] | None = None

    def attribute(self, key: str) -> str | list[str]:
        """The value a LookupAttribute condition on `key` is matched against."""
        values: dict[str, str | list[str]] = {
            "EventName": self.event_name,
            "ServiceName": "Ecs",
            "ResourceName": list(self.instance_ids),
            "ResourceType": "ACS::ECS::Instance",
            "EventType": self.event_type,
            "EventRW": "Write",
            "EventId": self.event_id,
        }
        return values[key]

    def body(self) -> dict[str, object]:
        """The event as LookupEvents lists it (the fields of Alibaba's sample ECS events)."""
        entry: dict[str, object] = {
            "eventId": self.event_id,
            "eventVersion": 1,
            "eventName": self.event_name,
            "eventType": self.event_type,
            "eventRW": "Write",
            "eventSource": f"ecs.{self.region}.aliyuncs.com",
            "serviceName": "Ecs",
            "apiVersion": "2014-05-26",
            "acsRegion": self.region,
            "eventTime": self.time.astimezone(timezone.utc).strftime(_TIME_FORMAT),
            "requestId": self.event_id,
            "isGlobal": False,
            "requestParameters": {
                "AcsHost": f"ecs.{self.region}.aliyuncs.com",
                "AcsProduct": "Ecs",
                "RequestId": self.event_id,
                **self.request_parameters,
            },
            "referencedResources": {"ACS::ECS::Instance": list(self.instance_ids)},
            "userIdentity": {"type": "ram-user", "userName": "ecs-lifecycle"},
        }
        if self.error_code is not None:
            entry["errorCode"] = self.error_code
            entry["errorMessage"] = self.error_code
        if self.response_elements is not None:
            entry["responseElements"] = self.response_elements
        return entry


@dataclass
class TrailLog:
    """The account's ActionTrail records, oldest first."""

    events: list[TrailEvent] = field(default_factory=list)

    def add(
        self,
        event_name: str,
        instance_ids: Sequence[str],
        at: datetime,
        *,
        region: str = "cn-hangzhou",
        event_type: str = "ApiCall",
        error_code: str | None = None,
        request_parameters: Mapping[str, object] | None = None,
        response_elements: Mapping[str, object] | None = None,
    ) -> TrailEvent:
        """Add a record as ActionTrail holds one (a stop from the console, or long ago)."""
        if at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        ids = tuple(instance_ids)
        if request_parameters is None:
            shown: object = ids[0] if event_name == "StopInstance" and len(ids) == 1 else list(ids)
            request_parameters = {"InstanceId": shown}
        event = TrailEvent(
            event_id=str(uuid.uuid4()).upper(),
            event_name=event_name,
            time=at,
            region=region,
            request_parameters=dict(request_parameters),
            instance_ids=ids,
            event_type=event_type,
            error_code=error_code,
            response_elements=dict(response_elements) if response_elements is not None else None,
        )
        self.events.append(event)
        self.events.sort(key=lambda known: known.time)
        return event

    def record_call(
        self,
        operation: str,
        params: Mapping[str, str],
        *,
        at: datetime,
        region: str | None,
        answer: Mapping[str, object] | None = None,
        error_code: str | None = None,
    ) -> None:
        """Record one stop request that reached its operation (what ActionTrail does)."""
        if operation not in RECORDED_OPERATIONS:
            return
        wire = Params(params)
        if operation == "StopInstance":
            ids = [wire.get("InstanceId") or ""]
            shown: object = ids[0]
        else:
            ids = list(dict.fromkeys(wire.repeat_list("InstanceId")))
            shown = ids
        ids = [instance_id for instance_id in ids if instance_id]
        parameters: dict[str, object] = {
            key: value
            for key, value in params.items()
            if key != "InstanceId" and not key.startswith("InstanceId.")
        }
        parameters["InstanceId"] = shown
        self.add(
            operation,
            ids,
            at,
            region=wire.get("RegionId") or region or "cn-hangzhou",
            error_code=error_code,
            request_parameters=parameters,
            response_elements=dict(answer) if answer is not None and not error_code else None,
        )


def lookup_events(state: FleetState, call: Call) -> Body:
    """LookupEvents: the records of the asked time range that meet every condition, paged."""
    params = call.params
    start, end = _time_range(params, call.now)
    conditions = _conditions(params)
    size = _max_results(params)
    direction = params.text("Direction", "BACKWARD") or "BACKWARD"
    if direction not in ("BACKWARD", "FORWARD"):
        raise invalid_parameter("Direction")
    oldest_kept = call.now - RETENTION
    matching = [
        event
        for event in state.trail.events
        if max(start, oldest_kept) <= event.time <= end and _meets(event, conditions)
    ]
    if direction == "BACKWARD":
        matching.reverse()
    fingerprint = _fingerprint(params)
    position = _position(params.text("NextToken"), fingerprint)
    page = matching[position : position + size]
    after = position + len(page)
    return {
        "Events": [event.body() for event in page],
        "NextToken": _token(fingerprint, after) if after < len(matching) else "",
        "StartTime": start.strftime(_TIME_FORMAT),
        "EndTime": end.strftime(_TIME_FORMAT),
    }


def _time_range(params: Params, now: datetime) -> tuple[datetime, datetime]:
    start_text, end_text = params.get("StartTime"), params.get("EndTime")
    if (start_text is None) != (end_text is None):
        raise invalid_parameter("StartTime", "and EndTime must be given together")
    if start_text is None or end_text is None:
        return now - DEFAULT_RANGE, now
    start, end = _parse_time("StartTime", start_text), _parse_time("EndTime", end_text)
    if end < start:
        raise invalid_parameter("EndTime", "is before StartTime")
    if end - start > MAX_RANGE:
        raise invalid_parameter("StartTime", "is more than 30 days before EndTime")
    return start, end


def _parse_time(name: str, text: str) -> datetime:
    try:
        return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError:
        raise invalid_parameter(name, "is not a UTC time yyyy-MM-ddTHH:mm:ssZ") from None


def _conditions(params: Params) -> list[tuple[str, str]]:
    """The first two LookupAttribute.N conditions; a key given twice keeps its second value."""
    found: list[tuple[str, str]] = []
    for number in range(1, 3):
        key = params.get(f"LookupAttribute.{number}.Key")
        value = params.get(f"LookupAttribute.{number}.Value")
        if key is None and value is None:
            continue
        if key not in LOOKUP_KEYS or value is None:
            raise invalid_parameter(f"LookupAttribute.{number}.Key")
        found = [(known, known_value) for known, known_value in found if known != key]
        found.append((key, value))
    return found


def _meets(event: TrailEvent, conditions: Iterable[tuple[str, str]]) -> bool:
    for key, value in conditions:
        actual = event.attribute(key)
        if value != actual and not (isinstance(actual, list) and value in actual):
            return False
    return True


def _max_results(params: Params) -> int:
    size = params.integer("MaxResults", default=DEFAULT_RESULTS)
    if not 1 <= size <= MAX_RESULTS:
        raise invalid_parameter("MaxResults", "must be 1 to 50")
    return size


def _fingerprint(params: Params) -> str:
    asked = {key: value for key, value in params.as_dict().items() if key != "NextToken"}
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()[:16]


def _token(fingerprint: str, position: int) -> str:
    return f"{fingerprint}{position:08x}"


def _position(token: str, fingerprint: str) -> int:
    """Where a NextToken resumes; one made for other parameters is refused."""
    if not token:
        return 0
    tail = token[16:]
    if len(token) != 24 or not token.startswith(fingerprint) or not _is_hex(tail):
        raise ApiError("InvalidParameter", 400, 'The specified parameter "NextToken" is not valid.')
    return int(tail, 16)


def _is_hex(text: str) -> bool:
    return bool(text) and all(char in "0123456789abcdef" for char in text)


OPERATIONS: Final[dict[str, Handler]] = {"LookupEvents": lookup_events}
