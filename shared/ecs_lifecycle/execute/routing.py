"""The re-check before a release: on the fresh read, release it now, snapshot it first, or keep it.

An instance started again, no longer due, restarted since its snapshots were planned, or in a
state ECS cannot release from is kept, and its result says why (`release_refusal`); one gone
has reached the goal. The rest go to their snapshots (`snapshots.start_snapshots`) or to the
delete (`delete.delete`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ecs_lifecycle.execute.delete import delete
from ecs_lifecycle.execute.recheck import rechecked
from ecs_lifecycle.execute.results import RELEASED_GONE, STARTED_AGAIN, result
from ecs_lifecycle.execute.snapshots import start_snapshots
from ecs_lifecycle.execute.stages import Backup
from ecs_lifecycle.model import Action, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.execute.stages import Ready
    from ecs_lifecycle.model import Decision, Instance, InstanceResult

_Pairs = list[tuple["Decision", "Backup | None"]]


def route(region: Region, ready: Sequence[Ready]) -> tuple[list[InstanceResult], dict[str, Backup]]:
    """Re-check each freshly read instance: release it, snapshot it first, or keep it.

    Returns the results of those released or kept, and the backups started (to wait for).
    """
    results, to_snapshot, to_delete = _sort(region, ready)
    backups: dict[str, Backup] = {}
    for started in region.pool.map(lambda pair: start_snapshots(region, *pair), to_snapshot):
        if isinstance(started, Backup):
            backups[started.decision.instance_id] = started
        else:
            results.append(started)
    results.extend(delete(region, to_delete))
    return results, backups


def _sort(region: Region, ready: Sequence[Ready]) -> tuple[list[InstanceResult], _Pairs, _Pairs]:
    """The results of those gone or kept, those to snapshot first, and those to delete."""
    results: list[InstanceResult] = []
    to_delete: _Pairs = []
    to_snapshot: _Pairs = []
    for item in ready:
        decision, fresh, backup = item.decision, item.fresh, item.backup
        if fresh is None:
            ids = backup.snapshot_ids if backup else ()
            results.append(result(decision, Outcome.DONE, RELEASED_GONE, snapshot_ids=ids))
            continue
        now = rechecked(region, fresh)
        refusal = release_refusal(decision, fresh, now, backup)
        if refusal is not None:
            results.append(refusal)
        elif (now.snapshot is not None or decision.snapshot is not None) and (
            backup is None or backup.needs_disks
        ):
            # A snapshot asked for only since the read (its tag set meanwhile) takes the fresh
            # read's plan: the last start it records decides which earlier snapshot still holds
            # the disk, and the restart check before release applies. A release with snapshots
            # never forces its delete.
            if decision.snapshot is None:
                decision = replace(decision, snapshot=now.snapshot, force=False)
            to_snapshot.append((decision, backup))
        else:
            to_delete.append((decision, backup))
    return results, to_snapshot, to_delete


def release_refusal(
    before: Decision, fresh: Instance, now: Decision, backup: Backup | None
) -> InstanceResult | None:
    """Why the fresh read forbids releasing now, as a result; None when it may go ahead."""
    ids = backup.snapshot_ids if backup else ()
    if fresh.status in STARTED_AGAIN and not (before.force and now.force):
        return result(
            before,
            Outcome.SKIPPED,
            f"not released: it is {fresh.status} again (someone started it since it was read)",
            snapshot_ids=ids,
        )
    if now.action is not Action.RELEASE or not now.changes:
        return result(before, Outcome.SKIPPED, f"not released: {now.reason}", snapshot_ids=ids)
    if before.snapshot is not None and fresh.start_time != before.snapshot.reuse_after:
        return result(
            before,
            Outcome.SKIPPED,
            "not released: it was started again after its snapshots were planned, so they may "
            "miss later writes; a later run snapshots it again",
            snapshot_ids=ids,
        )
    if fresh.status not in ("Stopped", "Running"):
        return result(
            before, Outcome.SKIPPED, f"not released: it is {fresh.status}", snapshot_ids=ids
        )
    return None
