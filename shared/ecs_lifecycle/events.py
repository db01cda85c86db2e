"""What triggered a run: the event bytes Function Compute hands a handler, told apart and parsed.

Three shapes arrive: a timer (`triggerTime`, `triggerName`, `payload` string), one EventBridge
CloudEvent (`specversion`, `source`, `type`, `data`), or a plain JSON object of run options
(console or `s invoke`). EventBridge events name a request, not the resulting tags, so the
tag-change invocations below carry only which instances to re-read.

What Alibaba Cloud actually sends (EventBridge's ECS and ActionTrail event pages,
https://www.alibabacloud.com/help/en/eventbridge/user-guide/ecs-events and
https://alibabacloud.com/help/en/eventbridge/user-guide/actiontrail-events; the ECS notification
body, https://www.alibabacloud.com/help/doc-detail/143663.htm; what is reconstructed:
events/README.md):
- an ECS state change carries the ECS notification body as `data`: the instance's ARN
  (`acs:ecs:REGION:ACCOUNT:instance/i-...`) in `data.resourceId`, the bare id and the state in
  `data.content`;
- ActionTrail records of API calls (`ecs:ActionTrail:ApiCall`) and of console operations
  (`ecs:ActionTrail:ConsoleOperation`) share one `data` layout; their `requestParameters` use the
  API's names with typed values, plus extra keys (`AcsHost`, `RequestId`, `AcceptLanguage`), and
  `acsRegion` is the region to trust;
- `referencedResources` lists related resources too (a disk's instance beside the disk), so what a
  tag call was about comes from `ResourceType` / `ResourceId` in `requestParameters` only.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError

from ecs_lifecycle.errors import InvalidInputError, refusal_from
from ecs_lifecycle.selection import unique, validate_instance_id, validate_region
from ecs_lifecycle.timeparse import parse_api_time, parse_zoned_time

MAX_EVENT_BYTES: Final = 1024 * 1024
# Real events nest about six levels (envelope, data, requestParameters, Tag, item); anything far
# deeper is refused before code that recurses (pydantic, json.dumps, logging) can meet it.
MAX_JSON_DEPTH: Final = 32
# TagResources and UntagResources take at most 50 ResourceId.N; a record naming more is not real.
MAX_TAGGED_RESOURCES: Final = 50
TAG_EVENT_NAMES: Final = frozenset({"TagResources", "UntagResources", "AddTags", "RemoveTags"})
_REMOVING_EVENT_NAMES: Final = frozenset({"UntagResources", "RemoveTags"})
# The calls that write tags: the minimum notice counts from the last one (docs/safety.md).
TAG_WRITE_EVENT_NAMES: Final = ("TagResources", "AddTags")
STATE_CHANGE_TYPE: Final = "ecs:Instance:StateChange"
# Both ActionTrail record types carry the same `data`: an API call, and a console operation (the
# ActionTrail events page lists both types).
_ACTION_TRAIL_SUFFIXES: Final = (":ActionTrail:ApiCall", ":ActionTrail:ConsoleOperation")
_SUBJECT_INSTANCE: Final = re.compile(r"instance/(i-[0-9a-z]+)$")
_SUBJECT_REGION: Final = re.compile(r"^acs:ecs:([a-z0-9-]+):")
_INSTANCE_ARN: Final = re.compile(r"^acs:ecs:[a-z0-9-]*:[0-9*]*:instance/(?P<id>[^/]+)$")
# The top-level fields of an ECS or CloudMonitor event notification (doc-detail/143663): a body
# posted to the function directly, without EventBridge's envelope. No run option has these names.
_NOTIFICATION_FIELDS: Final = frozenset(
    {"ver", "eventTime", "name", "content", "product", "level", "userId", "regionId", "resourceId"}
)
_TOO_DEEP: Final = f"is nested more than {MAX_JSON_DEPTH} levels deep; no real event is"
_QUOTED_MAX: Final = 80  # longer values are described by their length in refusals, not quoted
_INDEXED_KEY: Final = re.compile(
    r"^(?P<name>[A-Za-z]+)\.(?P<index>\d{1,3})(?:\.(?P<field>Key|Value))?$"
)


@dataclass(frozen=True, slots=True)
class ManualInvocation:
    """Run options typed by a person (console, `s invoke`, local invoke)."""

    options: dict[str, Any]
    kind: str = "manual"


@dataclass(frozen=True, slots=True)
class TimerInvocation:
    """A timer trigger; `options` is None when its payload is empty."""

    trigger_name: str
    options: dict[str, Any] | None
    trigger_time: datetime | None = None  # None when the timer sent no readable time
    kind: str = "timer"


@dataclass(frozen=True, slots=True)
class TagChangeInvocation:
    """An ActionTrail record of a tag call on instances: re-read them, then decide."""

    event_id: str
    region: str
    instance_ids: tuple[str, ...]
    event_name: str
    removed_keys: tuple[str, ...] | None  # for untag calls: the keys removed, None if unknown
    # When the call was made (the record's eventTime): the minimum notice counts from a tag write.
    event_time: datetime | None = None
    kind: str = "eventbridge"


@dataclass(frozen=True, slots=True)
class StateChangeInvocation:
    """An instance changed state."""

    event_id: str
    region: str
    instance_id: str
    state: str
    kind: str = "eventbridge"


@dataclass(frozen=True, slots=True)
class IgnoredInvocation:
    """An event that asks for nothing, such as the record of a failed API call."""

    event_id: str
    reason: str
    kind: str = "eventbridge"


Invocation = (
    ManualInvocation
    | TimerInvocation
    | TagChangeInvocation
    | StateChangeInvocation
    | IgnoredInvocation
)


class _CloudEvent(BaseModel):
    # defer_build: the schema is built on first use, so a timer-triggered run never builds it.
    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)

    id: str
    source: str
    specversion: str
    type: str
    subject: str | None = None
    aliyunregionid: str | None = None
    data: dict[str, Any] | None = None


class _TimerEvent(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    triggerTime: str  # noqa: N815 - the wire name
    triggerName: str  # noqa: N815 - the wire name
    payload: str | None = None


def parse_event(raw: bytes | bytearray | str) -> Invocation:
    """Tell the event apart and parse it.

    Raises:
        InvalidInputError: unreadable bytes, JSON that is not an object, nested too deeply or with
            a number too long, or an unknown shape.
    """
    document = _load_json_object("event", raw)
    if "specversion" in document or ("source" in document and "type" in document):
        return _parse_cloud_event(document)
    if "triggerTime" in document or "triggerName" in document:
        return _parse_timer(document)
    if len(_NOTIFICATION_FIELDS & document.keys()) >= 2:
        # Refused here, or it would be refused as "unknown option ver", which explains nothing.
        raise InvalidInputError(
            "event",
            "this is an ECS/CloudMonitor event notification body (ver, eventTime, name, content) "
            "without the EventBridge envelope; the function expects the EventBridge event "
            "(specversion, source, type, data): deliver it through an EventBridge rule",
        )
    return ManualInvocation(options=document)


def _load_json_object(field: str, raw: bytes | bytearray | str) -> dict[str, Any]:
    document = _load_json(field, raw)
    if not isinstance(document, dict):
        raise InvalidInputError(field, f"must be a JSON object, not {type(document).__name__}")
    return document


def _load_json(field: str, raw: bytes | bytearray | str) -> object:
    """JSON from the event, or JSON embedded in it as a string; empty text is an empty object.

    Raises:
        InvalidInputError: too big, not UTF-8, not JSON, nested too deeply, or a number too long.
    """
    if len(raw) > MAX_EVENT_BYTES:
        raise InvalidInputError(
            field, f"{len(raw)} bytes is more than the {MAX_EVENT_BYTES} accepted"
        )
    try:
        text = raw.decode("utf-8") if isinstance(raw, (bytes, bytearray)) else raw
        document = json.loads(text) if text.strip() else {}
    except UnicodeDecodeError:
        raise InvalidInputError(field, "is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(field, f"is not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise InvalidInputError(field, _TOO_DEEP) from None
    except ValueError:
        # Python refuses to read integers of more than 4,300 digits (sys.get_int_max_str_digits).
        raise InvalidInputError(
            field, "holds a number with too many digits; no real event does"
        ) from None
    _check_depth(field, document)
    return document


def _check_depth(field: str, document: object) -> None:
    """Refuse nesting deeper than MAX_JSON_DEPTH; iterative, so depth cannot exhaust the stack."""
    pending: list[tuple[dict[str, Any] | list[Any], int]] = []
    if isinstance(document, (dict, list)):
        pending.append((document, 1))
    while pending:
        value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise InvalidInputError(field, _TOO_DEEP)
        children = value.values() if isinstance(value, dict) else value
        pending.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))


def _parse_timer(document: dict[str, Any]) -> TimerInvocation:
    try:
        timer = _TimerEvent.model_validate(document)
    except ValidationError as exc:
        raise refusal_from(exc, "timer event") from None
    payload = (timer.payload or "").strip()
    options = _load_json_object("timer payload", payload) if payload else None
    return TimerInvocation(
        trigger_name=timer.triggerName,
        options=options,
        trigger_time=parse_zoned_time(timer.triggerTime),
    )


def _parse_cloud_event(document: dict[str, Any]) -> Invocation:
    try:
        event = _CloudEvent.model_validate(document)
    except ValidationError as exc:
        raise refusal_from(exc, "EventBridge event") from None
    data = event.data or {}
    if event.type == STATE_CHANGE_TYPE:
        return _parse_state_change(event, data)
    if event.type.endswith(_ACTION_TRAIL_SUFFIXES):
        return _parse_action_trail(event, data)
    raise InvalidInputError(
        "EventBridge event type",
        f"{_quoted(event.type)} is not handled (expected {STATE_CHANGE_TYPE}, or an ECS "
        "ActionTrail record: ecs:ActionTrail:ApiCall or ecs:ActionTrail:ConsoleOperation)",
    )


def _parse_state_change(event: _CloudEvent, data: dict[str, Any]) -> Invocation:
    nested = data.get("content")
    content: dict[str, Any] = nested if isinstance(nested, dict) else {}
    state = data.get("state") or content.get("state")
    if not isinstance(state, str):
        raise InvalidInputError("EventBridge event data", "a state change without a state")
    return StateChangeInvocation(
        event_id=event.id,
        region=_event_region(event, data),
        instance_id=_state_change_instance(event, data, content),
        state=state,
    )


def _state_change_instance(
    event: _CloudEvent, data: dict[str, Any], content: dict[str, Any]
) -> str:
    """The one instance a state change is about: from `content`, an ARN or bare id, or `subject`.

    Raises:
        InvalidInputError: no instance named, a malformed id or ARN, or two different instances.
    """
    named: dict[str, str] = {}
    for field, value in (
        ("data.content.resourceId", content.get("resourceId")),
        ("data.resourceId", data.get("resourceId")),
    ):
        if value is None:
            continue
        if not isinstance(value, str):
            raise InvalidInputError(f"EventBridge event {field}", "is not a string")
        named[field] = _instance_from_reference(f"EventBridge event {field}", value)
    subject = _subject_instance(event)
    if subject is not None:
        named["subject"] = _checked_instance_id("EventBridge event subject", subject)
    ids = unique(named.values())
    if not ids:
        raise InvalidInputError("EventBridge event data", "a state change without an instance id")
    if len(ids) > 1:
        where = ", ".join(f"{field} {value}" for field, value in named.items())
        raise InvalidInputError(
            "EventBridge event", f"the state change names different instances ({where})"
        )
    return ids[0]


def _instance_from_reference(field: str, value: str) -> str:
    """An instance id, bare (`i-...`) or as its ARN (`acs:ecs:REGION:ACCOUNT:instance/i-...`)."""
    if value.startswith("acs:"):
        arn = _INSTANCE_ARN.match(value)
        if arn is None:
            raise InvalidInputError(field, f"{_quoted(value)} is not the ARN of an ECS instance")
        value = arn.group("id")
    return _checked_instance_id(field, value)


def _parse_action_trail(event: _CloudEvent, data: dict[str, Any]) -> Invocation:
    """An ActionTrail record (API call or console operation) of a tag call."""
    name = data.get("eventName")
    if data.get("errorCode"):
        return IgnoredInvocation(
            event_id=event.id,
            reason=f"the {_quoted(name)} call failed ({_quoted(data.get('errorCode'))}), "
            "so nothing changed",
        )
    if name not in TAG_EVENT_NAMES:
        raise InvalidInputError(
            "EventBridge event data.eventName",
            f"{_quoted(name)} is not a tag call this function handles "
            f"({', '.join(sorted(TAG_EVENT_NAMES))})",
        )
    parameters = _request_parameters(data)
    resource_type = parameters.get("ResourceType")
    named = _listed(parameters, "ResourceId") + _listed(parameters, "InstanceId")
    if len(named) > MAX_TAGGED_RESOURCES:
        raise InvalidInputError(
            "EventBridge event data.requestParameters",
            f"names {len(named)} resources; a tag call takes at most {MAX_TAGGED_RESOURCES}",
        )
    # What the call was about comes from its own parameters. `referencedResources` and `subject`
    # also name the instance a tagged disk is attached to, so they never decide
    # (Alibaba's ActionTrail sample lists a disk and its instance). A ResourceType given as null
    # counts as absent: the ids' own prefix decides, since ignoring a tag change on an instance
    # could leave a cancellation unsent, and acting on one is only a fresh read and a re-plan.
    if resource_type is not None:
        if not isinstance(resource_type, str) or resource_type.lower() != "instance":
            return IgnoredInvocation(
                event_id=event.id,
                reason=f"the {name} call was on a {_quoted(resource_type)}, not an instance",
            )
    else:
        others = [value for value in named if not value.startswith("i-")]
        if others:
            return IgnoredInvocation(
                event_id=event.id,
                reason=f"the {name} call was on {_quoted(others[0])}, which is not an instance "
                "(the record gives no ResourceType)",
            )
    if not named:
        return IgnoredInvocation(
            event_id=event.id,
            reason=f"the {name} record does not say which instance the call was about "
            "(no ResourceId in its requestParameters), so no instance is touched",
        )
    field = "EventBridge event data.requestParameters.ResourceId"
    removed = _removed_keys(parameters) if name in _REMOVING_EVENT_NAMES else ()
    return TagChangeInvocation(
        event_id=event.id,
        region=_event_region(event, data),
        instance_ids=unique(_checked_instance_id(field, value) for value in named),
        event_name=str(name),
        removed_keys=removed,
        event_time=parse_api_time(str(data.get("eventTime") or "")),
    )


def tag_call_instances(record: dict[str, Any]) -> tuple[str, ...]:
    """The instances one ActionTrail record of a tag call was about, read exactly as the
    EventBridge event of the same call is, so a run that reads ActionTrail and the run the event
    triggered agree: () for a failed call, or one on another resource or naming none.

    Raises:
        InvalidInputError: the record cannot be read.
    """
    envelope = _CloudEvent(
        id=str(record.get("eventId") or "actiontrail"),
        source="acs.ecs",
        specversion="1.0",
        type="ecs:ActionTrail:ApiCall",
        data=record,
    )
    parsed = _parse_action_trail(envelope, record)
    return parsed.instance_ids if isinstance(parsed, TagChangeInvocation) else ()


def _request_parameters(data: dict[str, Any]) -> dict[str, Any]:
    """`requestParameters` comes as an object, or as a JSON string in `requestParameterJson`.

    Raises:
        InvalidInputError: a JSON string that is not JSON, or is nested too deeply.
    """
    for key in ("requestParameters", "requestParameterJson"):
        parameters = _embedded_json(f"EventBridge event data.{key}", data.get(key))
        if isinstance(parameters, dict):
            return parameters
    return {}


def _embedded_json(field: str, value: object) -> object:
    """A value that may be JSON written into a string (`'["i-..."]'`); other strings stay text."""
    if isinstance(value, str) and value.lstrip().startswith(("{", "[", '"')):
        return _load_json(field, value)
    return value


def _listed(parameters: dict[str, Any], name: str) -> list[str]:
    """A list parameter in any shape seen: `Name.N` keys, a list, a JSON string, a single value."""
    values: list[str] = []
    direct = _embedded_json(
        f"EventBridge event data.requestParameters.{name}", parameters.get(name)
    )
    if isinstance(direct, list):
        values.extend(str(item) for item in direct)
    elif isinstance(direct, (str, int)) and not isinstance(direct, bool):
        values.append(str(direct))
    indexed = sorted(
        (int(match.group("index")), value)
        for key, value in parameters.items()
        if (match := _INDEXED_KEY.match(key))
        and match.group("name") == name
        and not match.group("field")
    )
    values.extend(str(value) for _, value in indexed)
    return values


def _removed_keys(parameters: dict[str, Any]) -> tuple[str, ...] | None:
    if str(parameters.get("All", "")).lower() == "true":
        return None
    typed_tags = parameters.get("Tag")  # RemoveTags with typed values: [{"Key": ..., ...}]
    keys = _listed(parameters, "TagKey") + [
        str(value)
        for key, value in parameters.items()
        if (match := _INDEXED_KEY.match(key))
        and match.group("name") == "Tag"
        and match.group("field") == "Key"
    ]
    if isinstance(typed_tags, list):
        keys.extend(str(tag["Key"]) for tag in typed_tags if isinstance(tag, dict) and "Key" in tag)
    return tuple(keys) if keys else None


def _subject_instance(event: _CloudEvent) -> str | None:
    match = _SUBJECT_INSTANCE.search(event.subject or "")
    return match.group(1) if match else None


def _event_region(event: _CloudEvent, data: dict[str, Any]) -> str:
    # acsRegion first: a console operation's AcsHost may name another region (seen in public
    # records; UNCONFIRMED in Alibaba's docs).
    subject = _SUBJECT_REGION.match(event.subject or "")
    region = (
        data.get("acsRegion")
        or data.get("regionId")
        or event.aliyunregionid
        or (subject.group(1) if subject else None)
    )
    if not isinstance(region, str):
        raise InvalidInputError(
            "EventBridge event", "names no region (aliyunregionid or data.acsRegion)"
        )
    if len(region) > _QUOTED_MAX:
        raise InvalidInputError("EventBridge event region", f"{_quoted(region)} is not a region id")
    return validate_region("EventBridge event region", region)


def _checked_instance_id(field: str, value: str) -> str:
    if len(value) > _QUOTED_MAX:  # a huge value would make a huge refusal and log line
        raise InvalidInputError(field, f"{_quoted(value)} is not an ECS instance id")
    return validate_instance_id(field, value)


def _quoted(value: object) -> str:
    """A value for a refusal message: quoted, or described by its length when it is long."""
    shown = repr(value)
    return shown if len(shown) <= _QUOTED_MAX else f"a {len(shown)}-character value"
