"""The release-time rule (planning/release_time.py) as a table, and the three functions agreeing
on it: what the auto-release function announces is when the release function lets an instance
go, and the stop function honours the same keep signals (issue 20)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ecs_lifecycle.model import Action, FromTag, Instance, TagWrites
from ecs_lifecycle.planning import (
    Policy,
    decide_auto_release,
    decide_release,
    decide_stop,
    release_time,
)

UTC = timezone.utc
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
ID = "i-rule"
SINCE = NOW - timedelta(hours=25)
NO_RECORD = TagWrites(since=SINCE)
FROM_4 = "released from 2026-11-27T04:00Z"
NONE: dict[str, datetime] = {}


def at(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def written(hours_ago: float) -> TagWrites:
    return TagWrites(since=SINCE, written={ID: NOW - timedelta(hours=hours_ago)})


def instance(
    tags: dict[str, str],
    *,
    created: datetime = NOW - timedelta(days=14),
    auto_release: datetime | None = None,
) -> Instance:
    return Instance(
        ID, "cn-hangzhou", "Stopped", "PostPaid", False, auto_release, created, tuple(tags.items())
    )


@pytest.mark.parametrize(
    ("tags", "writes", "given", "says", "due"),
    [
        # The lifetime passed; the tag was written 2 h ago: the notice runs from then.
        ({"auto-release": "72h"}, written(2), NONE, FROM_4, at(22)),
        # No tag call in the records: written before them; the notice has run.
        ({"auto-release": "72h"}, NO_RECORD, NONE, None, None),
        # When the tag was written was not read, or cannot be: doubt keeps.
        ({"auto-release": "72h"}, None, NONE, "was not read", None),
        (
            {"auto-release": "72h"},
            TagWrites(since=SINCE, problem="ActionTrail: ServiceUnavailable"),
            NONE,
            "unknown (ActionTrail: ServiceUnavailable)",
            None,
        ),
        # An ECS time the tool set, still ahead: the promise; with the notice too, the later.
        ({"auto-release": "72h"}, NO_RECORD, {"auto_release": at(5)}, "promised", at(5)),
        ({"auto-release": "72h"}, written(2), {"auto_release": at(23)}, "promised", at(23)),
        ({"auto-release": "never"}, NO_RECORD, NONE, "kept indefinitely", None),
        ({"auto-release": "6M"}, NO_RECORD, NONE, "cannot be read", None),
        # A time ahead, but sooner than the notice from the write: the notice wins.
        ({"auto-release": "2026-11-26T09:00Z"}, written(1), NONE, "from 2026-11-27T05:00Z", at(23)),
        # A time ahead beyond the notice: the tag's time.
        ({"auto-release": "2026-11-30T00:00Z"}, written(1), NONE, "keeps it until", None),
        # Tags given at creation leave no tag record: the notice counts from the creation.
        ({"auto-release": "1h"}, NO_RECORD, {"created": at(-2)}, FROM_4, at(22)),
    ],
)
def test_the_release_time_rule(
    tags: dict[str, str],
    writes: TagWrites | None,
    given: dict[str, datetime],
    says: str | None,
    due: datetime | None,
) -> None:
    item = instance(tags, **given)
    rule = release_time(item, Policy(tag_writes=writes), NOW)
    if says is None:
        assert rule.waits is None
    else:
        assert rule.waits is not None
        assert says in rule.waits
    if due is not None:
        assert rule.due == due


def test_with_no_minimum_notice_the_anchor_does_not_matter() -> None:
    rule = release_time(instance({"auto-release": "72h"}), Policy(min_notice=timedelta(0)), NOW)
    assert rule.waits is None


@pytest.mark.parametrize(
    ("tags", "writes", "created"),
    [
        ({"auto-release": "72h"}, written(0), None),
        ({"auto-release": "72h"}, written(3), None),
        ({"auto-release": "2026-11-26T09:00Z"}, written(1), None),
        ({"auto-release": "1h"}, NO_RECORD, at(-2)),
        ({"auto-release": "30h", "keep-until": "2026-11-28T00:00Z"}, written(1), at(-1)),
    ],
)
def test_what_the_auto_release_function_announces_is_when_the_release_function_lets_it_go(
    tags: dict[str, str], writes: TagWrites, created: datetime | None
) -> None:
    item = instance(tags, created=created or NOW - timedelta(days=14))
    policy = Policy(tag_writes=writes)
    announced = decide_auto_release(item, FromTag(), policy, NOW).release_at
    assert announced is not None
    for hours in (0, 1, 6, 12, 20):
        moment = NOW + timedelta(hours=hours)
        if moment >= announced:
            break
        kept = decide_release(item, policy, moment)
        assert kept.skipped, f"released at {moment}, before the announced {announced}"
    after = decide_release(item, policy, announced)
    assert not after.skipped, after.reason


@pytest.mark.parametrize(
    "tags",
    [{"protected": "true"}, {"Keep-Until": "2026-11-30"}, {"keep-until": "friday"}],
)
def test_stop_and_release_read_the_same_keep_signals(tags: dict[str, str]) -> None:
    item = instance(tags)
    running = Instance(**{**{f: getattr(item, f) for f in Instance.__slots__}, "status": "Running"})
    stop = decide_stop(running, Policy(), NOW)
    release = decide_release(item, Policy(), NOW)
    assert stop.skipped
    assert release.skipped
    assert stop.action is Action.STOP
    assert stop.reason.split(";")[0] == release.reason.split(";")[0]
