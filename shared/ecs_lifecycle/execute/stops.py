"""StopInstances in batches of 100: the stop function's stops, and the stop before a release.

Each batch is re-checked first when the run read it a while ago (`recheck.fresh_enough_to_stop`).
StopInstances answers per instance, so one refusal never fails the rest; an instance already gone,
or already Stopping or Stopped (a lost answer retried, another tool), has reached the goal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.context import in_parallel
from ecs_lifecycle.execute.recheck import fresh_enough_to_stop, read
from ecs_lifecycle.execute.results import GONE_CODES, RELEASED_GONE, chunks, result
from ecs_lifecycle.model import Action, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ecs_lifecycle.ecs import BatchItemResult
    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.model import Decision, InstanceResult


def stop(region: Region, decisions: Sequence[Decision]) -> list[InstanceResult]:
    """The stop function's stops: batches in parallel, each result final as its batch answers."""
    return in_parallel(region, chunks(decisions), lambda b: stop_batch(region, b), final=True)


def stop_batch(region: Region, batch: Sequence[Decision]) -> list[InstanceResult]:
    """Stop a batch, re-checking it first when the run read it a while ago."""
    batch, kept = fresh_enough_to_stop(
        region,
        batch,
        "not stopped",
        "stopped (it is gone)",
        still=lambda now: now.action is Action.STOP and now.changes,
    )
    if not batch:
        return kept
    return kept + send_stop(
        region, batch, "stopped", "stopped (it is gone)", force=region.run.force_stop
    )


def stop_for_release(region: Region, batch: Sequence[Decision]) -> list[InstanceResult]:
    """The stop before a release, re-checked like the stop function's when the read is old.

    The protect tag, a keep-until, or anything else that keeps an instance now keeps it
    from this stop too. One that no longer needs the stop (found Stopped meanwhile) is left
    to the next run: doubt keeps.
    """
    batch, kept = fresh_enough_to_stop(
        region,
        batch,
        "not stopped for its release",
        RELEASED_GONE,
        still=lambda now: now.action is Action.RELEASE and now.changes and now.stop_first,
    )
    if not batch:
        return kept
    return kept + send_stop(region, batch, "stopping", RELEASED_GONE, force=False)


def send_stop(
    region: Region,
    batch: Sequence[Decision],
    done_reason: str,
    gone_reason: str,
    *,
    force: bool,
) -> list[InstanceResult]:
    """StopInstances for a batch; an instance already gone has reached the goal."""
    by_id = {decision.instance_id: decision for decision in batch}
    try:
        answers = region.run.gateway.stop_instances(
            region.name, list(by_id), force=force, stopped_mode=region.run.stopped_mode
        )
    except EcsApiError as error:
        if len(batch) == 1 and error.code in GONE_CODES:
            return [result(batch[0], Outcome.DONE, gone_reason)]
        return [
            result(decision, Outcome.FAILED, "StopInstances failed", error) for decision in batch
        ]
    already = already_stopping(
        region,
        [a.instance_id for a in answers if not a.ok and a.code == "IncorrectInstanceStatus"],
    )
    return [
        _answered(by_id[answer.instance_id], answer, already, done_reason, gone_reason)
        for answer in answers
    ]


def _answered(
    decision: Decision,
    answer: BatchItemResult,
    already: dict[str, str],
    done_reason: str,
    gone_reason: str,
) -> InstanceResult:
    """The result of one instance's answer to StopInstances."""
    if answer.ok:
        return result(decision, Outcome.DONE, f"{done_reason} ({decision.reason})")
    if answer.code in GONE_CODES:
        # Released by someone else meanwhile: the goal of a stop (and of a release) holds.
        return result(decision, Outcome.DONE, gone_reason)
    if answer.instance_id in already:
        reason = f"{done_reason} (it was already {already[answer.instance_id]})"
        return result(decision, Outcome.DONE, reason)
    refusal = EcsApiError("StopInstances", answer.code, answer.message, answer.request_id)
    return result(decision, Outcome.FAILED, "not stopped", refusal)


def already_stopping(region: Region, instance_ids: list[str]) -> dict[str, str]:
    """Of the instances StopInstances refused, those that are Stopping or Stopped anyway.

    An earlier attempt whose answer was lost (then retried), or another tool, stopped them
    first: the goal is reached, so that refusal is not a failure.
    """
    if not instance_ids:
        return {}
    try:
        listed = read(region, instance_ids)
    except EcsApiError:
        return {}
    return {i: x.status for i, x in listed.items() if x.status in ("Stopping", "Stopped")}
