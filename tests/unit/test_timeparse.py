"""Durations and times as users write them and as ECS returns them; property-based where it pays."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecs_lifecycle.model import format_api_time
from ecs_lifecycle.timeparse import (
    ceil_to_minute,
    parse_api_time,
    parse_duration,
    parse_zoned_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("8h", timedelta(hours=8)),
        ("3d", timedelta(days=3)),
        ("2w", timedelta(weeks=2)),
        ("PT8H", timedelta(hours=8)),
        ("P1DT2H30M", timedelta(days=1, hours=2, minutes=30)),
        ("P2W", timedelta(weeks=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "8", "h", "8y", "P", "PT", "-8h", "0m", "1.5h", "99999999d"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_times_need_a_zone() -> None:
    assert parse_zoned_time("2026-12-01T10:00:00") is None
    assert parse_zoned_time("2026-12-01T18:00:00+08:00") == datetime(
        2026, 12, 1, 10, tzinfo=timezone.utc
    )


def test_api_times_with_and_without_seconds() -> None:
    assert parse_api_time("2026-12-01T10:05Z") == datetime(2026, 12, 1, 10, 5, tzinfo=timezone.utc)
    assert parse_api_time("2026-12-01T10:05:30Z") == datetime(
        2026, 12, 1, 10, 5, 30, tzinfo=timezone.utc
    )
    assert parse_api_time("") is None


@given(st.datetimes(timezones=st.just(timezone.utc)))
def test_ceil_to_minute_is_the_first_whole_minute_not_before(moment: datetime) -> None:
    ceiled = ceil_to_minute(moment)
    assert ceiled.second == 0
    assert ceiled.microsecond == 0
    assert timedelta(0) <= ceiled - moment < timedelta(minutes=1)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [timezone.utc, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))]
        ),
    )
)
def test_api_time_format_is_utc_whole_minutes_and_round_trips(moment: datetime) -> None:
    text = format_api_time(moment)
    assert text.endswith(":00Z")
    parsed = parse_api_time(text)
    assert parsed == moment.astimezone(timezone.utc).replace(second=0, microsecond=0)
