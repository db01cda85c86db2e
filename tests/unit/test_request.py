"""The RunRequest for each kind of invocation: the rules that turn an event into a run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.events import parse_event
from ecs_lifecycle.model import FromTag, Function, Outcome, ReleaseAfter
from ecs_lifecycle.request import NothingToDo, request_for
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings import RunRequest, Settings
from tests.support import sample

ENV = {"FC_REGION": "cn-hangzhou", "TARGET_TAGS": "env=dev"}
TRIGGER = datetime(2026, 11, 26, 14, 0, tzinfo=timezone.utc)


def request(function: Function, event: bytes | str, **env: str) -> RunRequest | NothingToDo:
    settings = Settings.from_env(function, {**ENV, **env})
    return request_for(function, parse_event(event), settings)


def run_request(function: Function, event: bytes | str, **env: str) -> RunRequest:
    made = request(function, event, **env)
    assert isinstance(made, RunRequest), made
    return made


def test_a_timer_release_after_counts_from_the_trigger_time() -> None:
    timer = {
        "triggerTime": "2026-11-26T14:00:00Z",
        "triggerName": "extend",
        "payload": json.dumps({"tags": {"env": "dev"}, "release_after": "8h"}),
    }
    made = run_request(Function.AUTO_RELEASE, json.dumps(timer))
    assert made.schedule == ReleaseAfter(timedelta(hours=8), since=TRIGGER)


def test_a_manual_release_after_counts_from_the_run() -> None:
    manual = {"instance_ids": ["i-bp1dev000000000001"], "release_after": "8h"}
    made = run_request(Function.AUTO_RELEASE, json.dumps(manual))
    assert made.schedule == ReleaseAfter(timedelta(hours=8), since=None)


def test_a_reconcile_selects_only_instances_carrying_the_tag_inside_the_fence() -> None:
    made = run_request(Function.AUTO_RELEASE, sample("timer-empty-payload.json"))
    assert made.schedule == FromTag()
    assert made.selection.tags == TagSelector((("env", "dev"), ("auto-release", None)))
    assert made.selection.instance_ids is None


@pytest.mark.parametrize(
    ("removed", "cancels"),
    [(["auto-release"], True), (["team"], False), (None, True)],
    ids=["the auto-release tag", "another tag", "all tags"],
)
def test_an_untag_cancels_only_when_it_removed_the_auto_release_tag(
    removed: list[str] | None, cancels: bool
) -> None:
    event = json.loads(sample("eventbridge-ecs-untagresources.json"))
    parameters = event["data"]["requestParameters"]
    del parameters["TagKey.1"]
    if removed is None:
        parameters["All"] = True
    else:
        parameters.update({f"TagKey.{n}": key for n, key in enumerate(removed, 1)})
    made = run_request(Function.AUTO_RELEASE, json.dumps(event))
    assert made.schedule == FromTag(cancel_when_missing=cancels)
    assert made.selection.instance_ids == ("i-bp1dev000000000002",)
    # The fleet fence holds for events too.
    assert made.selection.tags == TagSelector((("env", "dev"),))


def test_a_deleted_instance_asks_for_nothing() -> None:
    event = json.loads(sample("eventbridge-ecs-instance-statechange.json"))
    event["data"]["state"] = "Deleted"
    made = request(Function.AUTO_RELEASE, json.dumps(event))
    assert isinstance(made, NothingToDo)
    assert "released" in made.reason


def test_an_event_from_a_region_outside_the_fence_is_one_skipped_result_per_instance() -> None:
    made = request(
        Function.AUTO_RELEASE,
        sample("eventbridge-ecs-tagresources.json").replace(b"cn-hangzhou", b"cn-beijing"),
    )
    assert isinstance(made, NothingToDo)
    assert [(r.instance_id, r.outcome) for r in made.results] == [
        ("i-bp1dev000000000001", Outcome.SKIPPED)
    ]
    assert "outside this deployment's regions" in made.reason


def test_only_auto_release_handles_eventbridge_events() -> None:
    with pytest.raises(InvalidInputError, match="only auto-release"):
        request(Function.RELEASE, sample("eventbridge-ecs-tagresources.json"))


def test_a_failed_api_call_record_asks_for_nothing() -> None:
    event = json.loads(sample("eventbridge-ecs-tagresources.json"))
    event["data"]["errorCode"] = "Forbidden.RAM"
    made = request(Function.AUTO_RELEASE, json.dumps(event))
    assert isinstance(made, NothingToDo)
    assert "Forbidden.RAM" in made.reason
