"""What a notice asks of a run, and the pieces of a message the run adds: owner, name, keep."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ecs_lifecycle.events import parse_event
from ecs_lifecycle.model import Function, Instance, Notice
from ecs_lifecycle.notices import keep_hint, owner_of, with_people
from ecs_lifecycle.request import request_for
from ecs_lifecycle.settings import RunRequest, Settings

TRIGGER = datetime(2026, 11, 26, 13, 0, tzinfo=timezone.utc)
ENV = {"FC_REGION": "cn-hangzhou", "TARGET_TAGS": "env=dev"}


def run_request(function: Function, event: str) -> RunRequest:
    made = request_for(function, parse_event(event), Settings.from_env(function, ENV))
    assert isinstance(made, RunRequest), made
    return made


def instance(*tags: tuple[str, str], name: str = "") -> Instance:
    return Instance("i-1", "cn-hangzhou", "Stopped", "PostPaid", False, None, None, tags, name=name)


def test_a_notice_timer_is_a_dry_run_for_the_real_run_that_long_after_its_trigger() -> None:
    payload = {"tags": {"env": "dev"}, "dry_run": False, "notice": "1h"}
    event = {
        "triggerTime": "2026-11-26T13:00:00Z",
        "triggerName": "n",
        "payload": json.dumps(payload),
    }

    made = run_request(Function.RELEASE, json.dumps(event))

    assert made.dry_run is True
    assert made.notice == Notice(timedelta(hours=1), since=TRIGGER)
    assert made.notice.run_at(TRIGGER + timedelta(minutes=3)) == TRIGGER + timedelta(hours=1)


def test_a_manual_notice_counts_from_the_run_and_a_digest_is_a_window() -> None:
    made = run_request(Function.AUTO_RELEASE, json.dumps({"notice": "30m", "digest": "24h"}))
    now = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
    assert made.notice is not None
    assert made.notice.run_at(now) == now + timedelta(minutes=30)
    assert made.digest == timedelta(hours=24)


@pytest.mark.parametrize(
    ("moment", "zone", "value"),
    [
        # 23:30 UTC is already the 2nd in Shanghai: tomorrow there is the 3rd.
        (datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc), "Asia/Shanghai", "2026-12-03"),
        (datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc), "UTC", "2026-12-02"),
        (datetime(2026, 12, 31, 12, 0, tzinfo=timezone.utc), "UTC", "2027-01-01"),
    ],
)
def test_the_keep_value_is_the_end_of_tomorrow_in_the_fleets_zone(
    moment: datetime, zone: str, value: str
) -> None:
    settings = Settings(Function.RELEASE, ("cn-hangzhou",), time_zone=ZoneInfo(zone))
    hint = keep_hint(settings, moment)
    assert (hint.tag_key, hint.value) == ("keep-until", value)


def test_the_owner_tag_matches_in_any_case_and_the_result_itself_is_left_alone() -> None:
    assert owner_of(instance(("Owner", "bob")), "owner") == "bob"
    assert owner_of(instance(("owner", "alice"), ("Owner", "bob")), "owner") == "alice"
    assert owner_of(instance(("team", "x")), "owner") is None
    result = {
        "instances": [
            {"instance_id": "i-1", "reason": "dry run: matches tags env=dev"},
            {"instance_id": "i-gone", "reason": "not found"},
        ]
    }

    shown = with_people(result, [instance(("owner", "alice"), name="web")], "owner",
                        strip_dry_run=True)  # fmt: skip

    assert shown["instances"] == [
        {"instance_id": "i-1", "reason": "matches tags env=dev", "owner": "alice", "name": "web"},
        {"instance_id": "i-gone", "reason": "not found"},
    ]
    assert result["instances"][0] == {
        "instance_id": "i-1",
        "reason": "dry run: matches tags env=dev",
    }
