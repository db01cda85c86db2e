"""The keep-until and minimum-notice settings: typed once, refused early, naming the variable."""

from __future__ import annotations

from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ecs_lifecycle.errors import ConfigError
from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import Settings

BASE_ENV = {"FC_REGION": "cn-hangzhou"}


def settings(**env: str) -> Settings:
    return Settings.from_env(Function.RELEASE, {**BASE_ENV, **env})


def test_defaults() -> None:
    default = settings()
    assert default.keep_tag == "keep-until"
    assert default.time_zone == timezone.utc
    assert default.max_keep_days == 30
    assert default.min_notice == timedelta(hours=24)


def test_values_are_read() -> None:
    given = settings(
        KEEP_TAG="hold-until",
        TIME_ZONE="Asia/Shanghai",
        MAX_KEEP_DAYS="14",
        MIN_NOTICE="12h",
    )
    assert given.keep_tag == "hold-until"
    assert given.time_zone == ZoneInfo("Asia/Shanghai")
    assert given.max_keep_days == 14
    assert given.min_notice == timedelta(hours=12)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("PT90M", timedelta(minutes=90)),
        ("2d", timedelta(days=2)),
        ("30d", timedelta(days=30)),
    ],
)
def test_min_notice_takes_a_duration_or_zero(text: str, expected: timedelta) -> None:
    assert settings(MIN_NOTICE=text).min_notice == expected


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("TIME_ZONE", "Asia/Shangai", "not a time zone"),
        ("TIME_ZONE", "asia/shanghai", "not a time zone"),
        ("TIME_ZONE", "+08:00", "not a time zone"),
        ("TIME_ZONE", "../../etc/passwd", "not a time zone"),
        ("TIME_ZONE", "/etc/localtime", "not a time zone"),
        ("TIME_ZONE", "Asia", "not a time zone"),
        ("MIN_NOTICE", "6M", "not a duration"),
        ("MIN_NOTICE", "-1h", "not a duration"),
        ("MIN_NOTICE", "31d", "more than 30 days"),
        ("AUTO_RELEASE_HORIZON", "soon", "not a duration"),
        ("AUTO_RELEASE_HORIZON", "1h", "must exceed the hourly reconcile"),
        ("AUTO_RELEASE_HORIZON", "90m", "must exceed the hourly reconcile"),
        ("AUTO_RELEASE_HORIZON", "2d", "more than 1 day"),
        ("MAX_KEEP_DAYS", "0", "at least 1"),
        ("MAX_KEEP_DAYS", "a month", "not a whole number"),
    ],
)
def test_bad_values_are_refused_naming_the_variable(name: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem) as refused:
        settings(**{name: value})
    assert refused.value.field == name


@pytest.mark.parametrize(
    ("text", "expected"), [("", timedelta(hours=2)), ("3h", timedelta(hours=3))]
)
def test_the_horizon_defaults_to_two_hours(text: str, expected: timedelta) -> None:
    assert settings(AUTO_RELEASE_HORIZON=text).auto_release_horizon == expected
