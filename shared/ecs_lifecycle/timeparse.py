"""Parsing of the times and durations users write, and of the times ECS returns.

Pure functions; nothing here reads the clock.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Final

_SHORT_DURATION: Final = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$", re.IGNORECASE)
_ISO_DURATION: Final = re.compile(
    r"^P(?:(?P<weeks>\d{1,6})W)?(?:(?P<days>\d{1,6})D)?"
    r"(?:T(?:(?P<hours>\d{1,6})H)?(?:(?P<minutes>\d{1,6})M)?(?:(?P<seconds>\d{1,6})S)?)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS: Final = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
# Long enough for any legal auto-release time (3 years); stops absurd numbers early.
_MAX_DURATION: Final = timedelta(days=3660)


def parse_duration(text: str) -> timedelta | None:
    """`90m`, `8h`, `3d`, `2w` or ISO-8601 `PT8H` / `P1DT2H`; None when `text` is not one."""
    short = _SHORT_DURATION.match(text)
    if short:
        duration = timedelta(seconds=int(short.group(1)) * _UNIT_SECONDS[short.group(2).lower()])
    else:
        iso = _ISO_DURATION.match(text.strip())
        if not iso or not any(iso.groupdict().values()) or text.strip().upper().endswith("T"):
            return None
        parts = {name: int(value) for name, value in iso.groupdict().items() if value}
        duration = timedelta(**parts)
    if duration <= timedelta(0) or duration > _MAX_DURATION:
        return None
    return duration


def parse_zoned_time(text: str) -> datetime | None:
    """An ISO-8601 time that names its zone (`Z` or an offset), as UTC; None otherwise.

    A time without a zone is refused on purpose: guessing the zone of a release time is how
    instances get released hours early.
    """
    candidate = text.strip()
    if not candidate or len(candidate) > 40:
        return None
    if candidate[-1] in "zZ":
        candidate = candidate[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        return None
    return moment.astimezone(timezone.utc)


def parse_api_time(text: str | None) -> datetime | None:
    """A time as ECS returns it (`yyyy-MM-ddTHH:mmZ`, with or without seconds); None if empty."""
    if not text:
        return None
    for pattern in ("%Y-%m-%dT%H:%MZ", "%Y-%m-%dT%H:%M:%SZ"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def ceil_to_minute(moment: datetime) -> datetime:
    """The first whole minute at or after `moment`."""
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


def floor_to_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
