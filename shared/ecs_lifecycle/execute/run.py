"""The whole run: decisions sorted into dry-run answers and work, work split by region and step.

Each region runs on its own thread with its own pool (`concurrency` calls at once), its steps in
order: the stops, the releases, the auto-release writes. A dry run goes through the same path and
stops before the first changing call. One result per decision, in the decisions' order, each
reported once, as soon as it is final.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.execute.auto_release import modify
from ecs_lifecycle.execute.context import Region
from ecs_lifecycle.execute.dry_run import plan_snapshots
from ecs_lifecycle.execute.release import release
from ecs_lifecycle.execute.reporting import ProgressBoard, Reports
from ecs_lifecycle.execute.results import result
from ecs_lifecycle.execute.stops import stop
from ecs_lifecycle.model import Action, Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ecs_lifecycle.execute.context import Execution
    from ecs_lifecycle.model import Decision, InstanceResult

# Which step carries out each action (both auto-release actions are one ModifyInstance... call).
_STEPS: Final = {
    Action.STOP: Action.STOP,
    Action.RELEASE: Action.RELEASE,
    Action.SET_AUTO_RELEASE: Action.SET_AUTO_RELEASE,
    Action.CANCEL_AUTO_RELEASE: Action.SET_AUTO_RELEASE,
}


def execute(decisions: Sequence[Decision], run: Execution) -> list[InstanceResult]:
    """Carry out `decisions`; one result each, in the same order, each reported once."""
    reports = Reports(run.on_result)
    board = ProgressBoard(run.clock, run.progress_every, run.on_progress)
    results: dict[str, InstanceResult] = {}
    pending: list[Decision] = []
    dry_snapshots: list[Decision] = []
    for decision in decisions:
        if not decision.changes:
            results[decision.instance_id] = result(decision, Outcome.SKIPPED, decision.reason)
        elif run.dry_run and decision.snapshot is not None:
            dry_snapshots.append(decision)
        elif run.dry_run:
            results[decision.instance_id] = result(
                decision, Outcome.PLANNED, f"dry run: {decision.reason}"
            )
        else:
            pending.append(decision)
    reports.final(results.values())
    if dry_snapshots:
        results.update((r.instance_id, r) for r in plan_snapshots(dry_snapshots, run, reports))
    by_region: dict[str, list[Decision]] = defaultdict(list)
    for decision in pending:
        by_region[decision.region].append(decision)
    if by_region:
        with ThreadPoolExecutor(max_workers=len(by_region), thread_name_prefix="region") as regions:
            for region_results in regions.map(
                lambda item: _carry_out(run, reports, board, item[0], item[1]), by_region.items()
            ):
                results.update((done.instance_id, done) for done in region_results)
    # Every result was reported as it became final; this reports any a step returned unreported.
    return reports.final(results[decision.instance_id] for decision in decisions)


def _carry_out(
    run: Execution, reports: Reports, board: ProgressBoard, name: str, decisions: list[Decision]
) -> list[InstanceResult]:
    """One region's share of a run, step by step; each step returns its results."""
    by_action: dict[Action, list[Decision]] = defaultdict(list)
    for decision in decisions:
        if decision.action not in _STEPS:
            raise ValueError(f"no step carries out {decision.action.value!r}")
        by_action[_STEPS[decision.action]].append(decision)
    with ThreadPoolExecutor(max_workers=run.concurrency, thread_name_prefix=name) as pool:
        region = Region(run, name, pool, reports, board)
        return (
            stop(region, by_action[Action.STOP])
            + release(region, by_action[Action.RELEASE])
            + modify(region, by_action[Action.SET_AUTO_RELEASE])
        )
