"""The release pipeline's polls: which stopping instances are Stopped, which snapshots are done.

Each poll reads what waits (100 ids a call) and hands back what moved on, with the read, and
the results of what can no longer go ahead; what still waits stays in the dict it was given.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.ecs import BATCH_SIZE
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.recheck import read
from ecs_lifecycle.execute.results import STARTED_AGAIN, result
from ecs_lifecycle.execute.stages import Backup, Ready
from ecs_lifecycle.model import Outcome

if TYPE_CHECKING:
    from ecs_lifecycle.ecs import SnapshotInfo
    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.model import Decision, Instance, InstanceResult

FULL_READ_EVERY: Final = 6  # polling rounds between reads of every stopping instance


def poll_stopping(
    region: Region, waiting: dict[str, Decision], rounds: int
) -> tuple[list[Ready], list[InstanceResult]]:
    """Read the stopping instances; those now Stopped come back with that (fresh) read.

    Instances stopped together take about as long to stop, so a round first reads only the
    last 100 sent a stop (one call); only once one of those has stopped (or every
    FULL_READ_EVERY rounds, so that a stuck probe cannot hold the rest back) does it read
    the rest. Each instance is then read about once, not once a round.
    """
    if not waiting:
        return [], []
    order = list(waiting)  # insertion order is stop order: the tail was stopped last
    probe, rest = order[-BATCH_SIZE:], order[:-BATCH_SIZE]
    seen: dict[str, Instance] = {}
    try:
        seen.update(read(region, probe))
        moved = any(
            probe_id not in seen or seen[probe_id].status != "Stopping" for probe_id in probe
        )
        looked_at = order if (moved or rounds % FULL_READ_EVERY == 0) else probe
        if looked_at is order and rest:
            seen.update(read(region, rest))
    except EcsApiError as error:
        failed = [
            result(d, Outcome.FAILED, "could not read its state", error) for d in waiting.values()
        ]
        waiting.clear()
        return [], failed
    return _sorted_out(waiting, looked_at, seen)


def _sorted_out(
    waiting: dict[str, Decision], looked_at: list[str], seen: dict[str, Instance]
) -> tuple[list[Ready], list[InstanceResult]]:
    """Take out of `waiting` those read Stopped (or gone), and those that will not stop."""
    ready: list[Ready] = []
    results: list[InstanceResult] = []
    for instance_id in looked_at:
        fresh = seen.get(instance_id)
        if fresh is None or fresh.status == "Stopped":
            ready.append(Ready(waiting.pop(instance_id), fresh))
        elif fresh.status in STARTED_AGAIN:
            decision = waiting.pop(instance_id)
            results.append(
                result(
                    decision,
                    Outcome.SKIPPED,
                    f"not released: it is {fresh.status} again (someone started it while it "
                    "was being stopped)",
                )
            )
        elif fresh.status != "Stopping":
            decision = waiting.pop(instance_id)
            reason = f"not released: it became {fresh.status} while being stopped"
            results.append(result(decision, Outcome.SKIPPED, reason))
    return ready, results


def poll_snapshots(
    region: Region, pending: dict[str, Backup], accomplished: set[str]
) -> tuple[list[Backup], list[InstanceResult]]:
    """Read the snapshots (100 ids a call); return the backups now complete, and failures.

    Every snapshot id read accomplished is added to `accomplished` (the progress counts them).
    """
    if not pending:
        return [], []
    ids = [snapshot_id for b in pending.values() for snapshot_id in b.snapshot_ids]
    try:
        seen = {s.snapshot_id: s for s in region.run.gateway.describe_snapshots(region.name, ids)}
        accomplished.update(i for i, s in seen.items() if s.status == "accomplished")
    except EcsApiError as error:
        failed = [
            result(b.decision, Outcome.FAILED, "not released: snapshots not read", error)
            for b in pending.values()
        ]
        failed = [replace(r, snapshot_ids=pending[r.instance_id].snapshot_ids) for r in failed]
        pending.clear()
        return [], failed
    return _complete(pending, seen)


def _complete(
    pending: dict[str, Backup], seen: dict[str, SnapshotInfo]
) -> tuple[list[Backup], list[InstanceResult]]:
    """Take out of `pending` the backups all accomplished, and those with a failed snapshot."""
    complete: list[Backup] = []
    results: list[InstanceResult] = []
    for instance_id, backup in list(pending.items()):
        states = [seen.get(snapshot_id) for snapshot_id in backup.snapshot_ids]
        failed_states = [s for s in states if s is not None and s.status == "failed"]
        if failed_states:
            del pending[instance_id]
            broken = EcsApiError(
                "CreateSnapshot",
                "SnapshotFailed",
                f"snapshot {failed_states[0].snapshot_id} of {failed_states[0].disk_id} failed",
            )
            results.append(
                result(backup.decision, Outcome.FAILED, "not released", broken, backup.snapshot_ids)
            )
        elif all(s is not None and s.status == "accomplished" for s in states):
            complete.append(pending.pop(instance_id))
    return complete, results
