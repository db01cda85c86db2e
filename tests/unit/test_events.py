"""Telling events apart and parsing them; the shared samples, and hostile bytes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.events import (
    TAG_EVENT_NAMES,
    IgnoredInvocation,
    ManualInvocation,
    StateChangeInvocation,
    TagChangeInvocation,
    TimerInvocation,
    parse_event,
)
from tests.hostile_json import DEEP_OR_HUGE
from tests.support import SAMPLES


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def sample_json(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(sample(name))
    return document


def test_timer_with_json_payload_carries_options() -> None:
    invocation = parse_event(sample("timer-nightly-release.json"))
    assert isinstance(invocation, TimerInvocation)
    assert invocation.options == {"tags": {"env": "dev"}, "dry_run": False}


def test_timer_with_empty_payload_has_no_options() -> None:
    invocation = parse_event(sample("timer-empty-payload.json"))
    assert isinstance(invocation, TimerInvocation)
    assert invocation.options is None


def test_manual_event_is_options() -> None:
    invocation = parse_event(sample("manual-stop-ids.json"))
    assert isinstance(invocation, ManualInvocation)
    assert invocation.options["instance_ids"] == ["i-bp1dev000000000001", "i-bp1dev000000000002"]


def test_empty_bytes_are_an_empty_manual_event() -> None:
    assert parse_event(b"") == ManualInvocation(options={})


def test_tag_event_names_instances_and_region() -> None:
    invocation = parse_event(sample("eventbridge-ecs-tagresources.json"))
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.instance_ids == ("i-bp1dev000000000001",)
    assert invocation.region == "cn-hangzhou"
    assert invocation.removed_keys == ()


def test_untag_event_knows_which_keys_were_removed() -> None:
    invocation = parse_event(sample("eventbridge-ecs-untagresources.json"))
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.removed_keys == ("auto-release",)


def test_state_change_event() -> None:
    invocation = parse_event(sample("eventbridge-ecs-instance-statechange.json"))
    assert isinstance(invocation, StateChangeInvocation)
    assert (invocation.instance_id, invocation.state) == ("i-bp1dev000000000003", "Running")


def test_state_change_with_nested_content_and_id_only_in_subject() -> None:
    event = sample_json("eventbridge-ecs-instance-statechange.json")
    event["data"] = {"content": {"state": "Stopped"}}
    invocation = parse_event(json.dumps(event))
    assert isinstance(invocation, StateChangeInvocation)
    assert (invocation.instance_id, invocation.state) == ("i-bp1dev000000000003", "Stopped")


def test_failed_api_call_events_are_ignored() -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["data"]["errorCode"] = "Forbidden.RAM"
    invocation = parse_event(json.dumps(event))
    assert isinstance(invocation, IgnoredInvocation)
    assert "Forbidden.RAM" in invocation.reason


@pytest.mark.parametrize(
    "parameters",
    [
        {"ResourceId": ["i-bp1dev000000000009"], "Tag": [{"Key": "auto-release", "Value": "8h"}]},
        {"ResourceId": '["i-bp1dev000000000009"]'},
        {"ResourceId.1": "i-bp1dev000000000009"},
    ],
)
def test_instance_ids_in_any_request_parameter_shape(parameters: dict[str, Any]) -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["subject"] = ""
    event["data"]["referencedResources"] = {}
    event["data"]["requestParameters"] = parameters
    invocation = parse_event(json.dumps(event))
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.instance_ids == ("i-bp1dev000000000009",)


def test_tag_call_on_a_disk_is_ignored() -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["data"]["requestParameters"]["ResourceType"] = "disk"
    assert isinstance(parse_event(json.dumps(event)), IgnoredInvocation)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b"\xff\xfe", "event"),
        (b"{not json", "event"),
        (b"[1, 2]", "event"),
        (b'"text"', "event"),
        (b'{"triggerTime": "x", "triggerName": "t", "payload": "[1]"}', "timer payload"),
        (b'{"triggerTime": "x", "triggerName": "t", "payload": 5}', "timer event"),
        (
            b'{"specversion": "1.0", "source": "acs.oss", "id": "1", "type": "oss:Put"}',
            "EventBridge event type",
        ),
    ],
)
def test_bad_events_are_refused_naming_the_problem(raw: bytes, field: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_event(raw)
    assert refused.value.field.startswith(field)


def test_unhandled_api_call_is_refused() -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["data"]["eventName"] = "DeleteDisk"
    with pytest.raises(InvalidInputError, match="DeleteDisk"):
        parse_event(json.dumps(event))


def test_odd_instance_id_in_an_event_is_refused() -> None:
    event = sample_json("eventbridge-ecs-instance-statechange.json")
    event["data"]["resourceId"] = "i-abc; DROP TABLE"
    with pytest.raises(InvalidInputError, match="not an ECS instance id"):
        parse_event(json.dumps(event))


@given(st.binary(max_size=300))
def test_any_bytes_parse_or_are_refused_cleanly(raw: bytes) -> None:
    try:
        parse_event(raw)
    except InvalidInputError as refusal:
        assert refusal.field
        assert refusal.problem


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.fixed_dictionaries(
        {"id": st.text(max_size=10), "source": st.just("acs.ecs"), "specversion": st.just("1.0")},
        optional={
            "type": st.sampled_from(
                [
                    "ecs:Instance:StateChange",
                    "ecs:ActionTrail:ApiCall",
                    "ecs:ActionTrail:ConsoleOperation",
                    "x",
                ]
            ),
            "subject": JSON_VALUES,
            "data": JSON_VALUES,
            "aliyunregionid": JSON_VALUES,
        },
    )
)
def test_any_cloud_event_shape_parses_or_is_refused_cleanly(event: dict[str, Any]) -> None:
    try:
        parse_event(json.dumps(event))
    except InvalidInputError as refusal:
        assert refusal.problem


# --- events as Alibaba Cloud actually sends them (events/README.md cites the pages) ---------

ARN = "acs:ecs:cn-hangzhou:169070********30:instance/i-bp1ecr0000005go2go"
# The documented ECS notification body (doc-detail/143663), which a state change carries as `data`.
NOTIFICATION_BODY: dict[str, Any] = {
    "ver": "1.0",
    "id": "9435EAD6-3CF6-4494-8F7A-3A0000000077",
    "product": "ECS",
    "level": "INFO",
    "name": "Instance:StateChange",
    "userId": "169070********30",
    "eventTime": "20181226T220114.058+0800",
    "regionId": "cn-hangzhou",
    "resourceId": ARN,
    "content": {
        "resourceId": "i-bp1ecr0000005go2go",
        "resourceType": "ALIYUN::ECS::Instance",
        "state": "Stopping",
    },
}


def state_change_with(data: dict[str, Any], subject: str | None = None) -> str:
    event = sample_json("eventbridge-ecs-instance-statechange.json")
    event["data"] = data
    if subject is None:
        del event["subject"]
    else:
        event["subject"] = subject
    return json.dumps(event)


def console_operation(parameters: dict[str, Any], **data: Any) -> str:
    """A console tag edit as ActionTrail records it: typed values and the console's extra keys."""
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["type"] = "ecs:ActionTrail:ConsoleOperation"
    event["data"]["eventType"] = "ConsoleOperation"
    event["data"]["requestParameters"] = {
        "AcsHost": "ecs.cn-shanghai.aliyuncs.com",  # not the region: acsRegion is
        "RequestId": "3C7A1E0B-0000-4E5F-8A9B-0C1D2E3F4A5B",
        "AcceptLanguage": "en-US",
        "RegionId": "cn-hangzhou",
        **parameters,
    }
    event["data"].update(data)
    return json.dumps(event)


def test_state_change_as_ecs_sends_it_has_the_arn_and_the_id_in_content() -> None:
    invocation = parse_event(state_change_with(NOTIFICATION_BODY, subject=ARN))
    assert isinstance(invocation, StateChangeInvocation)
    assert (invocation.instance_id, invocation.state) == ("i-bp1ecr0000005go2go", "Stopping")
    assert invocation.region == "cn-hangzhou"


@pytest.mark.parametrize(
    "data",
    [
        {"resourceId": ARN, "state": "Running"},
        {"resourceId": ARN, "content": {"state": "Running"}},
        {"content": {"resourceId": "i-bp1ecr0000005go2go", "state": "Running"}},
    ],
)
def test_state_change_takes_the_id_from_the_arn_or_from_content(data: dict[str, Any]) -> None:
    invocation = parse_event(state_change_with(data))
    assert isinstance(invocation, StateChangeInvocation)
    assert invocation.instance_id == "i-bp1ecr0000005go2go"


@pytest.mark.parametrize(
    ("data", "subject", "message"),
    [
        (
            {**NOTIFICATION_BODY, "content": {"resourceId": "i-bp1other0000000001", "state": "x"}},
            None,
            "different instances",
        ),
        (NOTIFICATION_BODY, "acs:ecs:cn-hangzhou:1:instance/i-bp1other0000000001", "different"),
        (
            {"resourceId": "acs:ecs:cn-hangzhou:1:disk/d-bp1disk000000001", "state": "x"},
            None,
            "ARN",
        ),
        ({"resourceId": "acs:ecs:cn-hangzhou:1:instance/i-x;y", "state": "x"}, None, "instance id"),
        ({"resourceId": 5, "state": "Running"}, None, "not a string"),
        ({"state": "Running"}, None, "without an instance id"),
    ],
)
def test_state_change_that_is_really_malformed_is_refused(
    data: dict[str, Any], subject: str | None, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        parse_event(state_change_with(data, subject))


def test_console_operation_is_read_like_an_api_call() -> None:
    invocation = parse_event(
        console_operation(
            {
                "ResourceType": "instance",
                "ResourceId": ["i-bp1dev000000000009"],
                "Tag": [{"Key": "auto-release", "Value": "72h"}],
            }
        )
    )
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.instance_ids == ("i-bp1dev000000000009",)
    assert invocation.region == "cn-hangzhou"  # acsRegion, not the AcsHost's cn-shanghai


@pytest.mark.parametrize(
    ("event_name", "parameters", "removed"),
    [
        ("UntagResources", {"TagKey": ["auto-release"], "All": False}, ("auto-release",)),
        ("UntagResources", {"TagKey": "auto-release"}, ("auto-release",)),
        ("UntagResources", {"All": True}, None),
        ("RemoveTags", {"Tag": [{"Key": "auto-release"}]}, ("auto-release",)),
    ],
)
def test_console_untag_with_typed_values_names_the_removed_keys(
    event_name: str, parameters: dict[str, Any], removed: tuple[str, ...] | None
) -> None:
    invocation = parse_event(
        console_operation(
            {"ResourceType": "instance", "ResourceId": ["i-bp1dev000000000009"], **parameters},
            eventName=event_name,
        )
    )
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.removed_keys == removed


def test_a_single_resource_id_as_a_plain_string_is_read() -> None:
    invocation = parse_event(
        console_operation(
            {"ResourceType": "instance", "ResourceId": "i-bp1dev000000000009"}, eventName="AddTags"
        )
    )
    assert isinstance(invocation, TagChangeInvocation)
    assert invocation.instance_ids == ("i-bp1dev000000000009",)


DISK_TAGGED = {
    "ResourceId.1": "d-bp1disk000000001",
    "Tag.1.Key": "auto-release",
    "Tag.1.Value": "1h",
}


@pytest.mark.parametrize(
    ("parameters", "reason"),
    [
        # The disk's instance is in referencedResources and subject: it is not what was tagged.
        (DISK_TAGGED, "'d-bp1disk000000001', which is not an instance"),
        ({**DISK_TAGGED, "ResourceType": "disk"}, "on a 'disk', not an instance"),
        ({"ResourceType": "Disk", "ResourceId": ["d-bp1disk000000001"]}, "not an instance"),
        ({"ResourceType": ["instance"], "ResourceId": ["i-bp1dev000000000001"]}, "not an instance"),
        # Nothing in the request says which instance: doubt keeps, nothing is guessed.
        ({"ResourceType": "instance", "Tag.1.Key": "auto-release"}, "does not say which instance"),
        ({"Tag.1.Key": "auto-release"}, "does not say which instance"),
    ],
)
def test_a_tag_call_not_about_an_instance_is_ignored_whatever_referenced_resources_say(
    parameters: dict[str, Any], reason: str
) -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["data"]["requestParameters"] = parameters
    event["data"]["referencedResources"] = {
        "ACS::ECS::Instance": ["i-bp1dev000000000001"],
        "ACS::ECS::Disk": ["d-bp1disk000000001"],
    }
    invocation = parse_event(json.dumps(event))
    assert isinstance(invocation, IgnoredInvocation)
    assert reason in invocation.reason


def test_a_record_without_request_parameters_is_ignored() -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    del event["data"]["requestParameters"]
    invocation = parse_event(json.dumps(event))
    assert isinstance(invocation, IgnoredInvocation)
    assert "does not say which instance" in invocation.reason


def test_a_tag_call_naming_more_resources_than_the_api_takes_is_refused() -> None:
    ids = [f"i-bp1dev{n:012d}" for n in range(51)]
    with pytest.raises(InvalidInputError, match="at most 50"):
        parse_event(console_operation({"ResourceType": "instance", "ResourceId": ids}))


@pytest.mark.parametrize(
    "body",
    [
        NOTIFICATION_BODY,
        {key: NOTIFICATION_BODY[key] for key in ("ver", "eventTime", "name", "content")},
        # CloudMonitor's own form has no `ver` (and its `content` varies by event)
        {key: NOTIFICATION_BODY[key] for key in ("product", "name", "regionId", "resourceId")},
    ],
)
def test_a_notification_body_without_the_eventbridge_envelope_is_refused_as_such(
    body: dict[str, Any],
) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_event(json.dumps(body))
    assert "notification body" in refused.value.problem
    assert "expects the EventBridge event" in refused.value.problem
    assert "unknown option" not in str(refused.value)


@pytest.mark.parametrize("name", list(DEEP_OR_HUGE))
def test_deep_or_huge_json_anywhere_is_refused_not_a_crash(name: str) -> None:
    raw, field, message = DEEP_OR_HUGE[name]
    with pytest.raises(InvalidInputError) as refused:
        parse_event(raw)
    assert refused.value.field == field
    assert message in refused.value.problem


def test_a_huge_instance_id_is_refused_without_quoting_it() -> None:
    event = sample_json("eventbridge-ecs-instance-statechange.json")
    event["data"]["resourceId"] = "i-" + "a" * 100_000
    with pytest.raises(InvalidInputError) as refused:
        parse_event(json.dumps(event))
    assert "character value" in refused.value.problem
    assert len(str(refused.value)) < 200


REFERENCED_ONLY = "i-bp1referenced0001"  # listed beside the tagged resource, never tagged itself
_PARAMETER_NAMES = ["ResourceType", "ResourceId", "ResourceId.1", "ResourceId.2", "InstanceId"]
_PARAMETER_VALUES = st.one_of(
    st.sampled_from(["instance", "Instance", "disk", "i-bp1tagged00000001", "d-bp1disk000000001"]),
    st.lists(st.sampled_from(["i-bp1tagged00000001", "d-bp1disk000000001", "i-bp1tagged00000002"])),
    JSON_VALUES,
)


@given(
    st.sampled_from(sorted(TAG_EVENT_NAMES)),
    st.dictionaries(
        st.sampled_from([*_PARAMETER_NAMES, "TagKey", "Tag", "Tag.1.Key", "All", "AcsHost"]),
        _PARAMETER_VALUES,
        max_size=6,
    ),
    st.sampled_from(["ecs:ActionTrail:ApiCall", "ecs:ActionTrail:ConsoleOperation"]),
)
# Found once on Python 3.10: a ResourceType given as JSON null.
@example(
    "AddTags",
    {"ResourceType": None, "ResourceId": ["i-bp1tagged00000001"]},
    "ecs:ActionTrail:ApiCall",
)
def test_a_tag_record_acts_only_on_instances_its_request_parameters_name(
    event_name: str, parameters: dict[str, Any], event_type: str
) -> None:
    event = sample_json("eventbridge-ecs-tagresources.json")
    event["type"] = event_type
    event["subject"] = f"acs:ecs:cn-hangzhou:1:instance/{REFERENCED_ONLY}"
    event["data"]["eventName"] = event_name
    event["data"]["requestParameters"] = parameters
    event["data"]["referencedResources"] = {"ACS::ECS::Instance": [REFERENCED_ONLY]}
    try:
        invocation = parse_event(json.dumps(event))
    except InvalidInputError as refusal:
        assert refusal.problem
        return
    if isinstance(invocation, IgnoredInvocation):
        assert invocation.reason
        return
    assert isinstance(invocation, TagChangeInvocation)
    assert REFERENCED_ONLY not in invocation.instance_ids
    # A ResourceType given as null is read as absent, so the ids' own prefix decides: acting on a
    # tag change is only a fresh read and a re-plan, and ignoring one could leave a cancel unsent.
    resource_type = parameters.get("ResourceType")
    assert resource_type is None or str(resource_type).lower() == "instance"
    assert all(instance_id.startswith("i-") for instance_id in invocation.instance_ids)
    named = json.dumps(parameters)
    assert all(instance_id in named for instance_id in invocation.instance_ids)
