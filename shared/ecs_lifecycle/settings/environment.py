"""Settings from the environment: one function's variables, read once into a typed `Settings`.

Every option has an environment setting that gives its default for a function (set in s.yaml);
the event overrides it (run_request.py). A bad value raises an error that names the variable,
before any ECS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo

from ecs_lifecycle import defaults
from ecs_lifecycle.defaults import StoppedMode
from ecs_lifecycle.errors import ConfigError, InvalidInputError
from ecs_lifecycle.model import Function
from ecs_lifecycle.notify_settings import NotifySettings, parse_notify_settings
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings.parsers import parse_regions, parse_stopped_for
from ecs_lifecycle.settings.reader import EnvReader


@dataclass(frozen=True, slots=True)
class Settings:
    """One function's environment, typed. Tests build it directly."""

    function: Function
    # The region fence: TARGET_REGIONS, else the function's own region (FC_REGION). Empty only
    # for a local invoke with neither set, where the event's regions are taken as given.
    regions: tuple[str, ...]
    tags: TagSelector | None = None  # the fleet fence (TARGET_TAGS): every run stays inside it
    dry_run: bool = False
    max_instances: int = defaults.MAX_INSTANCES
    force: bool = False
    stopped_mode: StoppedMode = defaults.STOPPED_MODES[0]
    protect_tag: str = defaults.PROTECT_TAG
    auto_release_tag: str = defaults.AUTO_RELEASE_TAG
    snapshot_before_release: bool = False
    snapshot_tag: str = defaults.SNAPSHOT_TAG
    snapshot_retention_days: int | None = None  # None: kept until someone deletes them
    keep_tag: str = defaults.KEEP_TAG
    # The fleet's zone (TIME_ZONE): a keep-until date ends at midnight there, and times are shown
    # in it. s.yaml sets the timers' CRON_TZ, so "the end of the day" is the nightly run's day.
    time_zone: tzinfo = defaults.TIME_ZONE
    max_keep_days: int = defaults.MAX_KEEP_DAYS
    min_notice: timedelta = defaults.MIN_NOTICE
    auto_release_horizon: timedelta = defaults.AUTO_RELEASE_HORIZON
    owner_tag: str = defaults.OWNER_TAG  # groups notices and reports per owner
    # NOTIFY_URLS, the signing secrets and NOTIFY_ON (notify/); no channel by default.
    notify: NotifySettings = field(default_factory=NotifySettings)
    endpoint: str | None = None
    protocol: defaults.EndpointProtocol = defaults.PROTOCOLS[0]
    concurrency: int = defaults.CONCURRENCY
    calls_per_second: float = defaults.CALLS_PER_SECOND
    deadline_margin_seconds: float = defaults.DEADLINE_MARGIN_SECONDS
    poll_seconds: float = defaults.POLL_SECONDS
    default_timeout_seconds: float = defaults.TIMEOUT_SECONDS
    # release: only instances proven Stopped this long (RELEASE_IF_STOPPED_FOR); None: off.
    release_if_stopped_for: timedelta | None = None
    actiontrail_endpoint: str | None = None
    actiontrail_protocol: defaults.EndpointProtocol = defaults.PROTOCOLS[0]

    @classmethod
    def from_env(cls, function: Function, environ: Mapping[str, str]) -> Settings:
        """Read every setting once.

        Raises:
            ConfigError: naming the variable that is missing or malformed.
        """
        env = EnvReader(environ)
        regions, tags = _fences(env)
        return cls(
            function=function,
            regions=regions,
            tags=tags,
            # Release destroys disks: it is a dry run unless someone says otherwise.
            dry_run=env.flag("DRY_RUN", default=function is Function.RELEASE),
            max_instances=env.integer("MAX_INSTANCES", defaults.MAX_INSTANCES, minimum=0),
            force=env.flag("FORCE", default=False),
            stopped_mode=env.choice("STOPPED_MODE", defaults.STOPPED_MODES),
            protect_tag=env.text("PROTECT_TAG") or defaults.PROTECT_TAG,
            auto_release_tag=env.text("AUTO_RELEASE_TAG") or defaults.AUTO_RELEASE_TAG,
            snapshot_before_release=env.flag("SNAPSHOT_BEFORE_RELEASE", default=False),
            snapshot_tag=env.text("SNAPSHOT_TAG") or defaults.SNAPSHOT_TAG,
            # CreateSnapshot's RetentionDays range; unset keeps snapshots until deleted.
            snapshot_retention_days=env.optional_integer(
                "SNAPSHOT_RETENTION_DAYS", minimum=1, maximum=65536
            ),
            keep_tag=env.text("KEEP_TAG") or defaults.KEEP_TAG,
            time_zone=env.time_zone("TIME_ZONE"),
            max_keep_days=env.integer(
                "MAX_KEEP_DAYS", defaults.MAX_KEEP_DAYS, minimum=1, maximum=3 * 365
            ),
            min_notice=env.min_notice("MIN_NOTICE"),
            auto_release_horizon=env.horizon("AUTO_RELEASE_HORIZON"),
            owner_tag=env.text("OWNER_TAG") or defaults.OWNER_TAG,
            notify=parse_notify_settings(environ),
            endpoint=env.text("ECS_ENDPOINT") or None,
            protocol=env.choice("ECS_PROTOCOL", defaults.PROTOCOLS),
            concurrency=env.integer("ECS_CONCURRENCY", defaults.CONCURRENCY, minimum=1, maximum=64),
            calls_per_second=env.number(
                "ECS_CALLS_PER_SECOND", defaults.CALLS_PER_SECOND, minimum=1, maximum=1000
            ),
            deadline_margin_seconds=env.number(
                "DEADLINE_MARGIN_SECONDS", defaults.DEADLINE_MARGIN_SECONDS, minimum=0
            ),
            poll_seconds=env.number(
                "ECS_POLL_SECONDS", defaults.POLL_SECONDS, minimum=1, maximum=60
            ),
            release_if_stopped_for=_stopped_for_setting(env.text("RELEASE_IF_STOPPED_FOR")),
            actiontrail_endpoint=env.text("ACTIONTRAIL_ENDPOINT") or None,
            actiontrail_protocol=env.choice("ACTIONTRAIL_PROTOCOL", defaults.PROTOCOLS),
        )


def _fences(env: EnvReader) -> tuple[tuple[str, ...], TagSelector | None]:
    """TARGET_REGIONS (else FC_REGION) and TARGET_TAGS: what every run stays inside.

    Raises:
        ConfigError: naming the variable that is malformed.
    """
    # No region at all is refused when the request is built (require_regions), not here:
    # an event that names its regions needs no region setting.
    regions_text = env.text("TARGET_REGIONS") or env.text("FC_REGION")
    tags_text = env.text("TARGET_TAGS")
    try:
        regions = parse_regions("TARGET_REGIONS", regions_text) if regions_text else ()
        tags = TagSelector.parse("TARGET_TAGS", tags_text) if tags_text else None
    except InvalidInputError as bad:
        raise ConfigError(bad.field, bad.problem) from None
    return regions, tags


def _stopped_for_setting(text: str) -> timedelta | None:
    try:
        return parse_stopped_for("RELEASE_IF_STOPPED_FOR", text) if text else None
    except InvalidInputError as bad:
        raise ConfigError(bad.field, bad.problem) from None
