"""Parsing of the times and durations users write, and of the times ECS returns.

Pure functions; nothing here reads the clock. The grammars are written out here rather than left
to `datetime.fromisoformat`, whose answers depend on the Python version: 3.10 (FC's runtime)
refuses `+0800`, `+08` and fractions of other than 3 or 6 digits, which 3.11 accepts, together
with ISO week dates and the basic format. A tag must mean the same wherever it is read.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Final

# Units in either case, except M: `6M` is six months to many people, and six minutes here would
# release the instance within the hour, so a capital M is refused (unreadable, and so skipped).
_SHORT_DURATION: Final = re.compile(r"^\s*([0-9]{1,6})\s*([mhHdDwW])\s*$")
_ISO_DURATION: Final = re.compile(
    r"^P(?:(?P<weeks>[0-9]{1,6})W)?(?:(?P<days>[0-9]{1,6})D)?"
    r"(?:T(?:(?P<hours>[0-9]{1,6})H)?(?:(?P<minutes>[0-9]{1,6})M)?(?:(?P<seconds>[0-9]{1,6})S)?)?$",
    re.IGNORECASE,
)
_UNIT_SECONDS: Final = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
# ASCII digits only ([0-9], not \d, which matches other scripts' digits too).
_ZONED_TIME: Final = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt ]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2})"
    r"(?::(?P<second>[0-9]{2})(?:[.,](?P<fraction>[0-9]{1,9}))?)?"
    r"(?P<zone>[Zz]|(?P<sign>[+-])(?P<offset_hours>[0-9]{2})(?::?(?P<offset_minutes>[0-9]{2}))?)"
)
# Long enough for any legal auto-release time (3 years); stops absurd numbers early.
_MAX_DURATION: Final = timedelta(days=3660)


def parse_duration(text: str) -> timedelta | None:
    """`90m`, `8h`, `3d`, `2w` or ISO-8601 `PT8H` / `P1DT2H`; None when `text` is not one.

    `6M` is None (months or minutes? see _SHORT_DURATION), and so are ISO-8601 months and years
    (`P6M`, `P1Y`): a month has no fixed length.
    """
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
    """An ISO-8601 / RFC 3339 time that names its zone, as UTC; None otherwise.

    `YYYY-MM-DD`, then `T` (or `t`, or a space), `HH:MM`, optionally `:SS` and a fraction (`.` or
    `,`, 1-9 digits; past microseconds it is cut), then `Z` or an offset `+HH:MM`, `+HHMM` or `+HH`.
    The same answer on every Python version. A time without a zone is refused on purpose:
    guessing the zone of a release time is how instances get released hours early. So are the
    forms people rarely mean (week and ordinal dates, the basic format, an hour alone).
    """
    match = _ZONED_TIME.fullmatch(text.strip())
    if match is None:
        return None
    fraction = (match["fraction"] or "").ljust(6, "0")[:6]
    zone = timezone.utc
    if match["sign"] is not None:
        hours, minutes = int(match["offset_hours"]), int(match["offset_minutes"] or 0)
        if hours > 23 or minutes > 59:
            return None
        offset = timedelta(hours=hours, minutes=minutes)
        zone = timezone(-offset if match["sign"] == "-" else offset)
    try:
        moment = datetime(
            int(match["year"]),
            int(match["month"]),
            int(match["day"]),
            int(match["hour"]),
            int(match["minute"]),
            int(match["second"] or 0),
            int(fraction),
            tzinfo=zone,
        )
    except ValueError:  # month 13, February 30, hour 24, second 60, ...
        return None
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
        return None


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
