"""Durations and times as users write them and as ECS returns them; property-based where it pays.

The answers must not depend on the Python version: FC runs python3.10, whose
`datetime.fromisoformat` refuses forms 3.11 accepts. `make test` runs this file on 3.10 too.
"""

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("6m", timedelta(minutes=6)),  # lower-case m: minutes, as the README says
        ("8H", timedelta(hours=8)),  # the other units mean one thing in either case
        ("3D", timedelta(days=3)),
        ("2W", timedelta(weeks=2)),
        (" 12h ", timedelta(hours=12)),
        ("pt8h", timedelta(hours=8)),
        ("PT6M", timedelta(minutes=6)),  # after T, ISO-8601's M is minutes
    ],
)
def test_durations_in_either_case_where_the_unit_is_unambiguous(
    text: str, expected: timedelta
) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "8",
        "h",
        "8y",
        "P",
        "PT",
        "-8h",
        "0m",
        "1.5h",
        "99999999d",
        "6M",  # months to many people: `auto-release=6M` must not release within the hour
        "6 M",
        "P6M",  # ISO-8601 months
        "P1M",
        "P1Y",
        "6mo",
        "6min",
        "1h30m",
        "6ms",
    ],
)
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_times_need_a_zone() -> None:
    assert parse_zoned_time("2026-12-01T10:00:00") is None
    assert parse_zoned_time("2026-12-01T18:00:00+08:00") == datetime(
        2026, 12, 1, 10, tzinfo=timezone.utc
    )


TEN_UTC = datetime(2026, 12, 1, 10, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01T18:00:00+08:00", TEN_UTC),
        ("2026-12-01T18:00:00+0800", TEN_UTC),  # refused by 3.10's fromisoformat
        ("2026-12-01T18:00:00+08", TEN_UTC),  # likewise
        ("2026-12-01T18:00+08:00", TEN_UTC),
        ("2026-12-01 18:00:00+08:00", TEN_UTC),
        ("2026-12-01t18:00:00+08:00", TEN_UTC),
        ("2026-12-01T10:00:00Z", TEN_UTC),
        ("2026-12-01T10:00:00z", TEN_UTC),
        ("2026-12-01T10:00Z", TEN_UTC),
        ("2026-12-01T05:00:00-05:00", TEN_UTC),
        ("2026-12-01T10:00:00-00:00", TEN_UTC),
        (" 2026-12-01T10:00:00Z ", TEN_UTC),
        ("2026-12-01T10:00:00.5Z", TEN_UTC.replace(microsecond=500000)),  # 3.10 refuses
        ("2026-12-01T10:00:00.123Z", TEN_UTC.replace(microsecond=123000)),
        ("2026-12-01T10:00:00.123456Z", TEN_UTC.replace(microsecond=123456)),
        ("2026-12-01T10:00:00.1234567Z", TEN_UTC.replace(microsecond=123456)),  # 3.10 refuses
        ("2026-12-01T10:00:00.123456789Z", TEN_UTC.replace(microsecond=123456)),
        ("2026-12-01T10:00:00,5Z", TEN_UTC.replace(microsecond=500000)),  # ISO's decimal comma
    ],
)
def test_zoned_times_read_the_same_on_every_python(text: str, expected: datetime) -> None:
    parsed = parse_zoned_time(text)
    assert parsed == expected
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-12-01T10:00:00",  # no zone
        "2026-12-01",
        "2026-12-01T10Z",  # hour only
        "20261201T100000Z",  # ISO basic format: accepted by 3.11 only
        "20261201T180000+0800",
        "2026-W49-2T10:00:00Z",  # week dates: 3.11 only
        "2026-335T10:00:00Z",  # ordinal dates
        "2026-12-01T10:00:00 Z",
        "2026-12-01T10:00:00 +08:00",
        "2026-12-01T18:00:00+08:00:30",  # seconds in the offset
        "2026-12-01T18:00:00+8:00",
        "2026-12-01T18:00:00+24:00",
        "2026-12-01T18:00:00+08:60",
        "2026-12-01T24:00:00Z",
        "2026-12-01T10:00:60Z",
        "2026-13-01T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-12-01T10:00:00.Z",
        "2026-12-01T10:00:00.1234567890Z",
        "2026-12-01T10:00:00ZZ",
        "2026-12-01T10:00:00+08:00Z",
        "\uff12\uff10\uff12\uff16-12-01T10:00:00Z",  # full-width digits, not ASCII ones
        "tomorrow",
        "9999-12-31T23:00:00-05:00",  # the year 10000 in UTC: unreadable, not an OverflowError
        "0001-01-01T00:00:00+05:00",  # the year 0 in UTC
    ],
)
def test_not_zoned_times(text: str) -> None:
    assert parse_zoned_time(text) is None


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from(
            [
                timezone.utc,
                timezone(timedelta(hours=8)),
                timezone(timedelta(hours=-5)),
                timezone(timedelta(hours=5, minutes=45)),
            ]
        ),
    ),
    st.sampled_from(["seconds", "milliseconds", "microseconds"]),
)
def test_isoformat_round_trips(moment: datetime, precision: str) -> None:
    """What Python itself writes (any precision) reads back as the same instant."""
    text = moment.isoformat(timespec=precision)
    expected = moment.replace(microsecond=0) if precision == "seconds" else moment
    if precision == "milliseconds":
        expected = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parse_zoned_time(text) == expected.astimezone(timezone.utc)


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
