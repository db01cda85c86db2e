"""Settings from the environment, run options from the event, and the request they make together.

Settings are parsed once, at the edge, into typed objects; a bad value raises an error that names
the variable or the option, before any ECS call. The rooms:

- environment.py: `Settings`, one function's environment, typed (`Settings.from_env`);
- reader.py:      reading one variable as its type (flags, bounded numbers, zones, durations);
- parsers.py:     what the environment and an event both give: regions, a stopped-for wait;
- options.py:     run options, the manual event or a timer's payload (pydantic), per function;
- run_request.py: the settings and the options resolved into one `RunRequest` (`build_request`).

The names below are the package's API: callers import them from `ecs_lifecycle.settings`.
"""

from ecs_lifecycle.settings.environment import Settings
from ecs_lifecycle.settings.options import (
    MAX_INSTANCE_IDS,
    OPTIONS_MODEL,
    AutoReleaseOptions,
    ReleaseOptions,
    RunOptions,
    StopOptions,
    parse_options,
)
from ecs_lifecycle.settings.parsers import (
    NO_REGION,
    STOP_RECORD_RETENTION,
    parse_regions,
    parse_stopped_for,
    require_regions,
)
from ecs_lifecycle.settings.reader import MAX_HORIZON, MAX_MIN_NOTICE, MIN_HORIZON
from ecs_lifecycle.settings.run_request import (
    RunRequest,
    build_request,
    fenced_regions,
    outside_region_fence,
)

__all__ = [
    "MAX_HORIZON",
    "MAX_INSTANCE_IDS",
    "MAX_MIN_NOTICE",
    "MIN_HORIZON",
    "NO_REGION",
    "OPTIONS_MODEL",
    "STOP_RECORD_RETENTION",
    "AutoReleaseOptions",
    "ReleaseOptions",
    "RunOptions",
    "RunRequest",
    "Settings",
    "StopOptions",
    "build_request",
    "fenced_regions",
    "outside_region_fence",
    "parse_options",
    "parse_regions",
    "parse_stopped_for",
    "require_regions",
]
