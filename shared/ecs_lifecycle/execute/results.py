"""One result per decision: how each `InstanceResult` is built, and the codes and reasons it uses.

Every room of the executor builds its results here, so a result always says the same things the
same way (the error's code and request id, the auto-release time only when it is set, the snapshot
ids taken). Also the batching of decisions into API calls of `BATCH_SIZE`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from ecs_lifecycle.ecs import BATCH_SIZE
from ecs_lifecycle.model import Action, Decision, InstanceResult, Outcome

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ecs_lifecycle.errors import EcsApiError

GONE_CODES: Final = frozenset(
    {"InvalidInstanceId.NotFound", "InvalidInstanceIds.NotFound", "NoSuchResource"}
)
# Statuses that mean "someone started it again": a release never goes ahead on them.
STARTED_AGAIN: Final = frozenset({"Pending", "Starting", "Running"})
# Someone else released it first: the goal of a release is reached.
RELEASED_GONE: Final = "released (it is gone)"


def result(
    decision: Decision,
    outcome: Outcome,
    reason: str,
    error: EcsApiError | None = None,
    snapshot_ids: Iterable[str] = (),
) -> InstanceResult:
    """The result of carrying `decision` out: its outcome, its reason and the error, if any."""
    return InstanceResult(
        instance_id=decision.instance_id,
        region=decision.region,
        action=decision.action,
        outcome=outcome,
        reason=reason if error is None else f"{reason}: {error.code} ({error.message})",
        error_code=error.code if error else None,
        request_id=error.request_id if error else None,
        # An auto-release time in a result says it is set (or, in a dry run, would be): one the
        # re-check kept, ECS refused or the run never sent is not. A release skipped for now
        # keeps its due time (stopped_for), and so does a lifetime's time beyond the horizon, said
        # and not yet written (Action.NONE).
        release_at=decision.release_at
        if outcome in (Outcome.DONE, Outcome.PLANNED)
        or decision.action in (Action.RELEASE, Action.NONE)
        else None,
        snapshot_ids=tuple(snapshot_ids),
    )


def changed(before: Decision, now: Decision, what: str) -> InstanceResult:
    """The result for an instance the re-check kept: what it is now, and why."""
    return result(before, Outcome.SKIPPED, f"{what}: changed since the run read it: {now.reason}")


def chunks(items: Sequence[Decision], size: int = BATCH_SIZE) -> list[Sequence[Decision]]:
    """`items` in batches of `size` (one API call each), in order."""
    return [items[start : start + size] for start in range(0, len(items), size)]
