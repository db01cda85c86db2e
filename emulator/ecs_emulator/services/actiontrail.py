"""The ActionTrail room (API 2020-07-06): LookupEvents over the records of
:mod:`ecs_emulator.actiontrail`.

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
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Final

from ecs_emulator.actiontrail import TIME_FORMAT as _TIME_FORMAT
from ecs_emulator.actiontrail import TrailEvent
from ecs_emulator.errors import ApiError, invalid_parameter
from ecs_emulator.service import Body, Call, Handler, Service
from ecs_emulator.wire import Params

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ecs_emulator.state import FleetState

API_VERSION: Final = "2020-07-06"
RETENTION: Final = timedelta(days=90)
MAX_RANGE: Final = timedelta(days=30)
DEFAULT_RANGE: Final = timedelta(days=7)
MAX_RESULTS: Final = 50
DEFAULT_RESULTS: Final = 20
LOOKUP_KEYS: Final = frozenset(
    {"EventName", "ServiceName", "ResourceName", "ResourceType", "EventType", "EventRW", "EventId"}
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

SERVICE: Final = Service(name="Actiontrail", api_version=API_VERSION, operations=OPERATIONS)
