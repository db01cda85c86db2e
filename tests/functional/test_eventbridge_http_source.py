"""docs/notifications.md's EventBridge rule patterns against what an HTTP/HTTPS source delivers.

EventBridge turns each request its HTTP/HTTPS event source accepts into an event of its own
(`type` `eventbridge:Events:HTTPEvent`, `source` the event source's name) with the request under
`data` and the posted body in `data.body` (the event example of
https://help.aliyun.com/document_detail/413974.htm). The fake source below wraps what the real
`webhook` channel posts the same way; the patterns are read from the doc itself.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any, Final

from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ecs_lifecycle.notify.channels import CHANNEL_TYPES
from ecs_lifecycle.notify.message import MessageKind, Notification
from ecs_lifecycle.notify_settings import ChannelConfig, ChannelKind
from tests.deploy.checks import event_matches

REPO: Final = Path(__file__).resolve().parents[2]
DOC: Final = REPO / "docs" / "notifications.md"
SAMPLE: Final = REPO / "tests" / "samples" / "eventbridge-http-source-notice.json"
SOURCE_NAME: Final = "ecs-lifecycle"  # the name the doc gives the event source
HTTP_EVENT: Final = "eventbridge:Events:HTTPEvent"
PATH: Final = "/webhook/putEvents"


def _recipe_patterns() -> list[dict[str, Any]]:
    """The JSON patterns in the doc's webhook section, in order."""
    text = DOC.read_text()
    start = text.index("### Any HTTP endpoint, as a CloudEvent")
    section = text[start : text.index("\n## ", start)]
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)\n```", section, re.S)]


class FakeHttpSource:
    """An EventBridge HTTP/HTTPS event source: wraps each POST as the documented event."""

    def __init__(self) -> None:
        self.delivered: list[dict[str, Any]] = []

    def __call__(self, request: Request) -> Response:
        body_text = request.get_data(as_text=True)
        try:
            body: Any = json.loads(body_text)
        except ValueError:
            body = body_text
        self.delivered.append(
            {
                "datacontenttype": "application/json",
                "aliyunaccountid": "123456789012****",
                "data": {
                    "headers": {key: value for key, value in request.headers.items()},
                    "path": request.path,
                    "body": body,
                    "httpMethod": request.method,
                    "queryString": dict(request.args),
                },
                "subject": "acs:eventbridge:cn-hangzhou:123456789012****:eventbus/"
                f"{SOURCE_NAME}/eventsource/{SOURCE_NAME}",
                "aliyunoriginalaccountid": "123456789012****",
                "source": SOURCE_NAME,
                "type": HTTP_EVENT,
                "aliyunpublishtime": "2026-11-26T13:07:01.097Z",
                "specversion": "1.0",
                "aliyuneventbusname": SOURCE_NAME,
                "id": str(uuid.uuid4()),
                "time": "2026-11-26T21:07:01.093+08:00",
                "aliyunregionid": "cn-hangzhou",
                "aliyunpublishaddr": "203.0.113.10",
            }
        )
        return Response(json.dumps({"code": "Success"}), content_type="application/json")


def _summary() -> dict[str, Any]:
    return {
        "function": "release",
        "dry_run": True,
        "trigger": "timer:nightly-release-notice",
        "regions": ["cn-hangzhou"],
        "counts": {"done": 0, "planned": 1, "skipped": 0, "failed": 0},
        "instances": [
            {
                "instance_id": "i-bp1dev000000000001",
                "region": "cn-hangzhou",
                "action": "release",
                "outcome": "planned",
                "reason": "matches tags env=dev",
                "owner": "alice",
                "name": "dev-box-1",
            }
        ],
        "notes": [],
    }


def _delivered(httpserver: HTTPServer, kind: MessageKind) -> dict[str, Any]:
    source = FakeHttpSource()
    httpserver.expect_request(PATH, method="POST").respond_with_handler(source)
    config = ChannelConfig(ChannelKind.WEBHOOK, 1, SecretStr(httpserver.url_for(PATH)), None)
    channel = CHANNEL_TYPES[ChannelKind.WEBHOOK](config, sleep=lambda _seconds: None)
    channel.send(Notification(kind, _summary()))
    (event,) = source.delivered
    return event


def test_the_doc_gives_one_pattern_for_every_message_and_one_for_notices() -> None:
    every, notices = _recipe_patterns()
    assert every == {"source": [SOURCE_NAME], "type": [HTTP_EVENT]}
    assert notices["data"] == {"body": {"type": ["ecs-lifecycle.notice"]}}


def test_what_eventbridge_delivers_matches_the_doc_s_patterns(httpserver: HTTPServer) -> None:
    every, notices = _recipe_patterns()
    notice = _delivered(httpserver, MessageKind.NOTICE)
    assert notice["data"]["body"]["type"] == "ecs-lifecycle.notice"
    assert event_matches(every, notice)
    assert event_matches(notices, notice)
    httpserver.clear()
    report = _delivered(httpserver, MessageKind.REPORT)
    assert event_matches(every, report)
    assert not event_matches(notices, report)


def test_a_pattern_on_our_own_type_at_the_top_level_matches_nothing(
    httpserver: HTTPServer,
) -> None:
    """The recipe as it was: filtering on the CloudEvent's `type` where EventBridge has its own."""
    notice = _delivered(httpserver, MessageKind.NOTICE)
    assert not event_matches({"type": ["ecs-lifecycle.notice"]}, notice)


def test_the_kept_sample_has_the_delivered_shape_and_our_cloudevent_in_its_body(
    httpserver: HTTPServer,
) -> None:
    sample = json.loads(SAMPLE.read_text())
    delivered = _delivered(httpserver, MessageKind.NOTICE)
    assert set(sample) == set(delivered)
    assert set(sample["data"]) == set(delivered["data"])
    body = sample["data"]["body"]
    assert set(body) == set(delivered["data"]["body"])
    assert (body["specversion"], body["source"], body["type"]) == (
        "1.0",
        "ecs-lifecycle/release",
        "ecs-lifecycle.notice",
    )
    assert body["data"]["instances"][0]["instance_id"] == "i-bp1dev000000000001"
    every, notices = _recipe_patterns()
    assert event_matches(every, sample)
    assert event_matches(notices, sample)


def test_a_body_eventbridge_kept_as_a_string_still_passes_the_first_pattern() -> None:
    """The UNCONFIRMED case the doc names: `body` as a string; the first pattern still holds."""
    sample = json.loads(SAMPLE.read_text())
    as_string = {**sample, "data": {**sample["data"], "body": json.dumps(sample["data"]["body"])}}
    every, notices = _recipe_patterns()
    assert event_matches(every, as_string)
    assert not event_matches(notices, as_string)
