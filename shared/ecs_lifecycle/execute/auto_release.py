"""Setting and cancelling auto-release times: each chunk of 100 re-read, then one call each.

ModifyInstanceAutoReleaseTime has no batch form, so the calls run in parallel. The re-check only
narrows: a planned cancellation that has become a release time is left to the next run, and a
time that has become too soon for ECS is moved when it is sent, never earlier than planned.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.execute.context import halted, in_parallel, not_done
from ecs_lifecycle.execute.recheck import recheck
from ecs_lifecycle.execute.results import GONE_CODES, changed, chunks, result
from ecs_lifecycle.model import Outcome
from ecs_lifecycle.planning import release_time_when_sent

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.model import Decision, InstanceResult


def modify(region: Region, decisions: Sequence[Decision]) -> list[InstanceResult]:
    """Set or cancel auto-release times: each chunk of 100 re-read first, then one call each."""
    results: list[InstanceResult] = []
    to_send: list[Decision] = []
    for kept, send in region.pool.map(
        lambda b: _recheck_modifications(region, b), chunks(decisions)
    ):
        results.extend(region.reports.final(kept))
        to_send.extend(send)
    results.extend(
        in_parallel(
            region, [[d] for d in to_send], lambda batch: [modify_one(region, batch[0])], final=True
        )
    )
    return results


def _recheck_modifications(
    region: Region, batch: Sequence[Decision]
) -> tuple[list[InstanceResult], list[Decision]]:
    """The decisions as the fresh read has them: results for those kept, and those to send."""
    if halted(region):
        return not_done(region, batch, "not started"), []
    what = "auto-release time not changed"
    rechecked, kept = recheck(
        region,
        batch,
        what,
        gone=lambda d: result(d, Outcome.SKIPPED, "the instance no longer exists"),
    )
    # The owner's last word: the tag (or a keep signal) as it is now decides, but the re-check
    # only narrows: a planned cancellation that has become a release time (a keep signal lifted
    # meanwhile) is left to the next run. The blast-radius cap counted it as a cancellation, and
    # a run refused by the cap carries out only those.
    send = [now for d, now in rechecked if now.changes and (d.destructive or not now.destructive)]
    kept += [changed(d, now, what) for d, now in rechecked if not now.changes]
    kept += [
        result(
            d,
            Outcome.SKIPPED,
            f"{what}: changed since the run read it, to {now.reason}; the cancellation "
            "planned is not turned into a release time (the next run decides)",
        )
        for d, now in rechecked
        if now.changes and now.destructive and not d.destructive
    ]
    return kept, send


def modify_one(region: Region, decision: Decision) -> InstanceResult:
    """One ModifyInstanceAutoReleaseTime call: the time planned, or none (a cancellation)."""
    wanted = decision.release_at
    clock = region.run.clock

    def release_at() -> datetime | None:
        # Computed as each attempt is sent: a call delayed by retries must not ask for a
        # minute that has become too soon for ECS.
        if wanted is None:
            return None
        return release_time_when_sent(wanted, clock.now())

    try:
        sent = region.run.gateway.modify_auto_release_time(
            region.name, decision.instance_id, release_at
        )
    except EcsApiError as error:
        if error.code in GONE_CODES:
            return result(decision, Outcome.SKIPPED, "the instance no longer exists")
        return result(decision, Outcome.FAILED, "auto-release time not changed", error)
    if wanted is None:
        return result(decision, Outcome.DONE, f"cancelled auto-release ({decision.reason})")
    reason = f"set auto-release ({decision.reason})"
    if sent is not None and sent != wanted:
        reason = f"{reason}; sent as {sent:%Y-%m-%dT%H:%MZ}, the earliest minute ECS allowed"
    return replace(result(decision, Outcome.DONE, reason), release_at=sent if sent else wanted)
