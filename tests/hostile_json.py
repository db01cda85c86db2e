"""Deeply nested or huge JSON in each place an event carries JSON, for the parser and handler tests.

Python's JSON reader recurses (a RecursionError past about 1,000 levels) and reads no integer of
more than 4,300 digits (a ValueError); both must end as a refusal, never a traceback.
"""

from __future__ import annotations

import json
from typing import Any, Final

RAW: Final = "@RAW@"  # where a document below takes raw JSON text that json.dumps cannot write
HUGE_NUMBER: Final = "9" * 5000


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def with_raw(document: dict[str, Any], raw: str) -> str:
    """`document` as JSON text, with `raw` in place of the string RAW."""
    return json.dumps(document).replace(json.dumps(RAW), raw, 1)


def timer(payload: str) -> str:
    return json.dumps(
        {"triggerTime": "2026-11-26T00:00:00Z", "triggerName": "t", "payload": payload}
    )


def api_call(**data: Any) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "source": "acs.ecs",
        "id": "hostile-1",
        "type": "ecs:ActionTrail:ApiCall",
        "aliyunregionid": "cn-hangzhou",
        "data": {"eventName": "TagResources", "acsRegion": "cn-hangzhou", **data},
    }


# name: (event text, the field refused, what the refusal says)
DEEP_OR_HUGE: Final[dict[str, tuple[str, str, str]]] = {
    "deep manual options": (
        with_raw({"tags": {"env": RAW}}, nested(900)),
        "event",
        "nested more than",
    ),
    "deep beyond the reader": (
        with_raw({"tags": RAW}, nested(100_000)),
        "event",
        "nested more than",
    ),
    "deep timer payload": (
        timer(with_raw({"tags": RAW}, nested(900))),
        "timer payload",
        "nested more than",
    ),
    "deep timer payload beyond the reader": (
        timer(nested(50_000)),
        "timer payload",
        "nested more than",
    ),
    "deep EventBridge data": (
        with_raw(api_call(requestParameters=RAW), nested(900)),
        "event",
        "nested more than",
    ),
    "deep requestParameters string": (
        json.dumps(api_call(requestParameters=nested(50_000))),
        "EventBridge event data.requestParameters",
        "nested more than",
    ),
    "deep requestParameterJson": (
        json.dumps(api_call(requestParameterJson=nested(50_000))),
        "EventBridge event data.requestParameterJson",
        "nested more than",
    ),
    "deep ResourceId string": (
        json.dumps(api_call(requestParameters={"ResourceId": nested(50_000)})),
        "EventBridge event data.requestParameters.ResourceId",
        "nested more than",
    ),
    "huge number in options": (
        with_raw({"max_instances": RAW}, HUGE_NUMBER),
        "event",
        "too many digits",
    ),
    "huge number in timer payload": (
        timer(with_raw({"max_instances": RAW}, HUGE_NUMBER)),
        "timer payload",
        "too many digits",
    ),
    "huge number in EventBridge data": (
        with_raw(api_call(eventVersion=RAW), HUGE_NUMBER),
        "event",
        "too many digits",
    ),
    "huge number in requestParameters string": (
        json.dumps(api_call(requestParameters=with_raw({"All": RAW}, HUGE_NUMBER))),
        "EventBridge event data.requestParameters",
        "too many digits",
    ),
}
