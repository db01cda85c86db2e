"""Settings from the environment, run options from the event, and the request they make together.

Every option has an environment setting that gives its default for a function (set in s.yaml);
the event overrides it. Settings are parsed once, at the edge, into typed objects; a bad value
raises an error that names the variable or the option, before any ECS call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any, Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from ecs_lifecycle import defaults
from ecs_lifecycle.defaults import StoppedMode
from ecs_lifecycle.errors import (
    ConfigError,
    InvalidInputError,
    SelectorRequiredError,
    refusal_from,
)
from ecs_lifecycle.model import (
    CancelRelease,
    FromTag,
    Function,
    Notice,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.notify_settings import NotifySettings, parse_notify_settings
from ecs_lifecycle.selection import (
    Selection,
    TagSelector,
    unique,
    validate_instance_id,
    validate_region,
)
from ecs_lifecycle.timeparse import parse_duration, parse_zoned_time

_Choice = TypeVar("_Choice", bound=str)
MAX_INSTANCE_IDS: Final = 1000
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
# A notice longer than this is a lifetime, not a notice; it also keeps every time it gives well
# inside the 3 years ECS accepts.
MAX_MIN_NOTICE: Final = timedelta(days=30)
# AUTO_RELEASE_HORIZON: more than the hourly reconcile plus ECS's 30 minutes, at most a day.
MIN_HORIZON: Final = timedelta(minutes=90)
MAX_HORIZON: Final = timedelta(days=1)
# ActionTrail's LookupEvents answers the last 90 days (docs/actiontrail.md): a `stopped_for`
# longer than that could never be proven, so it is refused rather than keeping everything quietly.
STOP_RECORD_RETENTION: Final = timedelta(days=90)
NO_REGION: Final = (
    "no region: name regions in the event, set TARGET_REGIONS, or run where FC sets FC_REGION"
)


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
        env = _Env(environ)
        # No region at all is refused when the request is built (require_regions), not here:
        # an event that names its regions needs no region setting.
        regions_text = env.text("TARGET_REGIONS") or env.text("FC_REGION")
        tags_text = env.text("TARGET_TAGS")
        try:
            regions = parse_regions("TARGET_REGIONS", regions_text) if regions_text else ()
            tags = TagSelector.parse("TARGET_TAGS", tags_text) if tags_text else None
        except InvalidInputError as bad:
            raise ConfigError(bad.field, bad.problem) from None
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
            snapshot_retention_days=(
                env.integer("SNAPSHOT_RETENTION_DAYS", 0, minimum=1, maximum=65536)
                if env.text("SNAPSHOT_RETENTION_DAYS")
                else None
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
            calls_per_second=float(
                env.integer(
                    "ECS_CALLS_PER_SECOND", defaults.CALLS_PER_SECOND, minimum=1, maximum=1000
                )
            ),
            deadline_margin_seconds=float(
                env.integer("DEADLINE_MARGIN_SECONDS", defaults.DEADLINE_MARGIN_SECONDS, minimum=0)
            ),
            poll_seconds=float(
                env.integer("ECS_POLL_SECONDS", defaults.POLL_SECONDS, minimum=1, maximum=60)
            ),
            release_if_stopped_for=_stopped_for_setting(env.text("RELEASE_IF_STOPPED_FOR")),
            actiontrail_endpoint=env.text("ACTIONTRAIL_ENDPOINT") or None,
            actiontrail_protocol=env.choice("ACTIONTRAIL_PROTOCOL", defaults.PROTOCOLS),
        )


def _stopped_for_setting(text: str) -> timedelta | None:
    try:
        return parse_stopped_for("RELEASE_IF_STOPPED_FOR", text) if text else None
    except InvalidInputError as bad:
        raise ConfigError(bad.field, bad.problem) from None


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


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(name, f"{value!r} is not true or false")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.text(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"{value!r} is not a whole number") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum else "")
            raise ConfigError(name, f"{number} must be {bounds}")
        return number

    def time_zone(self, name: str) -> tzinfo:
        """An IANA zone name (`Asia/Shanghai`); UTC when unset.

        Zones come from the system's database (FC's Debian images ship it: the documented way to
        change a function's zone is the TZ variable, which glibc reads from the same files). A name
        the runtime does not know is refused, naming the variable, rather than guessed at.
        """
        value = self.text(name)
        if not value or value.upper() == "UTC":
            return defaults.TIME_ZONE
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                name, f"{value!r} is not a time zone this runtime knows (e.g. Asia/Shanghai)"
            ) from None

    def min_notice(self, name: str) -> timedelta:
        """A duration (`24h`, `2d`, `PT12H`), or `0` for none beyond ECS's own 30 minutes."""
        value = self.text(name)
        if not value:
            return defaults.MIN_NOTICE
        if value == "0":
            return timedelta(0)
        notice = parse_duration(value)
        if notice is None:
            raise ConfigError(name, f"{value!r} is not a duration such as 12h, 24h, 2d or 0")
        if notice > MAX_MIN_NOTICE:
            raise ConfigError(name, f"{value!r} is more than {MAX_MIN_NOTICE.days} days")
        return notice

    def horizon(self, name: str) -> timedelta:
        """A duration longer than the hourly reconcile plus ECS's 30-minute minimum (`2h`).

        Shorter, the reconcile could find a due time already inside ECS's 30 minutes and write it
        late; a day at most, or an instance promoted out of the fleet keeps its time that long.
        """
        value = self.text(name)
        if not value:
            return defaults.AUTO_RELEASE_HORIZON
        horizon = parse_duration(value)
        if horizon is None:
            raise ConfigError(name, f"{value!r} is not a duration such as 2h or 3h")
        if horizon <= MIN_HORIZON:
            raise ConfigError(
                name, f"{value!r} must exceed the hourly reconcile plus ECS's 30 minutes (90m)"
            )
        if horizon > MAX_HORIZON:
            raise ConfigError(name, f"{value!r} is more than {MAX_HORIZON.days} day")
        return horizon

    def choice(self, name: str, allowed: tuple[_Choice, ...]) -> _Choice:
        """One of `allowed` (the first when unset), typed as the caller's Literal."""
        value = self.text(name)
        if not value:
            return allowed[0]
        for option in allowed:
            if value == option:
                return option
        raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")


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


# --- run options: the manual event, or the JSON in a timer payload -----------------------------

_InstanceIds = Annotated[list[str], Field(max_length=MAX_INSTANCE_IDS)]


class _Options(BaseModel):
    # extra="forbid": a typo such as `dryrun` must fail loudly, not fall back to a default.
    # defer_build: each function builds only its own options schema, on first use.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    regions: str | list[str] | None = None
    instance_ids: _InstanceIds | None = None
    tags: str | dict[str, str] | None = None
    dry_run: StrictBool | None = None
    max_instances: Annotated[StrictInt, Field(ge=0)] | None = None
    # A duration: this run is the notice for the real run that long after the trigger's time.
    notice: str | None = None


class StopOptions(_Options):
    force: StrictBool | None = None
    stopped_mode: StoppedMode | None = None


class ReleaseOptions(_Options):
    force: StrictBool | None = None
    stopped_mode: StoppedMode | None = None
    snapshot: StrictBool | None = None
    # With explicit instance_ids only: release even what an owner's lifetime tag still keeps.
    override_lifetime: StrictBool | None = None
    # Only instances Stopped at least this long (`7d`); at least RELEASE_IF_STOPPED_FOR.
    stopped_for: str | None = None


class AutoReleaseOptions(_Options):
    release_at: str | None = None
    release_after: str | None = None
    cancel: StrictBool | None = None
    # A duration: also list the instances ECS itself auto-releases within it, per owner.
    digest: str | None = None


OPTIONS_MODEL: Final[dict[Function, type[_Options]]] = {
    Function.STOP: StopOptions,
    Function.RELEASE: ReleaseOptions,
    Function.AUTO_RELEASE: AutoReleaseOptions,
}


def parse_options(function: Function, raw: Mapping[str, Any]) -> _Options:
    """Validate run options for `function`.

    Raises:
        InvalidInputError: naming the first bad option (unknown names included).
    """
    try:
        return OPTIONS_MODEL[function].model_validate(dict(raw))
    except ValidationError as exc:
        refusal = refusal_from(exc)
        if exc.errors()[0]["type"] == "extra_forbidden":
            known = ", ".join(sorted(OPTIONS_MODEL[function].model_fields))
            problem = f"unknown option for {function.value} (known: {known})"
            raise InvalidInputError(refusal.field, problem) from None
        raise refusal from None


# --- the request: settings + options, resolved ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRequest:
    """Everything a run needs to know about what it was asked to do."""

    settings: Settings
    selection: Selection
    dry_run: bool
    max_instances: int
    force: bool
    stopped_mode: StoppedMode
    schedule: Schedule | None = None
    snapshot: bool = False  # release: snapshot every disk first (an instance's tag may override)
    override_lifetime: bool = False  # release: explicit ids released despite a lifetime tag
    stopped_for: timedelta | None = None  # release: only instances proven Stopped this long
    notice: Notice | None = None  # a dry run that tells people what the real run will do
    digest: timedelta | None = None  # auto-release: warn of ECS releases within this window

    @property
    def function(self) -> Function:
        return self.settings.function


def build_request(
    settings: Settings,
    options: _Options | None,
    *,
    since: datetime | None = None,
    cancel_when_missing: bool = False,
) -> RunRequest:
    """Merge `options` over `settings`; stop and release must end up with a selector.

    `since`: what a `release_after` counts from (a timer's trigger time; None: the run's start).
    `cancel_when_missing`: a schedule from the tag cancels when the tag is gone (an untag event).
    A schedule from the tag without instance ids is a reconcile: it selects only the instances
    that carry the auto-release tag, since the others have nothing to reconcile.

    Raises:
        InvalidInputError: a malformed option value, or no selector for stop/release.
    """
    opts = options or OPTIONS_MODEL[settings.function]()
    regions = fenced_regions(settings, opts.regions)
    ids = None
    if opts.instance_ids is not None:
        if not opts.instance_ids:
            raise InvalidInputError(
                "instance_ids", "an empty list selects nothing; omit it instead"
            )
        ids = unique(validate_instance_id("instance_ids", value) for value in opts.instance_ids)
    tags = settings.tags
    if opts.tags is not None:
        asked = TagSelector.parse("tags", opts.tags)
        tags = settings.tags.narrowed_by("tags", asked) if settings.tags else asked
    selection = Selection(regions=regions, instance_ids=ids, tags=tags)
    force = stopped_mode = snapshot = None
    if isinstance(opts, (StopOptions, ReleaseOptions)):
        force, stopped_mode = opts.force, opts.stopped_mode
    if isinstance(opts, ReleaseOptions):
        snapshot = opts.snapshot
    override_lifetime = isinstance(opts, ReleaseOptions) and bool(opts.override_lifetime)
    notice = _notice(opts.notice, since)
    if notice is not None and _dry_run(settings, opts):
        # The run it announces would change nothing: a notice of it would alarm people for naught.
        raise InvalidInputError(
            "notice",
            "announces a dry run, which changes nothing; the real run's options must say "
            '"dry_run": false (a notice itself is always a dry run)',
        )
    digest = (
        _window("digest", opts.digest, defaults.MAX_DIGEST)
        if isinstance(opts, AutoReleaseOptions) and opts.digest is not None
        else None
    )
    if override_lifetime and ids is None:
        raise InvalidInputError(
            "override_lifetime", "needs explicit instance_ids: it never applies to a whole fleet"
        )
    schedule = (
        _schedule(opts, since, cancel_when_missing)
        if isinstance(opts, AutoReleaseOptions)
        else None
    )
    stopped_for = _stopped_for(
        settings, opts.stopped_for if isinstance(opts, ReleaseOptions) else None
    )
    if isinstance(schedule, FromTag) and ids is None:
        carrying = (settings.auto_release_tag, None)
        existing = tags.conditions if tags is not None else ()
        if not any(key == settings.auto_release_tag for key, _ in existing):
            tags = TagSelector((*existing, carrying))
        selection = Selection(regions=regions, instance_ids=None, tags=tags)
    if selection.is_empty and settings.function is not Function.AUTO_RELEASE:
        raise SelectorRequiredError(settings.function.value)
    if selection.is_empty and schedule is not None and not isinstance(schedule, FromTag):
        raise InvalidInputError(
            "instance_ids/tags", "a manual auto-release change needs instance_ids or tags"
        )
    return RunRequest(
        settings=settings,
        selection=selection,
        # A notice changes nothing, whatever the payload it shares with the real run says.
        dry_run=True if notice is not None else _dry_run(settings, opts),
        max_instances=settings.max_instances if opts.max_instances is None else opts.max_instances,
        force=settings.force if force is None else force,
        stopped_mode=settings.stopped_mode if stopped_mode is None else stopped_mode,
        schedule=schedule,
        snapshot=settings.snapshot_before_release if snapshot is None else snapshot,
        override_lifetime=override_lifetime,
        stopped_for=stopped_for,
        notice=notice,
        digest=digest,
    )


def _stopped_for(settings: Settings, asked: str | None) -> timedelta | None:
    """The run's `stopped_for`: the event's, never shorter than RELEASE_IF_STOPPED_FOR.

    The setting guards every release run (like the fences): an event may ask for a longer wait,
    not a shorter one, and cannot turn the rule off.

    Raises:
        InvalidInputError: not a duration, out of range, or shorter than the setting.
    """
    floor = settings.release_if_stopped_for
    if asked is None:
        return floor
    wanted = parse_stopped_for("stopped_for", asked)
    if floor is not None and wanted < floor:
        raise InvalidInputError(
            "stopped_for",
            f"{asked!r} is shorter than this deployment's RELEASE_IF_STOPPED_FOR; "
            "an event can only lengthen it",
        )
    return wanted


def _dry_run(settings: Settings, opts: _Options) -> bool:
    return settings.dry_run if opts.dry_run is None else opts.dry_run


def _notice(text: str | None, since: datetime | None) -> Notice | None:
    if text is None:
        return None
    return Notice(_window("notice", text, defaults.MAX_NOTICE), since)


def _window(field: str, text: str, longest: timedelta) -> timedelta:
    """A positive duration option (`1h`, `24h`), at most `longest`.

    Raises:
        InvalidInputError: naming the option.
    """
    duration = parse_duration(text)
    if duration is None or duration <= timedelta(0):
        raise InvalidInputError(field, f"{text!r} is not a duration such as 30m, 1h or 24h")
    if duration > longest:
        raise InvalidInputError(field, f"{text!r} is more than {longest.days} days")
    return duration


def outside_region_fence(settings: Settings, region: str) -> str | None:
    """Why an event about `region` must change nothing here, or None when it is inside the fence."""
    if settings.regions and region not in settings.regions:
        return (
            f"region {region} is outside this deployment's regions "
            f"({', '.join(settings.regions)}); nothing changed"
        )
    return None


def fenced_regions(settings: Settings, asked: str | list[str] | None) -> tuple[str, ...]:
    """The regions a run acts in: the event's, inside the fence; or the fence itself.

    Raises:
        InvalidInputError: a region outside the fence, or no region at all.
    """
    fence = settings.regions
    if asked is None:
        return require_regions(fence)
    regions = parse_regions("regions", asked)
    outside = [region for region in regions if fence and region not in fence]
    if outside:
        raise InvalidInputError(
            "regions",
            f"{', '.join(outside)} is outside this deployment's regions ({', '.join(fence)}); "
            "an event can only narrow TARGET_REGIONS (or the function's own region)",
        )
    return regions


def _schedule(
    opts: AutoReleaseOptions, since: datetime | None, cancel_when_missing: bool
) -> Schedule:
    asked = {
        "release_at": opts.release_at,
        "release_after": opts.release_after,
        "cancel": opts.cancel,
    }
    given = [name for name, value in asked.items() if value is not None]
    if len(given) > 1:
        raise InvalidInputError(
            given[1], f"give only one of release_at, release_after, cancel (got {', '.join(given)})"
        )
    if opts.release_at is not None:
        moment = parse_zoned_time(opts.release_at)
        if moment is None:
            raise InvalidInputError(
                "release_at",
                f"{opts.release_at!r} is not an ISO-8601 time with a zone "
                "(e.g. 2026-12-01T18:00:00+08:00)",
            )
        return ReleaseAt(moment)
    if opts.release_after is not None:
        duration = parse_duration(opts.release_after)
        if duration is None:
            raise InvalidInputError(
                "release_after",
                f"{opts.release_after!r} is not a duration such as 90m, 8h, 3d, 2w or PT8H",
            )
        return ReleaseAfter(duration, since)
    if opts.cancel is not None:
        if not opts.cancel:
            raise InvalidInputError(
                "cancel", "only `cancel: true` means anything; omit it otherwise"
            )
        return CancelRelease()
    return FromTag(cancel_when_missing=cancel_when_missing)
