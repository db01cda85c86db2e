"""Carrying decisions out: batching, parallelism, stop-then-release, deadline, partial failure.

`execute` takes the planner's decisions and returns one `InstanceResult` per decision, in the
same order. A dry run goes through the same path and stops before the first changing call. One
bad instance never stops the rest: StopInstances answers per instance, and a failed
DeleteInstances batch is split in halves until the culprit is isolated. Work not started before
the deadline is reported as failed with that reason, so Function Compute's retry picks it up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.ecs import BATCH_SIZE
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Action, Decision, InstanceResult, Outcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.ecs import EcsGateway

GONE_CODES: Final = frozenset(
    {"InvalidInstanceId.NotFound", "InvalidInstanceIds.NotFound", "NoSuchResource"}
)
DEADLINE_CODE: Final = "DeadlineExceeded"


@dataclass(frozen=True, slots=True)
class Execution:
    """How to carry a plan out."""

    gateway: EcsGateway
    clock: Clock
    deadline: datetime
    dry_run: bool
    force: bool
    stopped_mode: str
    idempotency_seed: str
    concurrency: int = 8
    poll_interval: float = 5.0


def execute(decisions: Sequence[Decision], run: Execution) -> list[InstanceResult]:
    """Carry out `decisions`; one result each, in the same order."""
    results: dict[str, InstanceResult] = {}
    pending: list[Decision] = []
    for decision in decisions:
        if not decision.changes:
            results[decision.instance_id] = _result(decision, Outcome.SKIPPED, decision.reason)
        elif run.dry_run:
            results[decision.instance_id] = _result(
                decision, Outcome.PLANNED, f"dry run: {decision.reason}"
            )
        else:
            pending.append(decision)
    by_region: dict[str, list[Decision]] = defaultdict(list)
    for decision in pending:
        by_region[decision.region].append(decision)
    if by_region:
        with ThreadPoolExecutor(max_workers=len(by_region), thread_name_prefix="region") as regions:
            region_runs = [_RegionRun(run, region, items) for region, items in by_region.items()]
            for region_results in regions.map(_RegionRun.carry_out, region_runs):
                results.update((result.instance_id, result) for result in region_results)
    return [results[decision.instance_id] for decision in decisions]


def _result(
    decision: Decision, outcome: Outcome, reason: str, error: EcsApiError | None = None
) -> InstanceResult:
    return InstanceResult(
        instance_id=decision.instance_id,
        region=decision.region,
        action=decision.action,
        outcome=outcome,
        reason=reason if error is None else f"{reason}: {error.code} ({error.message})",
        error_code=error.code if error else None,
        request_id=error.request_id if error else None,
        release_at=decision.release_at,
    )


def _chunks(items: Sequence[Decision], size: int = BATCH_SIZE) -> list[Sequence[Decision]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


class _RegionRun:
    """One region's share of a run; batches within it run in parallel."""

    def __init__(self, run: Execution, region: str, decisions: list[Decision]) -> None:
        self.run = run
        self.region = region
        self.decisions = decisions
        self.results: list[InstanceResult] = []
        self.pool: ThreadPoolExecutor

    def carry_out(self) -> list[InstanceResult]:
        by_action: dict[Action, list[Decision]] = defaultdict(list)
        for decision in self.decisions:
            by_action[decision.action].append(decision)
        with ThreadPoolExecutor(
            max_workers=self.run.concurrency, thread_name_prefix=self.region
        ) as pool:
            self.pool = pool
            self._stop(by_action[Action.STOP])
            self._release(by_action[Action.RELEASE])
            self._modify(by_action[Action.SET_AUTO_RELEASE] + by_action[Action.CANCEL_AUTO_RELEASE])
        return self.results

    # --- shared helpers ----------------------------------------------------------------------

    def _past_deadline(self) -> bool:
        return self.run.clock.now() >= self.run.deadline

    def _deadline_results(self, decisions: Iterable[Decision], what: str) -> list[InstanceResult]:
        error = EcsApiError(
            "run", DEADLINE_CODE, f"{what} before the function's time limit; a retry picks it up"
        )
        return [_result(decision, Outcome.FAILED, "not done", error) for decision in decisions]

    def _in_parallel(
        self,
        batches: Sequence[Sequence[Decision]],
        work: Callable[[Sequence[Decision]], list[InstanceResult]],
    ) -> list[InstanceResult]:
        """Run `work` on each batch; batches not started by the deadline fail with that reason."""

        def guarded(batch: Sequence[Decision]) -> list[InstanceResult]:
            if self._past_deadline():
                return self._deadline_results(batch, "not started")
            return work(batch)

        collected: list[InstanceResult] = []
        for batch_results in self.pool.map(guarded, batches):
            collected.extend(batch_results)
        return collected

    # --- stop --------------------------------------------------------------------------------

    def _stop(self, decisions: Sequence[Decision]) -> None:
        self.results.extend(
            self._in_parallel(_chunks(decisions), lambda batch: self._stop_batch(batch, "stopped"))
        )

    def _stop_batch(self, batch: Sequence[Decision], done_reason: str) -> list[InstanceResult]:
        by_id = {decision.instance_id: decision for decision in batch}
        try:
            answers = self.run.gateway.stop_instances(
                self.region, list(by_id), force=self.run.force, stopped_mode=self.run.stopped_mode
            )
        except EcsApiError as error:
            return [
                _result(decision, Outcome.FAILED, "StopInstances failed", error)
                for decision in batch
            ]
        results = []
        for answer in answers:
            decision = by_id[answer.instance_id]
            if answer.ok:
                results.append(
                    _result(decision, Outcome.DONE, f"{done_reason} ({decision.reason})")
                )
            else:
                refusal = EcsApiError(
                    "StopInstances", answer.code, answer.message, answer.request_id
                )
                results.append(_result(decision, Outcome.FAILED, "not stopped", refusal))
        return results

    # --- release -----------------------------------------------------------------------------

    def _release(self, decisions: Sequence[Decision]) -> None:
        if not decisions:
            return
        ready = [d for d in decisions if not d.stop_first and not d.wait_for_stop]
        to_stop = [d for d in decisions if d.stop_first]
        waiting = {d.instance_id: d for d in decisions if d.wait_for_stop}
        stopping = {d.instance_id: d for d in to_stop}
        self.results.extend(self._in_parallel(_chunks(ready), self._delete_batch))
        for stop_result in self._in_parallel(
            _chunks(to_stop), lambda batch: self._stop_batch(batch, "stopping")
        ):
            decision = stopping[stop_result.instance_id]
            if stop_result.outcome is Outcome.DONE:
                waiting[decision.instance_id] = decision
            else:
                self.results.append(stop_result)
        self._release_when_stopped(waiting)

    def _release_when_stopped(self, waiting: dict[str, Decision]) -> None:
        """Poll the stopping instances (100 ids a call) and release each batch that has stopped."""
        while waiting:
            if self._past_deadline():
                self.results.extend(self._deadline_results(waiting.values(), "not Stopped"))
                return
            self.run.clock.sleep(self.run.poll_interval)
            seen: dict[str, str] = {}
            try:
                for instance in self.run.gateway.describe_instances(
                    self.region, instance_ids=list(waiting)
                ):
                    seen[instance.instance_id] = instance.status
            except EcsApiError as error:
                failed = [
                    _result(d, Outcome.FAILED, "could not read its state", error)
                    for d in waiting.values()
                ]
                self.results.extend(failed)
                return
            ready = []
            for instance_id in list(waiting):
                status = seen.get(instance_id)
                if status is None:
                    decision = waiting.pop(instance_id)
                    self.results.append(_result(decision, Outcome.DONE, "released (it is gone)"))
                elif status == "Stopped":
                    ready.append(waiting.pop(instance_id))
                elif status not in ("Stopping", "Running"):
                    decision = waiting.pop(instance_id)
                    reason = f"became {status} while waiting for it to stop; left alone"
                    self.results.append(
                        InstanceResult(
                            decision.instance_id,
                            decision.region,
                            decision.action,
                            Outcome.SKIPPED,
                            reason,
                        )
                    )
            self.results.extend(self._in_parallel(_chunks(ready), self._delete_batch))

    def _delete_batch(self, batch: Sequence[Decision]) -> list[InstanceResult]:
        """Release a batch; on failure split it until each failing instance stands alone."""
        ids = sorted(decision.instance_id for decision in batch)
        token = _client_token(self.run.idempotency_seed, self.region, ids, force=self.run.force)
        try:
            self.run.gateway.delete_instances(
                self.region, ids, force=self.run.force, client_token=token
            )
        except EcsApiError as error:
            if len(batch) > 1:
                middle = len(batch) // 2
                return self._delete_batch(batch[:middle]) + self._delete_batch(batch[middle:])
            decision = batch[0]
            if error.code in GONE_CODES:
                return [_result(decision, Outcome.DONE, "released (it was already gone)")]
            return [_result(decision, Outcome.FAILED, "not released", error)]
        return [
            _result(decision, Outcome.DONE, f"released ({decision.reason})") for decision in batch
        ]

    # --- auto-release --------------------------------------------------------------------------

    def _modify(self, decisions: Sequence[Decision]) -> None:
        # ModifyInstanceAutoReleaseTime has no batch form: one call per instance, in parallel.
        self.results.extend(
            self._in_parallel([[decision] for decision in decisions], self._modify_one)
        )

    def _modify_one(self, batch: Sequence[Decision]) -> list[InstanceResult]:
        decision = batch[0]
        try:
            self.run.gateway.modify_auto_release_time(
                self.region, decision.instance_id, decision.release_at
            )
        except EcsApiError as error:
            if error.code in GONE_CODES:
                return [_result(decision, Outcome.SKIPPED, "the instance no longer exists")]
            return [_result(decision, Outcome.FAILED, "auto-release time not changed", error)]
        verb = "cancelled auto-release" if decision.release_at is None else "set auto-release"
        return [_result(decision, Outcome.DONE, f"{verb} ({decision.reason})")]


def _client_token(seed: str, region: str, instance_ids: Sequence[str], *, force: bool) -> str:
    """A ClientToken stable across a retried invocation of the same event (ASCII, 64 chars)."""
    material = "|".join([seed, region, "force" if force else "stopped", *instance_ids])
    return hashlib.sha256(material.encode()).hexdigest()[:64]
