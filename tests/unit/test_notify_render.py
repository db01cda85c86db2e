"""What a notification says, through the in-memory twin: per owner, how to keep, cut and split."""

from __future__ import annotations

import json
import logging
import shlex
from typing import Any

import pytest

from ecs_lifecycle.notify.memory import InMemoryChannel
from ecs_lifecycle.notify.message import KeepHint, MessageKind, Notification
from ecs_lifecycle.notify.send import NotificationUndeliveredError, require_delivered, send_all
from ecs_lifecycle.notify.transport import Budget
from tests.support import REPO

KEEP = KeepHint("keep-until", "2026-12-03")


def entry(instance_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "region": "cn-hangzhou",
        "action": "release",
        "outcome": "planned",
        "reason": "matches tags env=dev",
        **fields,
    }


def summary(*instances: dict[str, Any], **fields: Any) -> dict[str, Any]:
    outcomes = [instance["outcome"] for instance in instances]
    return {
        "function": "release",
        "dry_run": True,
        "trigger": "timer:nightly",
        "regions": ["cn-hangzhou"],
        "counts": {name: outcomes.count(name) for name in ("done", "planned", "skipped", "failed")},
        "instances": list(instances),
        "notes": [],
        **fields,
    }


def cut_log(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = [json.loads(record.getMessage()) for record in caplog.records]
    return [line for line in lines if line["event"] == "notification_cut"]


def test_a_notice_names_its_kind_and_time_and_groups_instances_per_owner() -> None:
    channel = InMemoryChannel()
    notice = Notification(
        MessageKind.NOTICE,
        summary(
            entry("i-b1", owner="bob"),
            entry("i-n1", action="none", outcome="skipped", reason="protected by its tag"),
            entry("i-a1", owner="alice", name="web-1"),
            entry("i-a2", owner="alice", action="stop"),
            notes=["max_instances would refuse this run for real"],
        ),
        keep=KEEP,
        when="at 2026-12-02 02:00 +08:00",
    )

    delivery = channel.send(notice)

    assert delivery.messages == 1
    assert delivery.left_out == 0
    [message] = channel.messages
    lines = message.splitlines()
    assert lines[0] == "ecs-lifecycle notice: release at 2026-12-02 02:00 +08:00"
    assert "done 0; planned 3; skipped 1; failed 0" in lines
    assert "note: max_instances would refuse this run for real" in lines
    # Alphabetical owners, "no owner" last; each instance under its owner, in summary order.
    order = [line for line in lines if line.startswith(("Owner", "No owner", "- "))]
    assert order == [
        "Owner: alice",
        "- web-1 (i-a1, cn-hangzhou): release, planned",
        "- i-a2, cn-hangzhou: stop, planned",
        "Owner: bob",
        "- i-b1, cn-hangzhou: release, planned",
        "No owner",
        "- i-n1, cn-hangzhou: no action, skipped",
    ]
    assert "  protected by its tag" in lines
    assert channel.sent == [notice]


def test_each_instance_that_will_be_acted_on_says_how_to_keep_it() -> None:
    channel = InMemoryChannel()
    channel.send(
        Notification(
            MessageKind.REPORT,
            summary(
                entry("i-planned"),
                entry("i-failed", outcome="failed", error_code="Forbidden.RAM", request_id="r-1"),
                entry("i-stopped", action="stop", outcome="done"),
                entry("i-released", outcome="done", snapshot_ids=["s-1", "s-2"]),
                entry("i-kept", action="none", outcome="skipped"),
                entry("i-cancelled", action="cancel-auto-release", outcome="done"),
            ),
            keep=KeepHint("keep-until", "2026-12-03T18:00:00+08:00"),
        )
    )

    message = channel.messages[0]
    blocks = {block.split(",")[0]: block for block in message.split("\n- ")[1:]}
    for kept_by_tag in ("i-planned", "i-failed", "i-stopped"):
        block = blocks[kept_by_tag]
        assert "keep it: tag keep-until=2026-12-03T18:00:00+08:00" in block
        assert f"ECS console, region cn-hangzhou: Instances, {kept_by_tag}, Tags" in block
        command = block.splitlines()[-1].strip()
        assert shlex.split(command) == [
            "aliyun", "ecs", "TagResources", "--RegionId", "cn-hangzhou",
            "--ResourceType", "instance", "--ResourceId.1", kept_by_tag,
            "--Tag.1.Key", "keep-until", "--Tag.1.Value", "2026-12-03T18:00:00+08:00",
        ]  # fmt: skip
    for nothing_to_keep in ("i-released", "i-kept", "i-cancelled"):
        assert "keep it" not in blocks[nothing_to_keep]
    assert "error Forbidden.RAM, request id r-1" in blocks["i-failed"]
    assert "snapshots: s-1, s-2" in blocks["i-released"]
    assert message.startswith("ecs-lifecycle report: release (dry run)\n")


def test_the_keep_command_is_quoted_for_a_shell() -> None:
    hint = KeepHint("keep until", "it's mine")
    assert shlex.split(hint.command("cn-hangzhou", "i-1"))[-4:] == [
        "--Tag.1.Key",
        "keep until",
        "--Tag.1.Value",
        "it's mine",
    ]


def test_a_digest_says_when_ecs_releases_each_instance() -> None:
    channel = InMemoryChannel()
    channel.send(
        Notification(
            MessageKind.DIGEST,
            summary(
                entry(
                    "i-1",
                    action="set-auto-release",
                    outcome="done",
                    release_at="2026-12-02T10:00:00Z",
                    owner="carol",
                ),
                function="auto-release",
            ),
            keep=KEEP,
            when="within 24h",
        )
    )
    message = channel.messages[0]
    assert message.startswith("ecs-lifecycle digest: auto-release within 24h\n")
    assert "  ECS auto-releases it at 2026-12-02T10:00:00Z" in message
    assert "keep it: tag keep-until=2026-12-03" in message


def test_a_long_list_is_split_into_messages_in_order_then_cut_with_the_rest_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ecs_lifecycle")
    budget = 1500
    channel = InMemoryChannel(budget=budget, max_messages=3)
    instances = [entry(f"i-{n:03d}", owner="alice" if n < 12 else "bob") for n in range(40)]

    delivery = channel.send(Notification(MessageKind.NOTICE, summary(*instances), keep=KEEP))

    assert delivery.messages == 3
    assert len(channel.messages) == 3
    for part, message in enumerate(channel.messages, start=1):
        assert message.startswith(f"ecs-lifecycle notice: release ({part}/3)\n")
        assert len(json.dumps(message, ensure_ascii=False).encode()) - 2 <= budget
    shown = [
        line[2:].split(",")[0]
        for message in channel.messages
        for line in message.splitlines()
        if line.startswith("- ")
    ]
    assert shown == [f"i-{n:03d}" for n in range(len(shown))], "in order, none twice"
    assert delivery.left_out == 40 - len(shown) > 0
    assert channel.messages[-1].endswith(
        f"and {delivery.left_out} more (the full list is in the function's log)"
    )
    # A message that goes on with the same owner says so.
    assert channel.messages[1].splitlines()[3] == "Owner: alice (continued)"
    [cut] = cut_log(caplog)
    assert cut["channel"] == "memory#1"
    assert cut["kind"] == "notice"
    assert [item["instance_id"] for item in cut["left_out"]] == [
        f"i-{n:03d}" for n in range(len(shown), 40)
    ]
    assert cut["left_out"][-1]["owner"] == "bob"


def test_a_run_without_instances_still_makes_one_message_and_a_bad_entry_is_listed() -> None:
    channel = InMemoryChannel()
    channel.send(Notification(MessageKind.REPORT, summary()))
    assert channel.messages[0].splitlines()[2] == "done 0; planned 0; skipped 0; failed 0"

    bad = summary(entry("i-1"))
    bad["instances"].append({"instance_id": ["not", "a", "string"]})
    channel.send(Notification(MessageKind.REPORT, bad))
    assert "- (unknown id): no action, ?" in channel.messages[1]


def test_many_notes_are_cut_too() -> None:
    channel = InMemoryChannel()
    notes = [f"note {n} " + "x" * 400 for n in range(8)]
    channel.send(Notification(MessageKind.REPORT, summary(notes=notes)))
    message = channel.messages[0]
    assert message.count("note: note ") == 5
    assert "and 3 more notes (in the result)" in message
    assert "x" * 400 not in message


def test_send_all_never_raises_and_a_notice_that_reached_nobody_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ecs_lifecycle")
    working = InMemoryChannel("memory#1")
    broken = InMemoryChannel("memory#2", fail_with="errcode 310000: sign not match")
    notice = Notification(MessageKind.NOTICE, summary(entry("i-1")), keep=KEEP)

    outcomes = send_all([broken, working], notice)

    assert [outcome.to_dict() for outcome in outcomes] == [
        {
            "channel": "memory#2",
            "delivered": False,
            "messages": 0,
            "error": "errcode 310000: sign not match",
        },
        {"channel": "memory#1", "delivered": True, "messages": 1},
    ]
    assert len(working.messages) == 1, "a failing channel does not stop the next one"
    logged = [json.loads(record.getMessage()) for record in caplog.records]
    assert {
        "event": "notification_failed",
        "channel": "memory#2",
        "kind": "notice",
        "error": "errcode 310000: sign not match",
    } in logged
    with pytest.raises(NotificationUndeliveredError, match=r"memory#2: errcode 310000"):
        require_delivered(outcomes)
    require_delivered(outcomes[1:])


def test_send_all_survives_a_channel_that_breaks_unexpectedly() -> None:
    class Broken(InMemoryChannel):
        def send(self, notification: Notification, budget: Budget | None = None) -> Any:
            raise ValueError("unknown url type: 'https://x/secret-token'")

    [outcome] = send_all([Broken("memory#9")], Notification(MessageKind.REPORT, summary()))
    assert outcome.delivered is False
    assert outcome.error == "unexpected ValueError"


def test_the_example_in_the_docs_is_what_a_channel_sends() -> None:
    channel = InMemoryChannel()
    instance = entry("i-bp1abc", owner="alice", name="web-1")
    channel.send(Notification(MessageKind.NOTICE, summary(instance), keep=KEEP))
    rendered = channel.messages[0].split("\n", 3)[3]  # past the header
    docs = (REPO / "docs" / "notifications.md").read_text()
    assert f"```\n{rendered}\n```" in docs
