"""The request: the settings and a run's options, resolved into one `RunRequest`.

An event may only narrow the fences (TARGET_REGIONS, TARGET_TAGS) and lengthen
RELEASE_IF_STOPPED_FOR; every other option it leaves out takes the setting's value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ecs_lifecycle import defaults
from ecs_lifecycle.defaults import StoppedMode
from ecs_lifecycle.errors import InvalidInputError, SelectorRequiredError
from ecs_lifecycle.model import (
    CancelRelease,
    FromTag,
    Function,
    Notice,
    ReleaseAfter,
    ReleaseAt,
    Schedule,
)
from ecs_lifecycle.selection import Selection, TagSelector, unique, validate_instance_id
from ecs_lifecycle.settings.environment import Settings
from ecs_lifecycle.settings.options import (
    OPTIONS_MODEL,
    AutoReleaseOptions,
    ReleaseOptions,
    RunOptions,
    StopOptions,
)
from ecs_lifecycle.settings.parsers import parse_regions, parse_stopped_for, require_regions
from ecs_lifecycle.timeparse import parse_duration, parse_zoned_time


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
    options: RunOptions | None,
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
    # The checks run in this order, so a request with several faults is refused for the first.
    opts = options or OPTIONS_MODEL[settings.function]()
    selection = _asked_selection(settings, opts)
    notice = _announced(settings, opts, since)
    digest = _digest(opts)
    override_lifetime = isinstance(opts, ReleaseOptions) and bool(opts.override_lifetime)
    if override_lifetime and selection.instance_ids is None:
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
    selection = _reconciled(settings, selection, schedule)
    force, stopped_mode, snapshot = _stop_options(settings, opts)
    return RunRequest(
        settings=settings,
        selection=selection,
        # A notice changes nothing, whatever the payload it shares with the real run says.
        dry_run=True if notice is not None else _dry_run(settings, opts),
        max_instances=settings.max_instances if opts.max_instances is None else opts.max_instances,
        force=force,
        stopped_mode=stopped_mode,
        schedule=schedule,
        snapshot=snapshot,
        override_lifetime=override_lifetime,
        stopped_for=stopped_for,
        notice=notice,
        digest=digest,
    )


def _asked_selection(settings: Settings, opts: RunOptions) -> Selection:
    """The regions, ids and tags the options ask for, inside the settings' fences.

    Raises:
        InvalidInputError: a region outside the fence, an empty or malformed id list, bad tags.
    """
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
    return Selection(regions=regions, instance_ids=ids, tags=tags)


def _reconciled(settings: Settings, selection: Selection, schedule: Schedule | None) -> Selection:
    """The selection a run acts on; a reconcile (from the tag, no ids) only of tagged instances.

    Raises:
        SelectorRequiredError: stop or release with nothing selected.
        InvalidInputError: a manual auto-release change with nothing selected.
    """
    if isinstance(schedule, FromTag) and selection.instance_ids is None:
        tags = selection.tags
        carrying = (settings.auto_release_tag, None)
        existing = tags.conditions if tags is not None else ()
        if not any(key == settings.auto_release_tag for key, _ in existing):
            tags = TagSelector((*existing, carrying))
        selection = Selection(regions=selection.regions, instance_ids=None, tags=tags)
    if selection.is_empty and settings.function is not Function.AUTO_RELEASE:
        raise SelectorRequiredError(settings.function.value)
    if selection.is_empty and schedule is not None and not isinstance(schedule, FromTag):
        raise InvalidInputError(
            "instance_ids/tags", "a manual auto-release change needs instance_ids or tags"
        )
    return selection


def _stop_options(settings: Settings, opts: RunOptions) -> tuple[bool, StoppedMode, bool]:
    """force, stopped_mode and snapshot: the options' where they give them, else the settings'."""
    force = stopped_mode = snapshot = None
    if isinstance(opts, (StopOptions, ReleaseOptions)):
        force, stopped_mode = opts.force, opts.stopped_mode
    if isinstance(opts, ReleaseOptions):
        snapshot = opts.snapshot
    return (
        settings.force if force is None else force,
        settings.stopped_mode if stopped_mode is None else stopped_mode,
        settings.snapshot_before_release if snapshot is None else snapshot,
    )


def _announced(settings: Settings, opts: RunOptions, since: datetime | None) -> Notice | None:
    """The notice this run gives of a real run, if it is one.

    Raises:
        InvalidInputError: not a duration, too long, or announcing a dry run.
    """
    notice = _notice(opts.notice, since)
    if notice is not None and _dry_run(settings, opts):
        # The run it announces would change nothing: a notice of it would alarm people for naught.
        raise InvalidInputError(
            "notice",
            "announces a dry run, which changes nothing; the real run's options must say "
            '"dry_run": false (a notice itself is always a dry run)',
        )
    return notice


def _digest(opts: RunOptions) -> timedelta | None:
    """Auto-release's `digest`: the window of ECS's own releases to warn of, if asked for."""
    if isinstance(opts, AutoReleaseOptions) and opts.digest is not None:
        return _window("digest", opts.digest, defaults.MAX_DIGEST)
    return None


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


def _dry_run(settings: Settings, opts: RunOptions) -> bool:
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
