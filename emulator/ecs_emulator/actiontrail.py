"""ActionTrail's records of the calls made to the emulator; LookupEvents reads them.

The same server answers ActionTrail's LookupEvents (:mod:`ecs_emulator.services.actiontrail`):
a request whose ``x-acs-version`` is ``2020-07-06`` is routed there (the ActionTrail SDK signs
and sends it like the ECS one; point ``ACTIONTRAIL_ENDPOINT`` at the emulator). Faults, the call
log and authentication are the server's, so ``FaultRule(operation="LookupEvents",
throttle_rate=1.0)`` throttles it and ``unavailable_rate=1.0`` takes it down.

ActionTrail records API calls, not state changes: every StopInstance / StopInstances request
that reaches an operation is recorded as one event at the time of the call, with its
parameters, its per-instance answers (``responseElements``) or its ``errorCode``; so is every
TagResources / UntagResources / AddTags / RemoveTags request, with its parameters as sent. An
instance stopped from inside its OS, or behind the API's back (``update_instance``), leaves no
record. Tests add records of their own (older than the window, console records) with
:meth:`TrailLog.add`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Final

from ecs_emulator.wire import Params

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

STOP_OPERATIONS: Final = frozenset({"StopInstance", "StopInstances"})
# The tag calls: ActionTrail records them like any write call (the auto-release function's
# EventBridge events are these records); their parameters are kept as sent.
TAG_OPERATIONS: Final = frozenset({"TagResources", "UntagResources", "AddTags", "RemoveTags"})
RECORDED_OPERATIONS: Final = STOP_OPERATIONS | TAG_OPERATIONS
TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


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
            "eventTime": self.time.astimezone(timezone.utc).strftime(TIME_FORMAT),
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
        """Record one stop or tag request that reached its operation (what ActionTrail does)."""
        if operation not in RECORDED_OPERATIONS:
            return
        wire = Params(params)
        if operation in TAG_OPERATIONS:
            self._record_tag_call(operation, wire, at=at, region=region, error_code=error_code)
            return
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

    def _record_tag_call(
        self,
        operation: str,
        wire: Params,
        *,
        at: datetime,
        region: str | None,
        error_code: str | None,
    ) -> None:
        """A tag call's record: its parameters as sent (`ResourceType`, `ResourceId.N` or, for
        AddTags / RemoveTags, `ResourceId`, `Tag.N.Key`...), and the instances it named in
        `referencedResources` (the shape of Alibaba's sample records: events/README.md)."""
        parameters = wire.as_dict()
        resource_type = (wire.get("ResourceType") or "").lower()
        ids = wire.repeat_list("ResourceId") or [wire.get("ResourceId") or ""]
        ids = [i for i in dict.fromkeys(ids) if i] if resource_type == "instance" else []
        self.add(
            operation,
            ids,
            at,
            region=wire.get("RegionId") or region or "cn-hangzhou",
            error_code=error_code,
            request_parameters=parameters,
        )
