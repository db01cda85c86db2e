"""DeleteInstances in batches of 100: the last step of a release, after its re-check.

A batch refused with a verdict on an instance is split until the culprit stands alone; one that
ran out of retries on throttling or 5xx (or out of time) is not split: splitting would only
multiply the calls into a busy quota.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ecs_lifecycle.ecs import DEADLINE_CODE, INTERRUPTED_CODE, is_transient
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.context import halted, in_parallel
from ecs_lifecycle.execute.results import GONE_CODES, chunks, result
from ecs_lifecycle.execute.tokens import client_token
from ecs_lifecycle.model import Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.execute.stages import Backup
    from ecs_lifecycle.model import Decision, InstanceResult


def delete(
    region: Region, to_delete: Sequence[tuple[Decision, Backup | None]]
) -> list[InstanceResult]:
    """Release these (forced batches first), each result with the snapshots taken before it.

    Not reported yet: the caller reports them.
    """
    taken = {d.instance_id: b.snapshot_ids for d, b in to_delete if b is not None}
    forced = [d for d, _ in to_delete if d.force]
    gentle = [d for d, _ in to_delete if not d.force]
    deleted = in_parallel(
        region, chunks(forced), lambda b: delete_batch(region, b), final=False
    ) + in_parallel(region, chunks(gentle), lambda b: delete_batch(region, b), final=False)
    return [
        replace(done, snapshot_ids=taken[done.instance_id]) if done.instance_id in taken else done
        for done in deleted
    ]


def delete_batch(region: Region, batch: Sequence[Decision]) -> list[InstanceResult]:
    """Release a batch; on a verdict about an instance, split it until the culprit is alone.

    `Force` only for a batch of Running instances released directly (never after a stop, and
    never with snapshots: a plain delete of a stopped instance is refused if it was started
    again, which keeps it).
    """
    ids = sorted(decision.instance_id for decision in batch)
    force = all(decision.force for decision in batch)
    token = client_token(
        region.run.idempotency_seed,
        "DeleteInstances",
        RegionId=region.name,
        InstanceId=ids,
        Force=force,
        TerminateSubscription=False,
    )
    try:
        region.run.gateway.delete_instances(region.name, ids, force=force, client_token=token)
    except EcsApiError as error:
        if len(batch) == 1:
            if error.code in GONE_CODES:
                return [result(batch[0], Outcome.DONE, "released (it was already gone)")]
            return [result(batch[0], Outcome.FAILED, "not released", error)]
        if is_transient(error) or error.code in (DEADLINE_CODE, INTERRUPTED_CODE) or halted(region):
            # Out of retries on throttling or 5xx (or out of time): splitting would only add
            # calls.
            return [result(d, Outcome.FAILED, "not released", error) for d in batch]
        middle = len(batch) // 2
        return delete_batch(region, batch[:middle]) + delete_batch(region, batch[middle:])
    return [result(decision, Outcome.DONE, f"released ({decision.reason})") for decision in batch]
