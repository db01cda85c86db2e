"""Notices, reports and digests through the handlers: the real SDK, the emulator, and real HTTP.

The channels point at a local server (pytest-httpserver) that answers as WeCom does (HTTP 200,
`errcode` in the body) or as a CloudEvents endpoint does (any 2xx), so each test reads what a
person would have received. The fleet's zone is Asia/Shanghai; the emulator's fake clock starts
at 2026-11-26T06:00Z, and the nightly release timer fires at 14:00Z (22:00 in Shanghai).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import ConfigError, InvalidInputError, RunFailedError
from ecs_lifecycle.model import Function
from ecs_lifecycle.notify.send import NotificationUndeliveredError
from tests.support import Runner, alive, by_id

UTC = timezone.utc
DEV = {"env": "dev"}
NIGHTLY = "2026-11-26T14:00:00Z"
# The nightly release's payload, as s.yaml sends it; its notice timer adds "notice": "1h".
NIGHTLY_PAYLOAD = {"tags": DEV, "dry_run": False}
WECOM_PATH = "/cgi-bin/webhook/send"
WEBHOOK_PATH = "/events"
TOKEN = "notice-token-" + "0123456789abcdef"


def timer(trigger_time: str, payload: dict[str, Any], name: str = "timer") -> str:
    return json.dumps(
        {"triggerTime": trigger_time, "triggerName": name, "payload": json.dumps(payload)}
    )


def notice_timer(**extra: Any) -> str:
    """The notice timer one hour before the nightly release: same payload, plus the notice."""
    return timer("2026-11-26T13:00:00Z", {**NIGHTLY_PAYLOAD, "notice": "1h", **extra}, "notice")


class Inbox:
    """A fake WeCom robot and a CloudEvents endpoint on one local server; keeps what arrived."""

    def __init__(self, server: HTTPServer, *, wecom_errcode: int = 0) -> None:
        self.server = server
        self.wecom: list[str] = []  # each message's markdown content
        self.events: list[dict[str, Any]] = []  # each CloudEvent
        self.wecom_errcode = wecom_errcode
        server.expect_request(WECOM_PATH, method="POST").respond_with_handler(self._wecom)
        server.expect_request(WEBHOOK_PATH, method="POST").respond_with_handler(self._event)

    def _wecom(self, request: Request) -> Response:
        assert request.args.get("key") == TOKEN
        content = json.loads(request.data)["markdown"]["content"]
        assert len(content.encode()) <= 4096  # WeCom's limit for markdown content
        if self.wecom_errcode:
            body = {"errcode": self.wecom_errcode, "errmsg": "invalid webhook url"}
            return Response(json.dumps(body), status=200, content_type="application/json")
        self.wecom.append(content)
        return Response('{"errcode":0,"errmsg":"ok"}', content_type="application/json")

    def _event(self, request: Request) -> Response:
        assert request.content_type.startswith("application/cloudevents+json")
        self.events.append(json.loads(request.data))
        return Response("", status=204)

    def env(self, *, wecom: bool = True, webhook: bool = False, **more: str) -> dict[str, str]:
        urls = []
        if wecom:
            urls.append(f"wecom={self.server.url_for(WECOM_PATH)}?key={TOKEN}")
        if webhook:
            urls.append(f"webhook={self.server.url_for(WEBHOOK_PATH)}")
        return {"NOTIFY_URLS": ",".join(urls), "TIME_ZONE": "Asia/Shanghai", **more}

    @property
    def text(self) -> str:
        return "\n".join(self.wecom)


@pytest.fixture
def inbox(httpserver: HTTPServer) -> Inbox:
    return Inbox(httpserver)


@pytest.fixture
def fenced(run: Runner) -> Runner:
    """The runner with the deployment's fence: TARGET_TAGS env=dev, one region."""
    run.env.update({"TARGET_TAGS": "env=dev", "TARGET_REGIONS": "cn-hangzhou"})
    return run


def test_a_notice_lists_per_owner_what_the_real_run_will_do_and_changes_nothing(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    web = ecs_emulator.add_instance(status="Stopped", name="web-1", tags={**DEV, "owner": "alice"})
    db = ecs_emulator.add_instance(status="Running", name="db-1", tags={**DEV, "Owner": "bob"})
    stray = ecs_emulator.add_instance(status="Stopped", name="stray", tags=DEV)
    kept = ecs_emulator.add_instance(
        status="Stopped",
        name="demo-box",
        tags={**DEV, "owner": "alice", "keep-until": "2026-11-30"},
    )
    protected = ecs_emulator.add_instance(
        status="Stopped", name="vault", tags={**DEV, "owner": "bob", "protected": "true"}
    )

    result = fenced(Function.RELEASE, notice_timer(), **inbox.env())

    assert fenced.changing_calls() == []
    assert result["dry_run"] is True
    assert result["notice_for"] == NIGHTLY
    assert result["notifications"] == [
        {"kind": "notice", "channel": "wecom#1", "delivered": True, "messages": 1}
    ]
    (message,) = inbox.wecom
    assert message.startswith("### ecs-lifecycle notice: release at 2026-11-26 22:00 +08:00\n")
    alice = message.index("**Owner: alice**")
    bob = message.index("**Owner: bob**")
    nobody = message.index("**No owner**")
    assert alice < bob < nobody
    assert message.index(f"**web-1** ({web.instance_id}, cn-hangzhou): release, planned") > alice
    assert message.index(f"**db-1** ({db.instance_id}, cn-hangzhou): release, planned") > bob
    assert message.index(f"**stray** ({stray.instance_id}, cn-hangzhou): release") > nobody
    # What is skipped, and why, is in the notice too (with no keep line: it is not at risk).
    assert f"**demo-box** ({kept.instance_id}, cn-hangzhou): release, skipped" in message
    assert "kept until the end of 2026-11-30" in message
    assert f"**vault** ({protected.instance_id}, cn-hangzhou): release, skipped" in message
    # The reasons are the real run's, not the dry run's.
    assert "dry run:" not in message
    # How to keep each instance the run will release: the tag with a ready value (the end of
    # the day after the run, in the fleet's zone), where to set it, and the command.
    assert message.count("keep it: tag `keep-until=2026-11-27`") == 3
    assert f"ECS console, region cn-hangzhou: Instances, {web.instance_id}, Tags" in message
    assert (
        "`aliyun ecs TagResources --RegionId cn-hangzhou --ResourceType instance "
        f"--ResourceId.1 {web.instance_id} --Tag.1.Key keep-until --Tag.1.Value 2026-11-27`"
    ) in message
    assert f"--ResourceId.1 {kept.instance_id} " not in message
    assert f"--ResourceId.1 {protected.instance_id} " not in message
    for instance in (web, db, stray, kept, protected):
        assert alive(ecs_emulator, instance.instance_id)


def test_a_notice_plans_for_the_real_runs_time_so_a_keep_until_ending_before_it_is_not_counted(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    # Kept at the notice's own time (13:00Z), not at the release's (14:00Z).
    ending = ecs_emulator.add_instance(
        status="Stopped", tags={**DEV, "keep-until": "2026-11-26T21:30+08:00"}
    )

    result = fenced(Function.RELEASE, notice_timer(), **inbox.env())

    entry = by_id(result)[ending.instance_id]
    assert (entry["action"], entry["outcome"]) == ("release", "planned")
    assert "its keep-until tag '2026-11-26T21:30+08:00' expired" in inbox.text


def test_the_fence_applies_to_notices(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    dev = ecs_emulator.add_instance(status="Stopped", tags=DEV)
    prod = ecs_emulator.add_instance(status="Stopped", tags={"env": "prod"})
    elsewhere = ecs_emulator.add_instance(region="cn-shanghai", status="Stopped", tags=DEV)

    result = fenced(Function.RELEASE, notice_timer(), **inbox.env())

    assert list(by_id(result)) == [dev.instance_id]
    assert prod.instance_id not in inbox.text
    assert elsewhere.instance_id not in inbox.text
    # An event can only narrow the fence, notice or not: refused before any ECS call.
    with pytest.raises(InvalidInputError, match="outside this deployment's regions"):
        fenced(Function.RELEASE, notice_timer(regions=["cn-shanghai"]), **inbox.env())
    with pytest.raises(InvalidInputError):
        fenced(Function.RELEASE, notice_timer(tags={"env": "prod"}), **inbox.env())
    assert fenced.changing_calls() == []
    assert len(inbox.wecom) == 1


def test_a_notice_for_a_run_that_would_change_nothing_sends_nothing_unless_asked(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    ecs_emulator.add_instance(status="Stopped", tags={**DEV, "protected": "true"})

    quiet = fenced(Function.RELEASE, notice_timer(), **inbox.env())

    assert inbox.wecom == []
    assert "notifications" not in quiet
    assert "nothing would change at 2026-11-26 22:00 +08:00: no notice sent" in quiet["notes"]

    fenced(Function.RELEASE, notice_timer(), **inbox.env(NOTIFY_ON="always"))

    (message,) = inbox.wecom
    assert "planned 0; skipped 1" in message


def test_without_notify_urls_a_notice_sends_nothing_fails_nothing_and_says_so(
    fenced: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(status="Stopped", tags=DEV)

    result = fenced(Function.RELEASE, notice_timer())

    assert "no NOTIFY_URLS set: this notice was sent to nobody" in result["notes"]
    assert fenced.changing_calls() == []


def test_a_notice_nobody_received_fails_its_run_and_still_changes_nothing(
    fenced: Runner, ecs_emulator: EcsEmulator, httpserver: HTTPServer
) -> None:
    inbox = Inbox(httpserver, wecom_errcode=93000)
    ecs_emulator.add_instance(status="Stopped", tags=DEV)

    with pytest.raises(NotificationUndeliveredError) as undelivered:
        fenced(Function.RELEASE, notice_timer(), **inbox.env())

    assert "wecom#1" in str(undelivered.value)
    assert "93000" in str(undelivered.value)
    assert TOKEN not in str(undelivered.value)
    assert fenced.changing_calls() == []


def test_a_notice_on_a_manual_run_counts_from_now_and_never_acts(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    running = ecs_emulator.add_instance(status="Running", tags={**DEV, "owner": "carol"})

    result = fenced(Function.STOP, {"tags": DEV, "dry_run": False, "notice": "2h"}, **inbox.env())

    assert result["notice_for"] == "2026-11-26T08:00:00Z"  # the fake clock's 06:00Z plus 2h
    assert fenced.changing_calls() == []
    assert alive(ecs_emulator, running.instance_id).status == "Running"
    assert inbox.wecom[0].startswith("### ecs-lifecycle notice: stop at 2026-11-26 16:00 +08:00")


@pytest.mark.parametrize("notice", ["soon", "0", "-1h", "8d"])
def test_a_bad_notice_is_refused_before_any_ecs_call(
    fenced: Runner, ecs_emulator: EcsEmulator, notice: str
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        fenced(Function.RELEASE, {"tags": DEV, "dry_run": False, "notice": notice})
    assert refused.value.field == "notice"
    assert ecs_emulator.calls == []


def test_the_report_after_a_release_says_what_was_done_per_owner_failures_snapshots_and_keeps(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    gone = ecs_emulator.add_instance(
        status="Stopped", name="old-1", tags={**DEV, "owner": "alice"}, disks=2
    )
    stuck = ecs_emulator.add_instance(status="Stopped", name="lb-1", tags={**DEV, "owner": "bob"})
    ecs_emulator.fail_instance(
        stuck.instance_id,
        operation="DeleteInstances",
        code="DependencyViolation.SLBConfiguring",
        status=400,
    )
    kept = ecs_emulator.add_instance(
        status="Stopped", name="demo", tags={**DEV, "owner": "alice", "keep-until": "2026-11-30"}
    )
    nightly = timer(NIGHTLY, {**NIGHTLY_PAYLOAD, "snapshot": True}, "nightly-release")

    with pytest.raises(RunFailedError) as failed:
        fenced(Function.RELEASE, nightly, **inbox.env(webhook=True))

    result = dict(failed.value.summary)
    assert result["notifications"] == [
        {"kind": "report", "channel": "wecom#1", "delivered": True, "messages": 1},
        {"kind": "report", "channel": "webhook#2", "delivered": True, "messages": 1},
    ]
    assert ecs_emulator.instance(gone.instance_id) is None
    snapshots = by_id(result)[gone.instance_id]["snapshot_ids"]
    assert len(snapshots) == 2
    (message,) = inbox.wecom
    assert message.startswith("### ecs-lifecycle report: release\n")
    assert "done 1; planned 0; skipped 1; failed 1" in message
    alice = message[message.index("**Owner: alice**") : message.index("**Owner: bob**")]
    assert f"**old-1** ({gone.instance_id}, cn-hangzhou): release, done" in alice
    assert f"snapshots: {', '.join(snapshots)}" in alice
    assert f"**demo** ({kept.instance_id}, cn-hangzhou): release, skipped" in alice
    assert "kept until the end of 2026-11-30" in alice
    bob = message[message.index("**Owner: bob**") :]
    assert f"**lb-1** ({stuck.instance_id}, cn-hangzhou): release, failed" in bob
    failure = by_id(result)[stuck.instance_id]
    assert f"error DependencyViolation.SLBConfiguring, request id {failure['request_id']}" in bob
    # The failed one is still there, so its owner is told how to keep it from the next run.
    assert f"--ResourceId.1 {stuck.instance_id} --Tag.1.Key keep-until" in bob
    # The CloudEvent carries the same run as data, each instance with its owner and name.
    (event,) = inbox.events
    assert event["type"] == "ecs-lifecycle.report"
    assert event["source"] == "ecs-lifecycle/release"
    owners = {entry["instance_id"]: entry["owner"] for entry in event["data"]["instances"]}
    assert owners == {
        gone.instance_id: "alice",
        stuck.instance_id: "bob",
        kept.instance_id: "alice",
    }


@pytest.mark.parametrize(
    ("notify_on", "reported"),
    [("changes", [True, False, True]), ("failures", [False, False, True]),
     ("always", [True, True, True]), ("never", [False, False, False])],
)  # fmt: skip
def test_notify_on_chooses_which_runs_send_a_report(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox, notify_on: str, reported: list[bool]
) -> None:
    env = inbox.env(NOTIFY_ON=notify_on)
    first = ecs_emulator.add_instance(status="Running", tags=DEV)
    sent = []

    fenced(Function.STOP, {"instance_ids": [first.instance_id]}, **env)  # a change
    sent.append(len(inbox.wecom))
    fenced(Function.STOP, {"instance_ids": [first.instance_id]}, **env)  # nothing to do
    sent.append(len(inbox.wecom))
    failing = ecs_emulator.add_instance(status="Running", tags=DEV)
    ecs_emulator.fail_instance(failing.instance_id, operation="StopInstances", status=403)
    with pytest.raises(RunFailedError):
        fenced(Function.STOP, {"instance_ids": [failing.instance_id]}, **env)  # a failure
    sent.append(len(inbox.wecom))

    got = [after > before for before, after in zip([0, *sent[:-1]], sent, strict=True)]
    assert got == reported


def test_a_report_that_cannot_be_delivered_never_blocks_the_ecs_work(
    fenced: Runner, ecs_emulator: EcsEmulator, httpserver: HTTPServer
) -> None:
    inbox = Inbox(httpserver, wecom_errcode=93000)
    running = ecs_emulator.add_instance(status="Running", tags=DEV)

    result = fenced(Function.STOP, {"tags": DEV}, **inbox.env())

    assert alive(ecs_emulator, running.instance_id).status in ("Stopping", "Stopped")
    (outcome,) = result["notifications"]
    assert outcome["delivered"] is False
    assert "93000" in outcome["error"]
    assert TOKEN not in json.dumps(result)


def test_the_digest_lists_what_ecs_releases_within_the_window_per_owner(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    now = ecs_emulator.clock.now()
    tagged = ecs_emulator.add_instance(
        status="Running",
        name="ci-runner",
        tags={**DEV, "owner": "dave", "auto-release": "2026-11-26T20:00+08:00"},
        auto_release_time=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
    )
    by_hand = ecs_emulator.add_instance(
        status="Stopped", tags=DEV, auto_release_time=now + timedelta(hours=23)
    )
    later = ecs_emulator.add_instance(tags=DEV, auto_release_time=now + timedelta(hours=30))
    prod = ecs_emulator.add_instance(
        tags={"env": "prod"}, auto_release_time=now + timedelta(hours=2)
    )
    reconcile = timer(NIGHTLY, {"digest": "24h"}, "reconcile")

    result = fenced(Function.AUTO_RELEASE, reconcile, **inbox.env())

    assert {"kind": "digest", "channel": "wecom#1", "delivered": True, "messages": 1} in result[
        "notifications"
    ]
    (message,) = [text for text in inbox.wecom if "digest" in text.splitlines()[0]]
    assert message.startswith("### ecs-lifecycle digest: auto-release within 24h\n")
    dave = message[message.index("**Owner: dave**") : message.index("**No owner**")]
    assert f"**ci-runner** ({tagged.instance_id}, cn-hangzhou)" in dave
    # Its tags were written when it was created, days ago, so the minimum notice has run: the
    # tag's time stands, 6 h ahead, beyond the horizon. The reconcile cancelled ECS's time (set
    # under the old behaviour) and the digest lists the due time it will write (issue 20).
    assert "due 2026-11-26T12:00:00Z" in dave
    assert "its auto-release tag '2026-11-26T20:00+08:00' is due at" in dave
    nobody = message[message.index("**No owner**") :]
    assert f"--ResourceId.1 {by_hand.instance_id} --Tag.1.Key keep-until" in nobody
    assert "set by hand or in the console" in nobody
    assert later.instance_id not in message
    # Outside the fence, ECS's time is listed and flagged (issue 20): the tool cannot cancel it.
    assert prod.instance_id in message


def test_the_digest_flags_what_the_tool_cannot_cancel_and_lists_the_due_times_it_will_write(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    # Issue 20: an instance promoted out of the fleet with an ECS time still set (the minimum
    # notice's window), one in the fleet carrying a keep signal, and a lifetime due within the
    # window whose ECS time is not written yet (beyond the horizon).
    now = ecs_emulator.clock.now()
    promoted = ecs_emulator.add_instance(
        tags={"env": "prod", "protected": "true"}, auto_release_time=now + timedelta(hours=20)
    )
    in_other_region = ecs_emulator.add_instance(
        region="cn-shanghai", tags={"env": "prod"}, auto_release_time=now + timedelta(hours=3)
    )
    due = ecs_emulator.add_instance(
        tags={**DEV, "auto-release": "72h"}, creation_time=now - timedelta(hours=60)
    )
    far = ecs_emulator.add_instance(tags={**DEV, "auto-release": "30d"}, creation_time=now)
    reconcile = timer(NIGHTLY, {"digest": "24h"}, "reconcile")

    # MIN_NOTICE=1h: with 24h, a lifetime first seen within a day of it gets its time at once.
    fenced(Function.AUTO_RELEASE, reconcile, MIN_NOTICE="1h", **inbox.env())

    (message,) = [text for text in inbox.wecom if "digest" in text.splitlines()[0]]
    assert promoted.instance_id in message
    assert "outside the fence (TARGET_TAGS env=dev)" in message
    assert "carries the protect tag" in message
    assert (
        "aliyun ecs ModifyInstanceAutoReleaseTime --RegionId cn-hangzhou "
        f"--InstanceId {promoted.instance_id}"
    ) in message
    assert in_other_region.instance_id not in message  # TARGET_REGIONS still bounds the read
    assert due.instance_id in message
    assert "due 2026-11-26T18:00:00Z" in message
    assert far.instance_id not in message
    assert alive(ecs_emulator, promoted.instance_id).auto_release_time is not None


def test_a_digest_with_nothing_due_sends_nothing(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    ecs_emulator.add_instance(tags=DEV)

    result = fenced(Function.AUTO_RELEASE, timer(NIGHTLY, {"digest": "24h"}), **inbox.env())

    assert inbox.wecom == []
    assert "digest: no auto-release within 24h; nothing sent" in result["notes"]


def test_a_notice_of_a_dry_run_is_refused_before_any_ecs_call(
    fenced: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Release is a dry run unless told otherwise: its real run would change nothing.
    with pytest.raises(InvalidInputError) as refused:
        fenced(Function.RELEASE, {"tags": DEV, "notice": "1h"})
    assert refused.value.field == "notice"
    assert "dry_run" in refused.value.problem
    assert ecs_emulator.calls == []


def test_a_digest_is_an_auto_release_option_only(fenced: Runner) -> None:
    with pytest.raises(InvalidInputError, match="unknown option"):
        fenced(Function.RELEASE, {"tags": DEV, "digest": "24h"})


def test_bad_notify_settings_are_refused_before_any_ecs_call(
    fenced: Runner, ecs_emulator: EcsEmulator
) -> None:
    with pytest.raises(ConfigError) as refused:
        fenced(Function.STOP, {"tags": DEV}, NOTIFY_URLS=f"wecom=http://example.com/?key={TOKEN}")
    assert refused.value.field == "NOTIFY_URLS"
    assert TOKEN not in str(refused.value)
    assert ecs_emulator.calls == []


def test_a_run_at_its_deadline_sends_no_report_and_says_so(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    ecs_emulator.settings.stop_delay = 600  # longer than the function may run
    ecs_emulator.add_instance(status="Running", tags=DEV)

    with pytest.raises(RunFailedError) as failed:
        fenced(Function.RELEASE, NIGHTLY_PAYLOAD, FC_TIMEOUT="60", **inbox.env())

    # The ECS work ran to the deadline; a report then would keep FC's function past its limit.
    assert inbox.wecom == []
    (outcome,) = failed.value.summary["notifications"]
    assert outcome["delivered"] is False
    assert "reached its deadline" in outcome["error"]


def test_the_release_notice_shows_tonight_s_and_the_coming_stopped_for_releases(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    now = ecs_emulator.now()
    month_old = now - timedelta(days=30)

    def stopped(name: str, owner: str) -> str:
        return ecs_emulator.add_instance(
            status="Stopped", name=name, tags={**DEV, "owner": owner}, creation_time=month_old
        ).instance_id

    tonight, soon = stopped("old-box", "alice"), stopped("new-box", "alice")
    unproven = stopped("no-record", "bob")
    ecs_emulator.trail.add("StopInstance", [tonight], now - timedelta(days=8))
    ecs_emulator.trail.add("StopInstance", [soon], now - timedelta(days=2))
    env = {"ACTIONTRAIL_ENDPOINT": ecs_emulator.endpoint, "ACTIONTRAIL_PROTOCOL": "http"}

    result = fenced(Function.RELEASE, notice_timer(stopped_for="7d"), **inbox.env(), **env)

    assert fenced.changing_calls() == []
    entries = by_id(result)
    assert entries[soon]["release_at"] == "2026-12-01T06:00:00Z"  # stopped 2 days + 7 days
    (message,) = inbox.wecom
    # Tonight's release, and the one in the coming days with its date, each with a keep line.
    assert f"**old-box** ({tonight}, cn-hangzhou): release, planned" in message
    assert "stopped 8 days ago (ActionTrail); released after 7 days" in message
    assert f"**new-box** ({soon}, cn-hangzhou): release, skipped" in message
    assert "released after 7 days, so from 2026-12-01T06:00Z" in message
    assert message.count("keep it: tag `keep-until=") == 2
    # An instance whose stop cannot be proven is listed for a person to decide, not at risk.
    assert f"**no-record** ({unproven}, cn-hangzhou): release, skipped" in message
    assert "kept, never assumed old" in message


def test_a_run_refused_by_max_instances_sends_a_report_that_says_so(
    fenced: Runner, ecs_emulator: EcsEmulator, inbox: Inbox
) -> None:
    # The nightly release would release three instances; the cap is two. Nothing is released,
    # and the fleet's admin hears why in the morning rather than finding nothing done.
    for owner in ("alice", "bob", "carol"):
        ecs_emulator.add_instance(status="Stopped", tags={**DEV, "owner": owner})
    nightly = timer(NIGHTLY, NIGHTLY_PAYLOAD, "nightly-release")

    with pytest.raises(InvalidInputError, match="max_instances"):
        fenced(Function.RELEASE, nightly, **inbox.env(MAX_INSTANCES="2"))

    assert fenced.changing_calls() == []
    (message,) = inbox.wecom
    assert message.startswith("### ecs-lifecycle report: release\n")
    assert "refused: this run would change 3 instances, more than max_instances=2" in message
