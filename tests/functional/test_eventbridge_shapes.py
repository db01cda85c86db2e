"""Events as Alibaba Cloud actually sends them, through the auto-release handler and the CLI.

The samples in events/ are partly reconstructions (events/README.md); these are the shapes the
documentation and public code show (the ECS notification body,
https://www.alibabacloud.com/help/doc-detail/143663.htm; ActionTrail records,
https://alibabacloud.com/help/en/eventbridge/user-guide/actiontrail-events): the ECS state-change
body with the instance's ARN, console operations with typed request parameters, ActionTrail
records of tag calls on disks, ECS notification bodies posted without the EventBridge envelope,
and hostile JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import EXIT_REFUSED, main
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import Function
from tests.hostile_json import DEEP_OR_HUGE
from tests.support import Runner, alive, by_id, sample

UTC = timezone.utc
AUTO = Function.AUTO_RELEASE
ACCOUNT = "169070********30"
CHRISTMAS = "2026-12-24T18:00:00+08:00"


def state_change(instance_id: str, state: str = "Running") -> dict[str, Any]:
    """The ECS notification body (doc-detail/143663) as EventBridge's `data`: the ARN on top."""
    event: dict[str, Any] = json.loads(sample("eventbridge-ecs-instance-statechange.json"))
    arn = f"acs:ecs:cn-hangzhou:{ACCOUNT}:instance/{instance_id}"
    event["subject"] = arn
    event["data"] = {
        "ver": "1.0",
        "id": "9435EAD6-3CF6-4494-8F7A-3A0000000077",
        "product": "ECS",
        "level": "INFO",
        "name": "Instance:StateChange",
        "userId": ACCOUNT,
        "eventTime": "20261126T143000.058+0800",
        "regionId": "cn-hangzhou",
        "resourceId": arn,
        "content": {
            "resourceId": instance_id,
            "resourceType": "ALIYUN::ECS::Instance",
            "state": state,
        },
    }
    return event


def action_trail(
    event_name: str,
    parameters: dict[str, Any],
    referenced: dict[str, list[str]],
    *,
    console: bool = True,
) -> dict[str, Any]:
    """An ActionTrail record of a tag call, with the extra keys real records carry."""
    event: dict[str, Any] = json.loads(sample("eventbridge-ecs-tagresources.json"))
    kind = "ConsoleOperation" if console else "ApiCall"
    event["type"] = f"ecs:ActionTrail:{kind}"
    event["data"].update(
        eventType=kind,
        eventName=event_name,
        acsRegion="cn-hangzhou",
        requestParameters={
            "AcsHost": "ecs.cn-shanghai.aliyuncs.com",  # acsRegion is the region to trust
            "RequestId": "3C7A1E0B-0000-4E5F-8A9B-0C1D2E3F4A5B",
            "AcceptLanguage": "en-US",
            "RegionId": "cn-hangzhou",
            **parameters,
        },
        referencedResources=referenced,
    )
    return event


def test_a_state_change_with_the_instance_arn_applies_the_tag(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": CHRISTMAS}
    )
    summary = run(AUTO, state_change(instance.instance_id))
    # The tag was read: its time is said, and written to ECS within AUTO_RELEASE_HORIZON of it.
    assert by_id(summary)[instance.instance_id]["release_at"] == "2026-12-24T10:00:00Z"
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_a_state_change_naming_two_instances_is_refused_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    first = ecs_emulator.add_instance(status="Running", tags={"auto-release": CHRISTMAS})
    second = ecs_emulator.add_instance(status="Running", tags={"auto-release": CHRISTMAS})
    event = state_change(first.instance_id)
    event["data"]["content"]["resourceId"] = second.instance_id
    with pytest.raises(InvalidInputError, match="different instances"):
        run(AUTO, event)
    assert ecs_emulator.calls == []


def test_a_console_tag_edit_sets_the_lifetime_in_the_acs_region(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    created = ecs_emulator.clock.now() - timedelta(hours=1)
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"auto-release": "72h"},
        creation_time=created,
    )
    event = action_trail(
        "TagResources",
        {
            "ResourceType": "instance",
            "ResourceId": [instance.instance_id],
            "Tag": [{"Key": "auto-release", "Value": "72h"}],
        },
        {"ACS::ECS::Instance": [instance.instance_id]},
    )
    summary = run(AUTO, event)
    assert summary["trigger"] == "eventbridge"
    due = (created + timedelta(hours=72)).replace(second=0, microsecond=0)
    assert by_id(summary)[instance.instance_id]["release_at"] == due.strftime("%Y-%m-%dT%H:%M:00Z")
    assert {call.params.get("RegionId") for call in ecs_emulator.calls_to("DescribeInstances")} == {
        "cn-hangzhou"
    }


@pytest.mark.parametrize(
    ("event_name", "removal"),
    [
        ("UntagResources", {"TagKey": ["auto-release"], "All": False}),
        ("RemoveTags", {"Tag": [{"Key": "auto-release"}]}),
    ],
)
def test_a_tag_removed_in_the_console_cancels(
    run: Runner, ecs_emulator: EcsEmulator, event_name: str, removal: dict[str, Any]
) -> None:
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou",
        status="Running",
        tags={"env": "dev"},
        auto_release_time=ecs_emulator.clock.now() + timedelta(days=1),
    )
    event = action_trail(
        event_name,
        {"ResourceType": "instance", "ResourceId": [instance.instance_id], **removal},
        {"ACS::ECS::Instance": [instance.instance_id]},
    )
    run(AUTO, event)
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


# What a tag call's requestParameters say, given the tagged disk's id; and why it is ignored.
NOT_ABOUT_AN_INSTANCE: dict[str, tuple[Callable[[str], dict[str, Any]], str]] = {
    "a disk, no ResourceType": (
        lambda disk: {"ResourceId.1": disk, "Tag.1.Key": "auto-release", "Tag.1.Value": "1h"},
        "which is not an instance",
    ),
    "a disk": (
        lambda disk: {"ResourceType": "disk", "ResourceId": [disk]},
        "not an instance",
    ),
    "no ResourceId": (
        lambda _: {"ResourceType": "instance", "Tag.1.Key": "auto-release"},
        "does not say which instance",
    ),
}


@pytest.mark.parametrize("case", list(NOT_ABOUT_AN_INSTANCE))
@pytest.mark.parametrize("console", [True, False])
def test_a_tag_call_not_about_an_instance_never_acts_on_the_referenced_instance(
    run: Runner, ecs_emulator: EcsEmulator, case: str, console: bool
) -> None:
    # The instance carries a lifetime tag that would set a time, had the event been about it.
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"auto-release": "1h"}
    )
    disk_id = ecs_emulator.disks(instance.instance_id)[0].disk_id
    parameters, reason = NOT_ABOUT_AN_INSTANCE[case]
    event = action_trail(
        "TagResources",
        parameters(disk_id),
        {"ACS::ECS::Instance": [instance.instance_id], "ACS::ECS::Disk": [disk_id]},
        console=console,
    )
    event["subject"] = f"acs:ecs:cn-hangzhou:{ACCOUNT}:instance/{instance.instance_id}"
    summary = run(AUTO, event)
    assert summary["instances"] == []
    assert reason in summary["notes"][0]
    assert ecs_emulator.calls == []
    assert alive(ecs_emulator, instance.instance_id).auto_release_time is None


def test_a_notification_body_posted_without_the_envelope_is_refused_as_such(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    instance = ecs_emulator.add_instance(status="Running", tags={"auto-release": CHRISTMAS})
    body = state_change(instance.instance_id)["data"]
    with pytest.raises(InvalidInputError) as refused:
        run(AUTO, body)
    assert "notification body" in str(refused.value)
    assert "expects the EventBridge event" in str(refused.value)
    assert "unknown option" not in str(refused.value)
    assert ecs_emulator.calls == []


@pytest.mark.parametrize("name", list(DEEP_OR_HUGE))
def test_deep_or_huge_json_is_refused_by_the_handler_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator, name: str
) -> None:
    raw, field, message = DEEP_OR_HUGE[name]
    ecs_emulator.add_instance(status="Running", tags={"env": "dev", "auto-release": "1h"})
    with pytest.raises(InvalidInputError) as refused:
        run(AUTO, raw.encode())
    assert (refused.value.field, message in refused.value.problem) == (field, True)
    assert ecs_emulator.calls == []


@pytest.fixture
def cli_env(ecs_emulator: EcsEmulator, monkeypatch: pytest.MonkeyPatch) -> EcsEmulator:
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.setenv("ECS_ENDPOINT", ecs_emulator.endpoint)
    monkeypatch.setenv("ECS_PROTOCOL", "http")
    return ecs_emulator


@pytest.mark.parametrize("name", [*DEEP_OR_HUGE, "notification body"])
def test_the_cli_refuses_deep_or_huge_json_and_notification_bodies_with_exit_2(
    cli_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    if name == "notification body":
        raw, message = json.dumps(state_change("i-bp1dev000000000003")["data"]), "EventBridge"
    else:
        raw, _, message = DEEP_OR_HUGE[name]
    path = tmp_path / "event.json"
    path.write_text(raw)
    code = main(["invoke", "auto-release", "--event", str(path)])
    out = capsys.readouterr()
    assert code == EXIT_REFUSED
    assert out.out == ""
    assert "refused: " in out.err
    assert message in out.err
    assert "Traceback" not in out.err
    assert cli_env.calls == []
