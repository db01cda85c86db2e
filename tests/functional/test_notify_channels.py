"""Each notification channel against a local server that answers as the real service does.

The fake services check what their documentation asks for (the payload, the signature, the
size limit) and answer as the service does, failures included: DingTalk and WeCom with HTTP 200
and an `errcode`, Feishu with HTTP 200 and a `code` (19021: bad signature), Slack with 4xx text.
Retry waits go to an injected sleep: no test waits for a backoff. docs/notifications.md cites
each service's documentation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import socket
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ecs_lifecycle.notify.channel import Channel, Delivery, NotificationError
from ecs_lifecycle.notify.channels import CHANNEL_TYPES, build_channels
from ecs_lifecycle.notify.memory import InMemoryChannel
from ecs_lifecycle.notify.message import KeepHint, MessageKind, Notification
from ecs_lifecycle.notify.send import send_all
from ecs_lifecycle.notify.transport import Budget, ChannelRetry
from ecs_lifecycle.notify_settings import (
    ChannelConfig,
    ChannelKind,
    parse_notify_settings,
)

TOKEN = "tok3n" + "-not-a-real-one-0123456789"
SECRET = "SEC" + "0123456789abcdef-not-real"  # pragma: allowlist secret
WRONG_SECRET = "SEC" + "fedcba9876543210-wrong"  # pragma: allowlist secret
NOW = datetime(2026, 12, 1, 17, 0, tzinfo=timezone.utc)
NOW_MS = str(int(NOW.timestamp() * 1000))
NOW_S = str(int(NOW.timestamp()))
KEEP = KeepHint("keep-until", "2026-12-03")
PATHS = {
    ChannelKind.DINGTALK: "/robot/send",
    ChannelKind.FEISHU: f"/open-apis/bot/v2/hook/{TOKEN}",
    ChannelKind.WECOM: "/cgi-bin/webhook/send",
    ChannelKind.SLACK: f"/services/T000/B000/{TOKEN}",
    ChannelKind.WEBHOOK: "/webhook/putEvents",
}
QUERIES = {
    ChannelKind.DINGTALK: f"?access_token={TOKEN}",
    ChannelKind.WECOM: f"?key={TOKEN}",
    ChannelKind.WEBHOOK: f"?token={TOKEN}",
}


class FixedClock:
    def now(self) -> datetime:
        return NOW

    def sleep(self, seconds: float) -> None:
        raise AssertionError("channels sleep through their injected sleep")


def summary_of(count: int, **fields: Any) -> dict[str, Any]:
    instances = [
        {
            "instance_id": f"i-{n:04d}",
            "region": "cn-hangzhou",
            "action": "release",
            "outcome": "planned",
            "reason": "matches tags env=dev",
            "owner": ("alice", "bob", None)[n % 3],
            "name": f"dev-box-{n}",
        }
        for n in range(count)
    ]
    return {
        "function": "release",
        "dry_run": True,
        "trigger": "timer:nightly",
        "regions": ["cn-hangzhou"],
        "counts": {"done": 0, "planned": count, "skipped": 0, "failed": 0},
        "instances": instances,
        "notes": [],
        **fields,
    }


def notice(count: int = 3) -> Notification:
    return Notification(
        MessageKind.NOTICE, summary_of(count), keep=KEEP, when="at 2026-12-02 02:00 +08:00"
    )


def url_of(server: HTTPServer, kind: ChannelKind) -> str:
    return server.url_for(PATHS[kind]) + QUERIES.get(kind, "")


def make_channel(
    server: HTTPServer,
    kind: ChannelKind,
    *,
    secret: str | None = None,
    sleeps: list[float] | None = None,
    retry: ChannelRetry | None = None,
) -> Any:
    config = ChannelConfig(
        kind, 1, SecretStr(url_of(server, kind)), SecretStr(secret) if secret else None
    )
    return CHANNEL_TYPES[kind](
        config,
        clock=FixedClock(),
        sleep=(sleeps if sleeps is not None else []).append,
        retry=retry or ChannelRetry(timeout=5),
    )


def json_answer(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def posted(server: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(request.get_data()) for request, _ in server.log]


# --- the fake services ---------------------------------------------------------------------------


def dingtalk(secret: str | None) -> Callable[[Request], Response]:
    """A DingTalk custom robot: the token in the URL, the signature when the robot has a secret."""

    def handle(request: Request) -> Response:
        if request.args.get("access_token") != TOKEN:
            return json_answer({"errcode": 300001, "errmsg": "token is not exist"})
        if secret is not None:
            timestamp = request.args.get("timestamp", "")
            expected = base64.b64encode(
                hmac.new(
                    secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            # As documented, the base64 is URL-encoded: read the query as it was sent.
            raw = dict(part.split("=", 1) for part in request.query_string.decode().split("&"))
            if timestamp != NOW_MS or raw.get("sign") != urllib.parse.quote_plus(expected):
                return json_answer({"errcode": 310000, "errmsg": "sign not match"})
        body = request.get_json()
        markdown = body.get("markdown", {})
        if body.get("msgtype") != "markdown" or not markdown.get("title") or not markdown["text"]:
            return json_answer({"errcode": 40035, "errmsg": "missing parameter"})
        return json_answer({"errcode": 0, "errmsg": "ok"})

    return handle


def feishu(secret: str | None) -> Callable[[Request], Response]:
    """A Feishu custom bot: timestamp (seconds) and sign in the body when it has a secret."""

    def handle(request: Request) -> Response:
        body = request.get_json()
        if secret is not None:
            timestamp = body.get("timestamp", "")
            key = f"{timestamp}\n{secret}".encode()
            expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            if timestamp != NOW_S or body.get("sign") != expected:
                return json_answer(
                    {
                        "code": 19021,
                        "data": {},
                        "msg": "sign match fail or timestamp is not within one hour "
                        "from current time",
                    }
                )
        if body.get("msg_type") != "text" or not body.get("content", {}).get("text"):
            return json_answer({"code": 9499, "data": {}, "msg": "Bad Request"})
        return json_answer({"code": 0, "data": {}, "msg": "success"})

    return handle


def wecom(request: Request) -> Response:
    """A WeCom group robot: markdown content of at most 4,096 bytes of UTF-8."""
    if request.args.get("key") != TOKEN:
        return json_answer({"errcode": 93000, "errmsg": "invalid webhook url"})
    body = request.get_json()
    content = body.get("markdown", {}).get("content", "")
    if body.get("msgtype") != "markdown" or not content:
        return json_answer({"errcode": 40008, "errmsg": "invalid message type"})
    if len(content.encode()) > 4096:
        return json_answer({"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"})
    return json_answer({"errcode": 0, "errmsg": "ok"})


def slack(request: Request) -> Response:
    """A Slack incoming webhook: `ok`, or a 4xx with the error as plain text."""
    body = request.get_json()
    blocks = body.get("blocks", [])
    too_long = any(len(block.get("text", {}).get("text", "")) > 3000 for block in blocks)
    if not body.get("text") or not blocks or len(blocks) > 50 or too_long:
        return Response("invalid_blocks", status=400, content_type="text/plain")
    return Response("ok", status=200, content_type="text/plain")


def cloudevents(request: Request) -> Response:
    """An HTTP endpoint taking CloudEvents 1.0 in structured mode (EventBridge HTTP source)."""
    event = json.loads(request.get_data())
    required = {"specversion", "id", "source", "type"}
    if not request.content_type.startswith("application/cloudevents+json") or not (
        required <= event.keys() and event["specversion"] == "1.0"
    ):
        return Response("not a CloudEvent", status=400)
    return json_answer({"ok": True}, status=200)


# --- each service as documented ------------------------------------------------------------------


def test_dingtalk_signs_the_url_and_sends_markdown(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK], method="POST").respond_with_handler(
        dingtalk(SECRET)
    )
    channel = make_channel(httpserver, ChannelKind.DINGTALK, secret=SECRET)

    delivery = channel.send(notice())

    assert delivery == Delivery("dingtalk#1", 1, 0)
    [request] = [request for request, _ in httpserver.log]
    assert request.args["timestamp"] == NOW_MS
    assert "sign=" in request.query_string.decode()
    [body] = posted(httpserver)
    assert body["markdown"]["title"] == "ecs-lifecycle notice: release at 2026-12-02 02:00 +08:00"
    text = body["markdown"]["text"]
    assert text.startswith("### ecs-lifecycle notice: release")
    assert "**Owner: alice**" in text
    # DingTalk shows backticks as typed: the command is plain, ready to copy.
    assert "\n\n  aliyun ecs TagResources --RegionId cn-hangzhou" in text


def test_dingtalk_without_a_secret_sends_no_signature(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK], method="POST").respond_with_handler(
        dingtalk(None)
    )
    make_channel(httpserver, ChannelKind.DINGTALK).send(notice())
    [request] = [request for request, _ in httpserver.log]
    assert set(request.args) == {"access_token"}


def test_dingtalk_reads_the_body_of_its_http_200_failure(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK], method="POST").respond_with_handler(
        dingtalk(SECRET)
    )
    sleeps: list[float] = []
    channel = make_channel(httpserver, ChannelKind.DINGTALK, secret=WRONG_SECRET, sleeps=sleeps)

    with pytest.raises(NotificationError) as failed:
        channel.send(notice())

    assert str(failed.value) == (
        "notification to dingtalk#1 failed: errcode 310000: sign not match"
    )
    assert len(httpserver.log) == 1, "a bad signature is final: no retry"
    assert sleeps == []


def test_feishu_signs_the_body_and_sends_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.FEISHU], method="POST").respond_with_handler(
        feishu(SECRET)
    )
    channel = make_channel(httpserver, ChannelKind.FEISHU, secret=SECRET)

    assert channel.send(notice()).messages == 1

    [body] = posted(httpserver)
    assert body["timestamp"] == NOW_S
    assert body["msg_type"] == "text"
    assert body["content"]["text"].startswith("ecs-lifecycle notice: release")
    assert "Owner: bob" in body["content"]["text"]


def test_feishu_reports_its_bad_signature_code(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.FEISHU], method="POST").respond_with_handler(
        feishu(SECRET)
    )
    channel = make_channel(httpserver, ChannelKind.FEISHU, secret=WRONG_SECRET)

    with pytest.raises(NotificationError, match=r"feishu#1 failed: code 19021: sign match fail"):
        channel.send(notice())


def test_wecom_keeps_each_message_within_4096_bytes_sent_in_order(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WECOM], method="POST").respond_with_handler(wecom)
    channel = make_channel(httpserver, ChannelKind.WECOM)

    delivery = channel.send(notice(25))

    contents = [body["markdown"]["content"] for body in posted(httpserver)]
    assert delivery.messages == len(contents) > 1
    assert all(body["msgtype"] == "markdown" for body in posted(httpserver))
    assert all(len(content.encode()) <= 4096 for content in contents)
    for part, content in enumerate(contents, start=1):
        assert content.startswith(
            f"### ecs-lifecycle notice: release at 2026-12-02 02:00 +08:00 ({part}/"
        )
    listed = [
        line.split("(")[1].split(",")[0]
        for content in contents
        for line in content.splitlines()
        if line.startswith("- ")
    ]
    # Per owner (alice, bob, then no owner), each in its summary order, none twice.
    by_owner = [f"i-{n:04d}" for owner in (0, 1, 2) for n in range(25) if n % 3 == owner]
    assert listed == by_owner[: len(listed)]
    assert delivery.left_out == 25 - len(listed)


def test_wecom_reports_its_errcode(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WECOM], method="POST").respond_with_json(
        {"errcode": 93000, "errmsg": "invalid webhook url"}
    )
    with pytest.raises(NotificationError, match=r"wecom#1 failed: errcode 93000: invalid webhook"):
        make_channel(httpserver, ChannelKind.WECOM).send(notice())


def test_slack_sends_text_and_blocks_and_reads_its_4xx_text(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.SLACK], method="POST").respond_with_handler(slack)
    channel = make_channel(httpserver, ChannelKind.SLACK)

    assert channel.send(notice(120)).messages > 1

    bodies = posted(httpserver)
    first = bodies[0]
    assert first["text"].startswith("ecs-lifecycle notice: release")
    assert first["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": first["text"]},
    }
    assert all(len(body["blocks"]) <= 50 for body in bodies)
    sections = [block["text"]["text"] for block in first["blocks"][1:]]
    assert "*Owner: alice*" in sections
    assert any("`aliyun ecs TagResources" in section for section in sections)

    httpserver.clear()
    httpserver.expect_request(PATHS[ChannelKind.SLACK], method="POST").respond_with_data(
        "invalid_payload", status=400, content_type="text/plain"
    )
    with pytest.raises(NotificationError, match=r"slack#1 failed: HTTP 400: invalid_payload$"):
        channel.send(notice())
    assert len(httpserver.log) == 1, "a 4xx is final"


def test_webhook_sends_the_summary_as_a_cloudevent(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WEBHOOK], method="POST").respond_with_handler(
        cloudevents
    )
    report = Notification(MessageKind.REPORT, summary_of(4))

    make_channel(httpserver, ChannelKind.WEBHOOK).send(report)

    [request] = [request for request, _ in httpserver.log]
    assert request.content_type == "application/cloudevents+json; charset=utf-8"
    [event] = posted(httpserver)
    assert event["specversion"] == "1.0"
    assert event["type"] == "ecs-lifecycle.report"
    assert event["source"] == "ecs-lifecycle/release"
    assert event["time"] == NOW.isoformat()
    assert event["datacontenttype"] == "application/json"
    assert event["data"] == report.summary
    assert "part" not in event


def test_webhook_splits_a_large_summary_into_events_in_order(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WEBHOOK], method="POST").respond_with_handler(
        cloudevents
    )
    report = Notification(MessageKind.DIGEST, summary_of(800))

    delivery = make_channel(httpserver, ChannelKind.WEBHOOK).send(report)

    events = posted(httpserver)
    assert delivery.messages == len(events) > 1
    assert [(event["part"], event["parts"]) for event in events] == [
        (n, len(events)) for n in range(1, len(events) + 1)
    ]
    assert len({event["id"] for event in events}) == len(events)
    assert all(len(json.dumps(event).encode()) <= 60_000 for event in events)
    rejoined = [instance for event in events for instance in event["data"]["instances"]]
    assert rejoined == report.summary["instances"]
    assert all(event["data"]["counts"] == report.summary["counts"] for event in events)


# --- transient failures: retried, boundedly, without waiting for real -----------------------------


def test_429_and_5xx_are_retried_honouring_retry_after(httpserver: HTTPServer) -> None:
    path = PATHS[ChannelKind.SLACK]
    httpserver.expect_ordered_request(path).respond_with_data("busy", status=503)
    httpserver.expect_ordered_request(path).respond_with_data(
        "rate_limited", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request(path).respond_with_data("ok")
    sleeps: list[float] = []

    make_channel(httpserver, ChannelKind.SLACK, sleeps=sleeps).send(notice())

    assert len(httpserver.log) == 3
    assert sleeps == [1.0, 7.0]


def test_retries_are_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WECOM]).respond_with_data("oops", status=500)
    sleeps: list[float] = []
    channel = make_channel(
        httpserver,
        ChannelKind.WECOM,
        sleeps=sleeps,
        retry=ChannelRetry(attempts=4, base_delay=1.0, max_delay=3.0, timeout=5),
    )

    with pytest.raises(NotificationError, match=r"wecom#1 failed: HTTP 500, 4 attempts$"):
        channel.send(notice())

    assert len(httpserver.log) == 4
    assert sleeps == [1.0, 2.0, 3.0]


def test_a_long_retry_after_is_capped(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.WEBHOOK]).respond_with_data(
        "", status=429, headers={"Retry-After": "3600"}
    )
    sleeps: list[float] = []
    retry = ChannelRetry(attempts=2, max_retry_after=30.0, timeout=5)
    with pytest.raises(NotificationError, match="HTTP 429, 2 attempts"):
        make_channel(httpserver, ChannelKind.WEBHOOK, sleeps=sleeps, retry=retry).send(notice())
    assert sleeps == [30.0]


@pytest.fixture
def threaded_server() -> Iterator[HTTPServer]:
    server = HTTPServer(threaded=True)
    server.start()
    yield server
    server.clear()
    server.stop()


def test_a_timeout_is_retried(threaded_server: HTTPServer) -> None:
    released = threading.Event()
    calls: list[int] = []

    def slow_once(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            released.wait(timeout=10)  # answers only after the client gave up and slept
        return json_answer({"errcode": 0, "errmsg": "ok"})

    threaded_server.expect_request(PATHS[ChannelKind.WECOM]).respond_with_handler(slow_once)
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        released.set()

    config = ChannelConfig(
        ChannelKind.WECOM, 1, SecretStr(url_of(threaded_server, ChannelKind.WECOM))
    )
    channel = CHANNEL_TYPES[ChannelKind.WECOM](
        config, clock=FixedClock(), sleep=sleep, retry=ChannelRetry(timeout=0.3)
    )

    assert channel.send(notice()).messages == 1
    assert sleeps == [1.0]
    assert len(calls) == 2


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


def test_a_server_that_never_answers_fails_after_bounded_attempts(silent_port: int) -> None:
    config = ChannelConfig(
        ChannelKind.FEISHU, 2, SecretStr(f"http://127.0.0.1:{silent_port}/hook/{TOKEN}")
    )
    sleeps: list[float] = []
    channel = CHANNEL_TYPES[ChannelKind.FEISHU](
        config, clock=FixedClock(), sleep=sleeps.append, retry=ChannelRetry(attempts=3, timeout=0.1)
    )

    with pytest.raises(NotificationError) as failed:
        channel.send(notice())

    assert str(failed.value) == (
        "notification to feishu#2 failed: no answer within 0.1 s, 3 attempts"
    )
    assert sleeps == [1.0, 2.0]


def test_a_redirect_is_an_answer_not_a_place_to_go(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK]).respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/elsewhere")}
    )
    with pytest.raises(NotificationError, match=r"dingtalk#1 failed: HTTP 302"):
        make_channel(httpserver, ChannelKind.DINGTALK).send(notice())
    assert len(httpserver.log) == 1


# --- secrets --------------------------------------------------------------------------------------


def test_no_url_token_or_secret_in_any_error_log_line_or_repr(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture, silent_port: int
) -> None:
    """Every failure there is, with a service that echoes the request URL in its error."""
    caplog.set_level(logging.DEBUG)

    def echo_url(request: Request) -> Response:
        return Response(f"invalid_token for {request.url}", status=403)

    def echo_in_errmsg(request: Request) -> Response:
        return json_answer({"errcode": 300001, "errmsg": f"token {TOKEN} secret {SECRET}"})

    httpserver.expect_request(PATHS[ChannelKind.SLACK]).respond_with_handler(echo_url)
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK]).respond_with_handler(echo_in_errmsg)
    httpserver.expect_request(PATHS[ChannelKind.FEISHU]).respond_with_handler(feishu(SECRET))
    httpserver.expect_request(PATHS[ChannelKind.WECOM]).respond_with_data("", status=502)
    environ = {
        "NOTIFY_URLS": ",".join(
            [
                f"slack={url_of(httpserver, ChannelKind.SLACK)}",
                f"dingtalk={url_of(httpserver, ChannelKind.DINGTALK)}",
                f"feishu={url_of(httpserver, ChannelKind.FEISHU)}",
                f"wecom={url_of(httpserver, ChannelKind.WECOM)}",
                f"webhook=http://127.0.0.1:{silent_port}/putEvents?token={TOKEN}",
            ]
        ),
        "NOTIFY_DINGTALK_SECRET": SECRET,
        "NOTIFY_FEISHU_SECRET": WRONG_SECRET,
    }
    settings = parse_notify_settings(environ)
    channels = build_channels(
        settings, clock=FixedClock(), sleep=lambda _s: None, retry=ChannelRetry(timeout=0.1)
    )

    outcomes = send_all(channels, notice())

    assert [outcome.delivered for outcome in outcomes] == [False] * 5
    errors = []
    for channel in channels:
        with pytest.raises(NotificationError) as failed:
            channel.send(notice())
        errors.append(failed.value)
    seen = [
        repr(settings),
        *(repr(channel) for channel in channels),
        *(json.dumps(outcome.to_dict()) for outcome in outcomes),
        *(f"{error} {error!r} {error.problem}" for error in errors),
        # Everything logged but the fake services' own access log.
        *(record.getMessage() for record in caplog.records if record.name != "werkzeug"),
    ]
    text = "\n".join(seen)
    assert "invalid_token for ***" in text, "the service's error is kept, the URL in it hidden"
    for hidden in (TOKEN, SECRET, WRONG_SECRET, "access_token=", f":{silent_port}"):
        assert hidden not in text


def test_a_url_urllib_cannot_use_is_refused_without_quoting_it() -> None:
    """Built directly, past parse_notify_settings: urllib's own error would quote the URL."""
    config = ChannelConfig(ChannelKind.SLACK, 1, SecretStr(f"hooks.slack.com/services/{TOKEN}"))
    channel = CHANNEL_TYPES[ChannelKind.SLACK](config, clock=FixedClock(), sleep=lambda _s: None)

    with pytest.raises(NotificationError) as failed:
        channel.send(notice())

    assert str(failed.value) == (
        "notification to slack#1 failed: the URL cannot be used (ValueError)"
    )


# --- the contract every channel keeps, the twin included ------------------------------------------


@dataclass
class Harness:
    """One channel of each kind, a service that can be told to refuse, and what it received."""

    channel: Channel
    refuse: Callable[[], None]
    received: Callable[[], list[str]]


def _texts(kind: ChannelKind, server: HTTPServer) -> list[str]:
    texts = []
    for body in posted(server):
        if kind is ChannelKind.DINGTALK:
            texts.append(body["markdown"]["text"])
        elif kind is ChannelKind.FEISHU:
            texts.append(body["content"]["text"])
        elif kind is ChannelKind.WECOM:
            texts.append(body["markdown"]["content"])
        elif kind is ChannelKind.SLACK:
            texts.append("\n".join(block["text"]["text"] for block in body["blocks"]))
        else:
            texts.append(json.dumps(body["data"]))
    return texts


_SERVICES: dict[ChannelKind, tuple[Callable[[Request], Response], Response]] = {
    ChannelKind.DINGTALK: (dingtalk(SECRET), json_answer({"errcode": 310000, "errmsg": "no"})),
    ChannelKind.FEISHU: (feishu(SECRET), json_answer({"code": 19021, "msg": "sign match fail"})),
    ChannelKind.WECOM: (wecom, json_answer({"errcode": 93000, "errmsg": "invalid webhook url"})),
    ChannelKind.SLACK: (slack, Response("channel_not_found", status=404)),
    ChannelKind.WEBHOOK: (cloudevents, Response("no such source", status=404)),
}


@pytest.fixture(
    params=[*ChannelKind, "memory"], ids=lambda param: str(getattr(param, "value", param))
)
def harness(request: pytest.FixtureRequest, httpserver: HTTPServer) -> Harness:
    if request.param == "memory":
        twin = InMemoryChannel("memory#1")

        def refuse_twin() -> None:
            twin.fail_with = "refused"

        return Harness(twin, refuse_twin, lambda: twin.messages)
    kind: ChannelKind = request.param
    handler, refusal = _SERVICES[kind]
    httpserver.expect_request(PATHS[kind], method="POST").respond_with_handler(handler)
    secret = SECRET if kind in (ChannelKind.DINGTALK, ChannelKind.FEISHU) else None

    def refuse() -> None:
        httpserver.clear()
        httpserver.expect_request(PATHS[kind]).respond_with_response(refusal)

    return Harness(
        make_channel(httpserver, kind, secret=secret), refuse, lambda: _texts(kind, httpserver)
    )


def test_contract_a_notification_arrives_whole_and_in_order(harness: Harness) -> None:
    sent = notice(6)

    delivery = harness.channel.send(sent)

    assert delivery.channel == harness.channel.label
    assert delivery.messages == len(harness.received()) >= 1
    assert delivery.left_out == 0
    text = "\n".join(harness.received())
    positions = [text.index(f"i-{n:04d}") for n in (0, 3, 1, 4, 2, 5)]  # alice, bob, no owner
    if harness.channel.label.startswith("webhook"):
        positions.sort()  # the CloudEvent carries the summary as it is
    assert positions == sorted(positions)
    assert "keep-until" in text or harness.channel.label.startswith("webhook")


def test_contract_a_refusal_is_a_notification_error_naming_the_channel(harness: Harness) -> None:
    harness.refuse()

    with pytest.raises(NotificationError) as failed:
        harness.channel.send(notice())

    assert failed.value.channel == harness.channel.label
    assert str(failed.value).startswith(f"notification to {harness.channel.label} failed: ")
    [outcome] = send_all([harness.channel], notice())
    assert outcome.delivered is False
    assert outcome.error == failed.value.problem


# --- each service's size limit, on the whole body as sent (issue 24) -----------------------------

# What each fake service takes, in bytes, and what it measures: the whole body, or WeCom's
# markdown content. docs/notifications.md cites each figure (or says UNCONFIRMED).
BODY_LIMITS: dict[ChannelKind, int] = {
    ChannelKind.DINGTALK: 20_000,  # errcode 460101 beyond
    ChannelKind.FEISHU: 18_000,  # UNCONFIRMED 20 KB, kept under
    ChannelKind.WECOM: 4_096,  # markdown.content, errcode 40058 beyond
    ChannelKind.SLACK: 12_000,  # UNCONFIRMED: kept well under 40,000 characters
    ChannelKind.WEBHOOK: 64_000,  # our own choice
}


def measured(kind: ChannelKind, request: Request) -> int:
    if kind is ChannelKind.WECOM:
        return len(json.loads(request.get_data())["markdown"]["content"].encode())
    return len(request.get_data())


def large_notice(count: int) -> Notification:
    """Names and reasons with quotes, backslashes and CJK: their JSON escapes and UTF-8 cost
    more than their characters."""
    summary = summary_of(count)
    for n, entry in enumerate(summary["instances"]):
        entry["name"] = f'开发机-"{n}"\\box'
        entry["reason"] = f'matches tags env=dev; owner said "keep 到 {n}"\tplease'
    return Notification(MessageKind.NOTICE, summary, keep=KEEP, when="at 2026-12-02 02:00 +08:00")


@pytest.mark.parametrize("kind", list(ChannelKind), ids=lambda kind: kind.value)
def test_a_400_instance_notice_never_sends_a_body_over_the_service_s_limit(
    httpserver: HTTPServer, kind: ChannelKind
) -> None:
    limit = BODY_LIMITS[kind]
    sizes: list[int] = []

    def service(request: Request) -> Response:
        sizes.append(measured(kind, request))
        if sizes[-1] > limit:
            return json_answer({"errcode": 460101, "code": 460101, "errmsg": "message too long"})
        return json_answer({"errcode": 0, "code": 0, "errmsg": "ok", "msg": "ok"})

    httpserver.expect_request(PATHS[kind], method="POST").respond_with_handler(service)

    delivery = make_channel(httpserver, kind).send(large_notice(400))

    assert delivery.messages == len(sizes) >= 2
    assert max(sizes) <= limit
    # At the limit, not far under it: the budget is spent, not wasted.
    assert max(sizes) > limit * 0.85


# --- rate limits: retried within the budget, and paced across a run (issue 24) -------------------

RATE_LIMITED: dict[ChannelKind, dict[str, Any]] = {
    ChannelKind.DINGTALK: {
        "errcode": 130101,
        "errmsg": "send too fast, exceed 20 times per minute",
    },
    ChannelKind.WECOM: {"errcode": 45009, "errmsg": "api freq out of limit"},
    ChannelKind.FEISHU: {"code": 11232, "msg": "frequency limited psm", "data": {}},
}
ACCEPTED: dict[ChannelKind, dict[str, Any]] = {
    ChannelKind.DINGTALK: {"errcode": 0, "errmsg": "ok"},
    ChannelKind.WECOM: {"errcode": 0, "errmsg": "ok"},
    ChannelKind.FEISHU: {"code": 0, "msg": "success", "data": {}},
}


class StepClock:
    """A clock that moves only when slept on: waits cost run time, never real time."""

    def __init__(self) -> None:
        self.at = NOW

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


@pytest.mark.parametrize("kind", list(RATE_LIMITED), ids=lambda kind: kind.value)
def test_a_rate_limit_answer_is_retried_after_a_wait(
    httpserver: HTTPServer, kind: ChannelKind
) -> None:
    httpserver.expect_ordered_request(PATHS[kind]).respond_with_json(RATE_LIMITED[kind])
    httpserver.expect_ordered_request(PATHS[kind]).respond_with_json(ACCEPTED[kind])
    sleeps: list[float] = []

    delivery = make_channel(httpserver, kind, sleeps=sleeps).send(notice())

    assert delivery.messages == 1
    assert len(httpserver.log) == 2
    assert sleeps == [10.0], "a rate limit waits longer than a 5xx"


def test_a_rate_limit_that_outlasts_the_budget_stops_in_time_and_says_so(
    httpserver: HTTPServer,
) -> None:
    httpserver.expect_request(PATHS[ChannelKind.DINGTALK]).respond_with_json(
        RATE_LIMITED[ChannelKind.DINGTALK]
    )
    clock = StepClock()
    config = ChannelConfig(
        ChannelKind.DINGTALK, 1, SecretStr(url_of(httpserver, ChannelKind.DINGTALK))
    )
    channel = CHANNEL_TYPES[ChannelKind.DINGTALK](config, clock=clock, sleep=clock.sleep)
    budget = Budget.until(NOW + timedelta(seconds=25), clock)

    with pytest.raises(NotificationError) as failed:
        channel.send(notice(), budget)

    # 10 s waited after the first 130101; the next wait (20 s) no longer fits the 15 s left.
    assert len(httpserver.log) == 2
    assert clock.at == NOW + timedelta(seconds=10)
    assert failed.value.out_of_time is True
    assert "errcode 130101" in failed.value.problem
    assert "time budget" in failed.value.problem


def _request_times(server: HTTPServer, clock: StepClock, kind: ChannelKind) -> list[datetime]:
    times: list[datetime] = []

    def robot(request: Request) -> Response:
        times.append(clock.now())
        return json_answer(ACCEPTED[kind])

    server.expect_request(PATHS[kind], method="POST").respond_with_handler(robot)
    return times


def test_one_robot_s_messages_are_paced_at_20_a_minute_across_notifications(
    httpserver: HTTPServer,
) -> None:
    clock = StepClock()
    times = _request_times(httpserver, clock, ChannelKind.DINGTALK)
    url = url_of(httpserver, ChannelKind.DINGTALK)
    # Two entries for the same robot share its rate, as a run's report and digest do.
    settings = parse_notify_settings({"NOTIFY_URLS": f"dingtalk={url},dingtalk={url}"})
    channels = build_channels(settings, clock=clock, sleep=clock.sleep)

    for _ in range(13):
        for channel in channels:
            channel.send(notice())

    assert len(times) == 26
    assert all(
        later - earlier >= timedelta(seconds=60)
        for earlier, later in zip(times, times[20:], strict=False)
    )
    # The first 20 go at once; the rest wait for the minute to pass, no longer.
    assert times[19] == NOW
    assert times[20] == NOW + timedelta(seconds=60)
