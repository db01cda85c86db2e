"""What triggered a run: the event bytes Function Compute hands a handler, told apart and parsed.

Three shapes arrive: a timer (`triggerTime`, `triggerName`, `payload` string), one EventBridge
CloudEvent (`specversion`, `source`, `type`, `data`), or a plain JSON object of run options
(console or `s invoke`). EventBridge events name a request, not the resulting tags, so the
tag-change invocations below carry only which instances to re-read.
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
from ecs_lifecycle.timeparse import parse_zoned_time

MAX_EVENT_BYTES: Final = 1024 * 1024
# Real events nest about six levels (envelope, data, requestParameters, Tag, item); anything far
# deeper is refused before code that recurses (pydantic, json.dumps, logging) can meet it.
MAX_JSON_DEPTH: Final = 32
TAG_EVENT_NAMES: Final = frozenset({"TagResources", "UntagResources", "AddTags", "RemoveTags"})
_REMOVING_EVENT_NAMES: Final = frozenset({"UntagResources", "RemoveTags"})
STATE_CHANGE_TYPE: Final = "ecs:Instance:StateChange"
_API_CALL_SUFFIX: Final = ":ActionTrail:ApiCall"
_SUBJECT_INSTANCE: Final = re.compile(r"instance/(i-[0-9a-z]+)$")
_SUBJECT_REGION: Final = re.compile(r"^acs:ecs:([a-z0-9-]+):")
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
    if event.type.endswith(_API_CALL_SUFFIX):
        return _parse_api_call(event, data)
    raise InvalidInputError(
        "EventBridge event type",
        f"{_quoted(event.type)} is not handled "
        f"(expected {STATE_CHANGE_TYPE} or an ECS ActionTrail API call)",
    )


def _parse_state_change(event: _CloudEvent, data: dict[str, Any]) -> Invocation:
    nested = data.get("content")
    content: dict[str, Any] = nested if isinstance(nested, dict) else {}
    state = data.get("state") or content.get("state")
    instance_id = data.get("resourceId") or content.get("resourceId") or _subject_instance(event)
    if not isinstance(state, str) or not isinstance(instance_id, str):
        raise InvalidInputError(
            "EventBridge event data", "a state change without state or instance id"
        )
    return StateChangeInvocation(
        event_id=event.id,
        region=_event_region(event, data),
        instance_id=_checked_instance_id("EventBridge event data.resourceId", instance_id),
        state=state,
    )


def _parse_api_call(event: _CloudEvent, data: dict[str, Any]) -> Invocation:
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
    if isinstance(resource_type, str) and resource_type.lower() != "instance":
        return IgnoredInvocation(
            event_id=event.id, reason=f"the tag call was on a {resource_type}, not an instance"
        )
    ids = _instance_ids(event, data, parameters)
    if not ids:
        raise InvalidInputError("EventBridge event data", f"the {name} event names no instance")
    removed = _removed_keys(parameters) if name in _REMOVING_EVENT_NAMES else ()
    return TagChangeInvocation(
        event_id=event.id,
        region=_event_region(event, data),
        instance_ids=ids,
        event_name=str(name),
        removed_keys=removed,
    )


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
    """A list parameter in any of the shapes seen: `Name.N` keys, a list, or a JSON string."""
    values: list[str] = []
    direct = _embedded_json(
        f"EventBridge event data.requestParameters.{name}", parameters.get(name)
    )
    if isinstance(direct, list):
        values.extend(str(item) for item in direct)
    elif isinstance(direct, str):
        values.append(direct)
    indexed = sorted(
        (int(match.group("index")), value)
        for key, value in parameters.items()
        if (match := _INDEXED_KEY.match(key))
        and match.group("name") == name
        and not match.group("field")
    )
    values.extend(str(value) for _, value in indexed)
    return values


def _instance_ids(
    event: _CloudEvent, data: dict[str, Any], parameters: dict[str, Any]
) -> tuple[str, ...]:
    candidates = _listed(parameters, "ResourceId") + _listed(parameters, "InstanceId")
    referenced = data.get("referencedResources")
    if isinstance(referenced, dict):
        listed = referenced.get("ACS::ECS::Instance")
        if isinstance(listed, list):
            candidates.extend(str(item) for item in listed)
    subject = _subject_instance(event)
    if subject:
        candidates.append(subject)
    field = "EventBridge event instance id"
    return unique(
        _checked_instance_id(field, value) for value in candidates if value.startswith("i-")
    )


def _removed_keys(parameters: dict[str, Any]) -> tuple[str, ...] | None:
    if str(parameters.get("All", "")).lower() == "true":
        return None
    keys = _listed(parameters, "TagKey") + [
        str(value)
        for key, value in parameters.items()
        if (match := _INDEXED_KEY.match(key))
        and match.group("name") == "Tag"
        and match.group("field") == "Key"
    ]
    return tuple(keys) if keys else None


def _subject_instance(event: _CloudEvent) -> str | None:
    match = _SUBJECT_INSTANCE.search(event.subject or "")
    return match.group(1) if match else None


def _event_region(event: _CloudEvent, data: dict[str, Any]) -> str:
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
