"""Values both the environment and an event may give: regions and a stopped-for wait; and the
refusal of a run that has no region from either."""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from ecs_lifecycle.errors import ConfigError, InvalidInputError
from ecs_lifecycle.selection import unique, validate_region
from ecs_lifecycle.timeparse import parse_duration

# ActionTrail's LookupEvents answers the last 90 days (docs/actiontrail.md): a `stopped_for`
# longer than that could never be proven, so it is refused rather than keeping everything quietly.
STOP_RECORD_RETENTION: Final = timedelta(days=90)
NO_REGION: Final = (
    "no region: name regions in the event, set TARGET_REGIONS, or run where FC sets FC_REGION"
)


def parse_stopped_for(field: str, text: str) -> timedelta:
    """How long an instance must have been Stopped before release: 1 hour to 90 days.

    Raises:
        InvalidInputError: not a duration, or outside what ActionTrail's records can prove.
    """
    duration = parse_duration(text)
    if duration is None:
        raise InvalidInputError(field, f"{text!r} is not a duration such as 7d, 2w or 36h")
    if duration < timedelta(hours=1) or duration > STOP_RECORD_RETENTION:
        raise InvalidInputError(
            field,
            f"{text!r} must be 1 hour to 90 days: ActionTrail keeps 90 days of stop records, "
            "and a longer wait could never be proven",
        )
    return duration


def parse_regions(field: str, spec: str | list[str]) -> tuple[str, ...]:
    items = spec.split(",") if isinstance(spec, str) else spec
    regions = unique(validate_region(field, item.strip()) for item in items if item.strip())
    if not regions:
        raise InvalidInputError(field, "no region given")
    return regions


def require_regions(regions: tuple[str, ...]) -> tuple[str, ...]:
    """The run's regions; refuse a run that has none from its event or its settings.

    Raises:
        ConfigError: no region anywhere.
    """
    if not regions:
        raise ConfigError("TARGET_REGIONS", NO_REGION)
    return regions
