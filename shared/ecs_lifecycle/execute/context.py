"""What a run is given (`Execution`) and one region's share of it (`Region`), and when to halt.

`Region` is the small context every room of the executor is handed explicitly: the run's
settings (gateway, clock, deadline, ...), the region, the pool its calls run on (the pace: at
most `concurrency` at once), and where results and progress go. It holds no state of its own:
what a step keeps between calls, it keeps itself and passes on.

Nothing new starts after the deadline or a stop request (`halted`); what is left gets a result
that says which (`not_done`), so Function Compute's retry, or a re-run, picks it up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ecs_lifecycle import defaults
from ecs_lifecycle.ecs import DEADLINE_CODE, INTERRUPTED_CODE
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.results import result
from ecs_lifecycle.model import Outcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from concurrent.futures import ThreadPoolExecutor
    from datetime import datetime

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.ecs import Gateway
    from ecs_lifecycle.execute.reporting import ProgressBoard, Reports
    from ecs_lifecycle.execute.stages import Backup
    from ecs_lifecycle.model import Decision, Instance, InstanceResult
    from ecs_lifecycle.progress import ReleaseProgress

# The least time between two progress reports of a waiting release, on the run's clock: often
# enough for a person watching, rare enough for FC's log over a 15-minute run.
PROGRESS_EVERY_SECONDS: Final = 5.0


def _nothing(_: object) -> None:
    """What `on_result` and `on_progress` do when nobody listens."""


@dataclass(frozen=True, slots=True)
class Execution:
    """How to carry a plan out.

    `recheck` is the planner applied to one freshly read instance (inside the run's selector);
    `planned_at` is the moment the run read the instances and planned on them. `on_result` gets
    each result once, as soon as it is final, and `on_progress` the release pipeline's progress
    while it waits; both are called from the executor's threads. Once `stop_requested` answers
    true, nothing new starts, as at the deadline.
    """

    gateway: Gateway
    clock: Clock
    deadline: datetime
    dry_run: bool
    force_stop: bool
    stopped_mode: str
    idempotency_seed: str
    recheck: Callable[[Instance, datetime], Decision]
    planned_at: datetime
    concurrency: int = defaults.CONCURRENCY
    poll_interval: float = defaults.POLL_SECONDS
    snapshot_retention_days: int | None = None
    on_result: Callable[[InstanceResult], None] = _nothing
    on_progress: Callable[[ReleaseProgress], None] = _nothing
    progress_every: float = PROGRESS_EVERY_SECONDS
    stop_requested: Callable[[], bool] | None = None  # None: nothing asks (FC sends no Ctrl-C)


@dataclass(frozen=True, slots=True)
class Region:
    """One region's share of a run: its calls run on `pool`, its results go to `reports`."""

    run: Execution
    name: str
    pool: ThreadPoolExecutor
    reports: Reports
    board: ProgressBoard


def halted(region: Region) -> str | None:
    """Why nothing new may start: INTERRUPTED_CODE, DEADLINE_CODE, or None (go on)."""
    run = region.run
    if run.stop_requested is not None and run.stop_requested():
        return INTERRUPTED_CODE
    if run.clock.now() >= run.deadline:
        return DEADLINE_CODE
    return None


def not_done(
    region: Region,
    decisions: Iterable[Decision],
    what: str,
    backups: Mapping[str, Backup] | None = None,
) -> list[InstanceResult]:
    """Results for work the run halted before (see `halted`), with its code and `what`."""
    if halted(region) == INTERRUPTED_CODE:
        why = f"{what}: the run was interrupted; a re-run picks it up"
        error = EcsApiError("run", INTERRUPTED_CODE, why)
    else:
        why = f"{what} before the function's time limit; a retry picks it up"
        error = EcsApiError("run", DEADLINE_CODE, why)
    return [
        result(
            decision,
            Outcome.FAILED,
            "not done",
            error,
            backups[decision.instance_id].snapshot_ids
            if backups and decision.instance_id in backups
            else (),
        )
        for decision in decisions
    ]


def in_parallel(
    region: Region,
    batches: Sequence[Sequence[Decision]],
    work: Callable[[Sequence[Decision]], list[InstanceResult]],
    *,
    final: bool,
) -> list[InstanceResult]:
    """Run `work` on each batch; batches not started before a halt fail with its reason.

    `final`: the batches' results are final, and reported as each batch ends.
    """

    def guarded(batch: Sequence[Decision]) -> list[InstanceResult]:
        done = not_done(region, batch, "not started") if halted(region) else work(batch)
        return region.reports.final(done) if final else done

    collected: list[InstanceResult] = []
    for batch_results in region.pool.map(guarded, batches):
        collected.extend(batch_results)
    return collected
