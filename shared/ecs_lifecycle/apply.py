"""Carrying decisions out: batching, parallelism, stop-then-release, deadline, partial failure.

`execute` takes the planner's decisions and returns one `InstanceResult` per decision, in the
same order. A dry run goes through the same path and stops before the first changing call. One
bad instance never stops the rest: StopInstances answers per instance, and a failed
DeleteInstances batch is split in halves until the culprit is isolated. Work not started before
the deadline is reported as failed with that reason, so Function Compute's retry picks it up.

A release that needs snapshots (`Decision.snapshot`) goes: stop (as every release does), snapshot
each disk of the stopped instance, wait until every snapshot is accomplished, then release. An
instance whose snapshots failed or did not finish in time is not released.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.ecs import BATCH_SIZE
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import SNAPSHOT_INSTANCE_TAG, Action, Decision, InstanceResult, Outcome

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.ecs import EcsGateway, SnapshotInfo

GONE_CODES: Final = frozenset(
    {"InvalidInstanceId.NotFound", "InvalidInstanceIds.NotFound", "NoSuchResource"}
)
DEADLINE_CODE: Final = "DeadlineExceeded"
FULL_READ_EVERY: Final = 6  # polling rounds between reads of every stopping instance
# StartTime comes to the minute: a snapshot counts as taken after the last start only if it is at
# least a minute later, so a snapshot from just before a restart is never mistaken for a fresh one.
START_TIME_GRAIN: Final = timedelta(minutes=1)


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
    snapshot_retention_days: int | None = None


def execute(decisions: Sequence[Decision], run: Execution) -> list[InstanceResult]:
    """Carry out `decisions`; one result each, in the same order."""
    results: dict[str, InstanceResult] = {}
    pending: list[Decision] = []
    dry_snapshots: list[Decision] = []
    for decision in decisions:
        if not decision.changes:
            results[decision.instance_id] = _result(decision, Outcome.SKIPPED, decision.reason)
        elif run.dry_run and decision.snapshot is not None:
            dry_snapshots.append(decision)
        elif run.dry_run:
            results[decision.instance_id] = _result(
                decision, Outcome.PLANNED, f"dry run: {decision.reason}"
            )
        else:
            pending.append(decision)
    if dry_snapshots:
        results.update((r.instance_id, r) for r in _plan_snapshots(dry_snapshots, run))
    by_region: dict[str, list[Decision]] = defaultdict(list)
    for decision in pending:
        by_region[decision.region].append(decision)
    if by_region:
        with ThreadPoolExecutor(max_workers=len(by_region), thread_name_prefix="region") as regions:
            region_runs = [_RegionRun(run, region, items) for region, items in by_region.items()]
            for region_results in regions.map(_RegionRun.carry_out, region_runs):
                results.update((result.instance_id, result) for result in region_results)
    return [results[decision.instance_id] for decision in decisions]


def _plan_snapshots(decisions: Sequence[Decision], run: Execution) -> list[InstanceResult]:
    """A dry run names the disks it would snapshot: DescribeDisks is a read, so it may call it."""

    def plan_one(decision: Decision) -> InstanceResult:
        try:
            disks = run.gateway.describe_disks(decision.region, decision.instance_id)
        except EcsApiError as error:
            return _result(decision, Outcome.FAILED, "dry run: could not list its disks", error)
        named = ", ".join(disk.disk_id for disk in disks) or "no disk (it would not be released)"
        return _result(
            decision,
            Outcome.PLANNED,
            f"dry run: would snapshot {named} then release ({decision.reason})",
        )

    with ThreadPoolExecutor(max_workers=run.concurrency, thread_name_prefix="disks") as pool:
        return list(pool.map(plan_one, decisions))


def _result(
    decision: Decision,
    outcome: Outcome,
    reason: str,
    error: EcsApiError | None = None,
    snapshot_ids: Sequence[str] = (),
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
        snapshot_ids=tuple(snapshot_ids),
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
        self.to_snapshot: list[Decision] = []  # stopped, waiting for their snapshots

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
        already = self._already_stopping(
            [a.instance_id for a in answers if not a.ok and a.code == "IncorrectInstanceStatus"]
        )
        for answer in answers:
            decision = by_id[answer.instance_id]
            if answer.ok:
                results.append(
                    _result(decision, Outcome.DONE, f"{done_reason} ({decision.reason})")
                )
            elif answer.instance_id in already:
                reason = f"{done_reason} (it was already {already[answer.instance_id]})"
                results.append(_result(decision, Outcome.DONE, reason))
            else:
                refusal = EcsApiError(
                    "StopInstances", answer.code, answer.message, answer.request_id
                )
                results.append(_result(decision, Outcome.FAILED, "not stopped", refusal))
        return results

    def _already_stopping(self, instance_ids: list[str]) -> dict[str, str]:
        """Of the instances StopInstances refused, those that are Stopping or Stopped anyway.

        An earlier attempt whose answer was lost (then retried), or another tool, stopped them
        first: the goal is reached, so that refusal is not a failure.
        """
        if not instance_ids:
            return {}
        try:
            listed = self.run.gateway.describe_instances(self.region, instance_ids=instance_ids)
            return {i.instance_id: i.status for i in listed if i.status in ("Stopping", "Stopped")}
        except EcsApiError:
            return {}

    # --- release -----------------------------------------------------------------------------

    def _release(self, decisions: Sequence[Decision]) -> None:
        if not decisions:
            return
        ready = [d for d in decisions if not d.stop_first and not d.wait_for_stop]
        to_stop = [d for d in decisions if d.stop_first]
        waiting = {d.instance_id: d for d in decisions if d.wait_for_stop}
        stopping = {d.instance_id: d for d in to_stop}
        self._release_stopped(ready)
        for stop_result in self._in_parallel(
            _chunks(to_stop), lambda batch: self._stop_batch(batch, "stopping")
        ):
            decision = stopping[stop_result.instance_id]
            if stop_result.outcome is Outcome.DONE:
                waiting[decision.instance_id] = decision
            else:
                self.results.append(stop_result)
        self._release_when_stopped(waiting)
        self._snapshot_then_release(self.to_snapshot)

    def _release_stopped(self, decisions: Sequence[Decision]) -> None:
        """Release stopped instances now, except those whose disks are snapshotted first."""
        self.to_snapshot.extend(d for d in decisions if d.snapshot is not None)
        plain = [d for d in decisions if d.snapshot is None]
        self.results.extend(self._in_parallel(_chunks(plain), self._delete_batch))

    def _release_when_stopped(self, waiting: dict[str, Decision]) -> None:
        """Poll the stopping instances (100 ids a call) and release each batch that has stopped.

        Instances stopped together take about as long to stop, so a round first reads only the
        last 100 sent a stop (one call); only once one of those has stopped (or every
        FULL_READ_EVERY rounds, so that a stuck probe cannot hold the rest back) does it read
        the rest. Each instance is then read about once, not once a round: with a 25 s stop and
        5 s rounds, 4,000 stopping instances take about 45 status calls instead of about 240.
        """
        rounds = 0
        while waiting:
            if self._past_deadline():
                self.results.extend(self._deadline_results(waiting.values(), "not Stopped"))
                return
            self.run.clock.sleep(self.run.poll_interval)
            rounds += 1
            # Insertion order is stop order: the tail was stopped last.
            order = list(waiting)
            probe, rest = order[-BATCH_SIZE:], order[:-BATCH_SIZE]
            seen: dict[str, str] = {}
            try:
                seen.update(self._states(probe))
                moved = any(seen.get(i) not in ("Stopping", "Running") for i in probe)
                moved = moved or rounds % FULL_READ_EVERY == 0
                read = order if moved else probe
                if moved and rest:
                    seen.update(self._states(rest))
            except EcsApiError as error:
                failed = [
                    _result(d, Outcome.FAILED, "could not read its state", error)
                    for d in waiting.values()
                ]
                self.results.extend(failed)
                return
            ready = []
            for instance_id in read:
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
            self._release_stopped(ready)

    def _states(self, instance_ids: list[str]) -> dict[str, str]:
        """Status by id of those that still exist (100 ids a call).

        Raises:
            EcsApiError: a read failed after its retries.
        """
        listed = self.run.gateway.describe_instances(self.region, instance_ids=instance_ids)
        return {instance.instance_id: instance.status for instance in listed}

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

    # --- snapshots before release ------------------------------------------------------------
    #
    # Order: stop, snapshot, wait, release. ECS can snapshot a running instance, but only a
    # stopped one gives snapshots that agree with each other and with the disk as released
    # (nothing writes between the snapshot and DeleteInstances). ECS also asks that the
    # instance's state not change while a snapshot is being created, so the release waits until
    # every snapshot of that instance is accomplished. Instances proceed in parallel; the wait is
    # one poll loop for the whole region, 100 snapshot ids a DescribeSnapshots call.

    def _snapshot_then_release(self, decisions: Sequence[Decision]) -> None:
        if not decisions:
            return
        backups: list[_Backup] = []
        for started in self.pool.map(self._start_snapshots, decisions):
            if isinstance(started, InstanceResult):
                self.results.append(started)
            else:
                backups.append(started)
        self._release_when_snapshotted(backups)

    def _start_snapshots(self, decision: Decision) -> _Backup | InstanceResult:
        """Find the instance's disks and a snapshot of each: one made by an earlier run, or new."""
        plan = decision.snapshot
        assert plan is not None  # noqa: S101 - only decisions with a snapshot plan come here
        if self._past_deadline():
            return self._deadline_results([decision], "snapshots not started")[0]
        gateway = self.run.gateway
        try:
            disks = gateway.describe_disks(self.region, decision.instance_id)
            earlier = gateway.describe_tagged_snapshots(
                self.region, SNAPSHOT_INSTANCE_TAG, decision.instance_id
            )
        except EcsApiError as error:
            return _result(decision, Outcome.FAILED, "not released: disks not listed", error)
        if not disks:
            # Every instance has a system disk; none listed means we cannot back it up.
            missing = EcsApiError("DescribeDisks", "NoDiskFound", "no disk listed to snapshot")
            return _result(decision, Outcome.FAILED, "not released", missing)
        snapshot_ids: list[str] = []
        for disk in disks:
            reused = _reusable(earlier, disk.disk_id, plan.reuse_after)
            if reused is not None:
                snapshot_ids.append(reused)
                self._log_snapshot(decision, disk.disk_id, reused, reused=True)
                continue
            try:
                snapshot_id = gateway.create_snapshot(
                    self.region,
                    disk.disk_id,
                    name=f"ecs-lifecycle-{decision.instance_id}-{disk.disk_id}",
                    description=(
                        f"Taken by ecs-lifecycle before releasing {decision.instance_id} "
                        f"(disk {disk.disk_id}, run {self.run.idempotency_seed[:16]})"
                    ),
                    tags=plan.tags,
                    client_token=_snapshot_token(
                        self.run.idempotency_seed, decision, disk.disk_id, earlier
                    ),
                    retention_days=self.run.snapshot_retention_days,
                )
            except EcsApiError as error:
                return _result(
                    decision,
                    Outcome.FAILED,
                    f"not released: no snapshot of {disk.disk_id}",
                    error,
                    snapshot_ids,
                )
            snapshot_ids.append(snapshot_id)
            self._log_snapshot(decision, disk.disk_id, snapshot_id, reused=False)
        return _Backup(decision, tuple(snapshot_ids))

    def _log_snapshot(
        self, decision: Decision, disk_id: str, snapshot_id: str, *, reused: bool
    ) -> None:
        # Logged as soon as it exists: should the run die before its summary, the ids are known.
        log_line(
            "snapshot",
            instance_id=decision.instance_id,
            region=self.region,
            disk_id=disk_id,
            snapshot_id=snapshot_id,
            reused=reused,
            at=self.run.clock.now().isoformat(),
        )

    def _release_when_snapshotted(self, backups: list[_Backup]) -> None:
        """Poll the snapshots; release each instance once all of its snapshots are accomplished."""
        pending = {backup.decision.instance_id: backup for backup in backups}
        snapshots_of = {backup.decision.instance_id: backup.snapshot_ids for backup in backups}
        while pending:
            ids = [snapshot_id for b in pending.values() for snapshot_id in b.snapshot_ids]
            try:
                seen = {
                    s.snapshot_id: s for s in self.run.gateway.describe_snapshots(self.region, ids)
                }
            except EcsApiError as error:
                self.results.extend(
                    _result(
                        b.decision,
                        Outcome.FAILED,
                        "not released: snapshots not read",
                        error,
                        b.snapshot_ids,
                    )
                    for b in pending.values()
                )
                return
            ready: list[Decision] = []
            for instance_id, backup in list(pending.items()):
                states = [seen.get(snapshot_id) for snapshot_id in backup.snapshot_ids]
                failed = [s for s in states if s is not None and s.status == "failed"]
                if failed:
                    del pending[instance_id]
                    broken = EcsApiError(
                        "CreateSnapshot",
                        "SnapshotFailed",
                        f"snapshot {failed[0].snapshot_id} of {failed[0].disk_id} failed",
                    )
                    self.results.append(
                        _result(
                            backup.decision,
                            Outcome.FAILED,
                            "not released",
                            broken,
                            backup.snapshot_ids,
                        )
                    )
                elif all(s is not None and s.status == "accomplished" for s in states):
                    ready.append(pending.pop(instance_id).decision)
            self.results.extend(
                replace(result, snapshot_ids=snapshots_of[result.instance_id])
                for result in self._in_parallel(_chunks(ready), self._delete_batch)
            )
            if not pending:
                return
            if self._past_deadline():
                self.results.extend(
                    replace(result, snapshot_ids=snapshots_of[result.instance_id])
                    for result in self._deadline_results(
                        [b.decision for b in pending.values()], "snapshots not accomplished"
                    )
                )
                return
            self.run.clock.sleep(self.run.poll_interval)

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


@dataclass(frozen=True, slots=True)
class _Backup:
    """An instance whose snapshots are started: one per disk, in the disks' order."""

    decision: Decision
    snapshot_ids: tuple[str, ...]


def _reusable(
    earlier: Sequence[SnapshotInfo], disk_id: str, reuse_after: datetime | None
) -> str | None:
    """The newest snapshot this tool made of `disk_id` that still holds the disk as it is now.

    A failed one does not count; nor does one older than the instance's last start, since the
    disk may have changed after it (this tool snapshots stopped instances only).
    """
    usable = [
        snapshot
        for snapshot in earlier
        if snapshot.disk_id == disk_id
        and snapshot.status in ("progressing", "accomplished")
        and (
            reuse_after is None
            or (
                snapshot.creation_time is not None
                and snapshot.creation_time >= reuse_after + START_TIME_GRAIN
            )
        )
    ]
    if not usable:
        return None
    return max(usable, key=lambda s: (s.creation_time is not None, s.creation_time)).snapshot_id


def _snapshot_token(
    seed: str, decision: Decision, disk_id: str, earlier: Sequence[SnapshotInfo]
) -> str:
    """A CreateSnapshot ClientToken: the same for a retry of the same run on the same disk.

    A retried invocation that cannot see its first snapshot yet gets that snapshot back instead of
    a second one. The instance's last start and the disk's failed snapshots are part of it, so a
    restart since, or a failed snapshot, gets a new snapshot rather than the old answer.
    """
    plan = decision.snapshot
    start = plan.reuse_after.isoformat() if plan and plan.reuse_after else "-"
    failed = sorted(s.snapshot_id for s in earlier if s.disk_id == disk_id and s.status == "failed")
    material = "|".join([seed, "snapshot", decision.instance_id, disk_id, start, *failed])
    return hashlib.sha256(material.encode()).hexdigest()[:64]


def _client_token(seed: str, region: str, instance_ids: Sequence[str], *, force: bool) -> str:
    """A ClientToken stable across a retried invocation of the same event (ASCII, 64 chars)."""
    material = "|".join([seed, region, "force" if force else "stopped", *instance_ids])
    return hashlib.sha256(material.encode()).hexdigest()[:64]
