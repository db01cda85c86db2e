"""What an invocation asks of a function: the RunRequest, built in one place.

The rules that turn an event into a request live here, with their unit tests
(tests/unit/test_request.py), so the handler holds none: a timer's `release_after` counts from
its trigger time; a run from the tag without ids reconciles only the instances that carry the
tag; an instance's deletion asks for nothing; a removed tag cancels only when it was the
auto-release tag (or the record does not say which); and an EventBridge event about a region
outside the fence changes nothing, with one result per instance saying so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.events import (
    IgnoredInvocation,
    Invocation,
    ManualInvocation,
    StateChangeInvocation,
    TimerInvocation,
)
from ecs_lifecycle.model import Action, Function, InstanceResult, Outcome
from ecs_lifecycle.settings import (
    AutoReleaseOptions,
    RunRequest,
    Settings,
    build_request,
    outside_region_fence,
    parse_options,
)


@dataclass(frozen=True, slots=True)
class NothingToDo:
    """An invocation that asks for no run: why, and the instances it was about, if any."""

    reason: str
    regions: tuple[str, ...]
    results: tuple[InstanceResult, ...] = ()


def request_for(
    function: Function, invocation: Invocation, settings: Settings
) -> RunRequest | NothingToDo:
    """What the invocation asks of `function`.

    Raises:
        InvalidInputError: the function does not handle this kind of event, or its options are bad.
    """
    if isinstance(invocation, IgnoredInvocation):
        return NothingToDo(invocation.reason, settings.regions)
    if isinstance(invocation, (ManualInvocation, TimerInvocation)):
        raw = invocation.options
        options = parse_options(function, raw) if raw is not None else None
        since = invocation.trigger_time if isinstance(invocation, TimerInvocation) else None
        return build_request(settings, options, since=since)
    if function is not Function.AUTO_RELEASE:
        raise InvalidInputError(
            "event", f"{function.value} does not handle EventBridge events; only auto-release does"
        )
    if isinstance(invocation, StateChangeInvocation):
        ids: tuple[str, ...] = (invocation.instance_id,)
        cancel_when_missing = False
    else:
        ids = invocation.instance_ids
        removed = invocation.removed_keys
        cancel_when_missing = removed is None or settings.auto_release_tag in removed
    region = invocation.region
    outside = outside_region_fence(settings, region)
    if outside is not None:
        return NothingToDo(
            outside,
            (region,),
            tuple(
                InstanceResult(instance_id, region, Action.NONE, Outcome.SKIPPED, outside)
                for instance_id in ids
            ),
        )
    if isinstance(invocation, StateChangeInvocation) and invocation.state == "Deleted":
        return NothingToDo(f"{invocation.instance_id} was released; nothing to do", (region,))
    # The fleet selector (TARGET_TAGS) still holds: an event about an instance outside it does
    # nothing, since build_request keeps the fence.
    options = AutoReleaseOptions(regions=[region], instance_ids=list(ids))
    return build_request(settings, options, cancel_when_missing=cancel_when_missing)
