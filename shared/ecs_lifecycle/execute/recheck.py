"""The fresh read before every changing call, and the planner's rules applied again to it.

An instance that gained a keep signal, left the selector, turned on deletion protection or
started again since the run read it is kept, and its result says what changed. Times are
resolved as at planning (`Execution.planned_at`), so a re-check never moves a time.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.results import changed, chunks, result
from ecs_lifecycle.execute.stages import Ready
from ecs_lifecycle.model import Outcome

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.model import Decision, Instance, InstanceResult

# A stop batch whose instances were read longer ago than this is read again before StopInstances.
STALE_READ: Final = timedelta(seconds=30)


def read(region: Region, instance_ids: Sequence[str]) -> dict[str, Instance]:
    """A fresh read of these instances (100 ids a call); those gone are left out.

    Raises:
        EcsApiError: a read failed after its retries.
    """
    listed = region.run.gateway.describe_instances(region.name, instance_ids=list(instance_ids))
    return {instance.instance_id: instance for instance in listed}


def rechecked(region: Region, fresh: Instance) -> Decision:
    """The planner's decision on the fresh read.

    Times are resolved as at planning (a `release_after` counts from the same moment, so a
    re-check never moves a time); one that has become too soon is moved when it is sent.
    """
    return region.run.recheck(fresh, region.run.planned_at)


def recheck(
    region: Region,
    batch: Sequence[Decision],
    what: str,
    *,
    gone: Callable[[Decision], InstanceResult],
) -> tuple[list[tuple[Decision, Decision]], list[InstanceResult]]:
    """Read the batch again and re-plan each instance on that read.

    Returns (decision, decision now) for each instance still there, and the results of those
    gone (`gone`) or, when the read fails, of every instance (`what` was not done).
    """
    try:
        fresh = read(region, [d.instance_id for d in batch])
    except EcsApiError as error:
        return [], [result(d, Outcome.FAILED, f"{what}: not re-read", error) for d in batch]
    now: list[tuple[Decision, Decision]] = []
    results: list[InstanceResult] = []
    for decision in batch:
        instance = fresh.get(decision.instance_id)
        if instance is None:
            results.append(gone(decision))
        else:
            now.append((decision, rechecked(region, instance)))
    return now, results


def fresh_enough_to_stop(
    region: Region,
    batch: Sequence[Decision],
    what: str,
    gone_reason: str,
    *,
    still: Callable[[Decision], bool],
) -> tuple[list[Decision], list[InstanceResult]]:
    """The part of a batch to send StopInstances, re-checked when read over STALE_READ ago.

    Returns the decisions whose fresh read still calls for the stop (`still`), and the
    results of the others: gone (`gone_reason`: the goal holds), changed, or not re-read.
    """
    if region.run.clock.now() - region.run.planned_at <= STALE_READ:
        return list(batch), []
    now, kept = recheck(region, batch, what, gone=lambda d: result(d, Outcome.DONE, gone_reason))
    kept += [changed(d, later, what) for d, later in now if not still(later)]
    return [d for d, later in now if still(later)], kept


def fresh(
    region: Region, decisions: Sequence[Decision]
) -> tuple[list[Ready], list[InstanceResult]]:
    """Read these instances now, for the re-check before their release (100 ids a call)."""
    ready: list[Ready] = []
    failures: list[InstanceResult] = []
    for batch in chunks(decisions):
        try:
            found = read(region, [d.instance_id for d in batch])
        except EcsApiError as error:
            failures.extend(
                result(d, Outcome.FAILED, "not released: not re-read", error) for d in batch
            )
            continue
        ready.extend(Ready(d, found.get(d.instance_id)) for d in batch)
    return ready, failures
