"""How the planner says things: moments, spans and the skipped decisions its reasons go with.

Every result carries its reason as text for a person; these keep the wording of times and
durations the same across the stop, release and auto-release rules.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, tzinfo

from ecs_lifecycle.model import Action, Decision, Instance
from ecs_lifecycle.timeparse import parse_zoned_time


def show(moment: datetime) -> str:
    """A moment in a reason, in UTC to the minute: `2026-12-04T10:00Z`."""
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def show_in_zone(moment: datetime, zone: tzinfo) -> str:
    """A moment as people in the fleet's zone read it: `2026-12-04 18:00 +08:00`.

    Raises:
        OverflowError: the moment falls past the calendar's last day in `zone`.
    """
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{local:%Y-%m-%d %H:%M} {sign}{minutes // 60:02d}:{minutes % 60:02d}"


def show_keep(moment: datetime, value: str, zone: tzinfo) -> str:
    """A keep-until moment in the fleet's zone (`2026-12-04 18:00 +08:00`); a date as its end."""
    try:
        shown = show_in_zone(moment, zone)
    except OverflowError:  # 9999-12-31 in a zone east of UTC: past the calendar's last day
        return f"{value.strip()!r}, the end of time"
    if parse_zoned_time(value) is None:
        return f"the end of {value.strip()} ({shown})"
    return shown


def span(length: timedelta) -> str:
    """A duration as a setting is written: `24h`, `2d`, `90m`."""
    minutes = length // timedelta(minutes=1)
    if minutes % (24 * 60) == 0 and minutes >= 2 * 24 * 60:
        return f"{minutes // (24 * 60)}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def show_duration(length: timedelta) -> str:
    """A span as people say it: whole days, else hours, else minutes (rounded down)."""
    seconds = max(int(length.total_seconds()), 0)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return "less than a minute"


def noted(decision: Decision, note: str) -> Decision:
    """The decision with `note` added to its reason (nothing when the note is empty)."""
    return replace(decision, reason=f"{decision.reason}; {note}") if note else decision


def skip(instance: Instance, action: Action, reason: str) -> Decision:
    """`action` is not taken on this instance, for `reason`."""
    return Decision(instance.instance_id, instance.region, action, reason, skipped=True)


def nothing_to_do(instance: Instance, reason: str) -> Decision:
    """Nothing needs doing to this instance, for `reason`."""
    return Decision(instance.instance_id, instance.region, Action.NONE, reason, skipped=True)
