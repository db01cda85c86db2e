"""What a dry run answers for a release with snapshots: the disks it would snapshot.

DescribeDisks is a read, so a dry run may call it; it makes no changing call. Each answer is
reported as soon as it is read.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.results import result
from ecs_lifecycle.model import Outcome

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ecs_lifecycle.execute.context import Execution
    from ecs_lifecycle.execute.reporting import Reports
    from ecs_lifecycle.model import Decision, InstanceResult


def plan_snapshots(
    decisions: Sequence[Decision], run: Execution, reports: Reports
) -> list[InstanceResult]:
    """A dry run names the disks it would snapshot: DescribeDisks is a read, so it may call it."""

    def plan_one(decision: Decision) -> InstanceResult:
        try:
            disks = run.gateway.describe_disks(decision.region, decision.instance_id)
        except EcsApiError as error:
            failed = result(decision, Outcome.FAILED, "dry run: could not list its disks", error)
            return reports.final([failed])[0]
        named = ", ".join(disk.disk_id for disk in disks) or "no disk (it would not be released)"
        planned = result(
            decision,
            Outcome.PLANNED,
            f"dry run: would snapshot {named} then release ({decision.reason})",
        )
        return reports.final([planned])[0]

    with ThreadPoolExecutor(max_workers=run.concurrency, thread_name_prefix="disks") as pool:
        return list(pool.map(plan_one, decisions))
