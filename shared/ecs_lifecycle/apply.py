"""Carrying decisions out: batching, parallelism, the release pipeline, re-checks, the deadline.

`execute` takes the planner's decisions and returns one `InstanceResult` per decision, in the
same order. A dry run goes through the same path and stops before the first changing call.

Every destructive call is preceded by a fresh read: the instances are read again (100 a call, or
the status poll's own read when it is seconds old) and the planner's rules applied again
(`Execution.recheck`), so an instance that gained a keep signal, left the selector, turned on
deletion protection or started again since the run read it is kept, and its result says what
changed.

A release is a pipeline per instance, with no barrier that lets one instance hold the others back:
stopped (gracefully) -> disks listed -> snapshots accomplished (when asked) -> re-checked ->
released, batched where the API batches. One bad instance never stops the rest: StopInstances
answers per instance, and a DeleteInstances batch refused with a verdict on an instance is split
until the culprit stands alone (a batch that ran out of retries on throttling or 5xx is not split:
splitting would only multiply the calls into a busy quota). Nothing starts after the deadline: no
call, split, poll or snapshot wait; what is left is reported as failed with that reason, so
Function Compute's retry picks it up. A stop request (`Execution.stop_requested`: a local run's
first Ctrl-C) is checked at the same places and ends the run the same way, with `Interrupted`.

Each result is handed to `Execution.on_result` once, as soon as it is final (a stop batch as it
answers, a release as its poll round ends it), so a long run logs its decisions as it goes; the
results are still returned together. While the release pipeline waits, `Execution.on_progress`
gets where it stands (stopping, stopped, snapshots accomplished of how many, released), at most
every `Execution.progress_every` seconds of the run's clock.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from ecs_lifecycle import defaults
from ecs_lifecycle.audit import log_line
from ecs_lifecycle.ecs import BATCH_SIZE, DEADLINE_CODE, INTERRUPTED_CODE, is_transient
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import (
    SNAPSHOT_INSTANCE_TAG,
    START_TIME_GRAIN,
    Action,
    Decision,
    Instance,
    InstanceResult,
    Outcome,
)
from ecs_lifecycle.planning import release_time_when_sent
from ecs_lifecycle.progress import ReleaseProgress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.ecs import Gateway, SnapshotInfo

GONE_CODES: Final = frozenset(
    {"InvalidInstanceId.NotFound", "InvalidInstanceIds.NotFound", "NoSuchResource"}
)
FULL_READ_EVERY: Final = 6  # polling rounds between reads of every stopping instance
# A stop batch whose instances were read longer ago than this is read again before StopInstances.
STALE_READ: Final = timedelta(seconds=30)
# Statuses that mean "someone started it again": a release never goes ahead on them.
STARTED_AGAIN: Final = frozenset({"Pending", "Starting", "Running"})
# Someone else released it first: the goal of a release is reached.
RELEASED_GONE: Final = "released (it is gone)"
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


class _Reports:
    """Hands each instance's result to `on_result` once: the first time it is final."""

    def __init__(self, on_result: Callable[[InstanceResult], None]) -> None:
        self._on_result = on_result
        self._lock = threading.Lock()
        self._sent: set[str] = set()

    def final(self, results: Iterable[InstanceResult]) -> list[InstanceResult]:
        """Report the results not reported yet; return them all."""
        results = list(results)
        with self._lock:
            new = [result for result in results if result.instance_id not in self._sent]
            self._sent.update(result.instance_id for result in new)
        for result in new:
            self._on_result(result)
        return results


class _ProgressBoard:
    """Each region's release progress; the sum goes to `on_progress`, spaced on the run's clock."""

    def __init__(self, run: Execution) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._by_region: dict[str, ReleaseProgress] = {}
        self._last: datetime | None = None

    def update(self, region: str, progress: ReleaseProgress) -> None:
        """Note `region`'s progress; report the run's when the last report is old enough."""
        with self._lock:
            self._by_region[region] = progress
            now = self._run.clock.now()
            if self._last is not None and (now - self._last).total_seconds() < (
                self._run.progress_every
            ):
                return
            self._last = now
            counts = {
                item.name: sum(getattr(p, item.name) for p in self._by_region.values())
                for item in fields(ReleaseProgress)
                if item.name != "at"
            }
            # Reported under the lock, so that the reports of two regions keep their order.
            self._run.on_progress(ReleaseProgress(at=now, **counts))


def execute(decisions: Sequence[Decision], run: Execution) -> list[InstanceResult]:
    """Carry out `decisions`; one result each, in the same order, each reported once."""
    reports = _Reports(run.on_result)
    board = _ProgressBoard(run)
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
    reports.final(results.values())
    if dry_snapshots:
        results.update((r.instance_id, r) for r in _plan_snapshots(dry_snapshots, run, reports))
    by_region: dict[str, list[Decision]] = defaultdict(list)
    for decision in pending:
        by_region[decision.region].append(decision)
    if by_region:
        with ThreadPoolExecutor(max_workers=len(by_region), thread_name_prefix="region") as regions:
            for region_results in regions.map(
                lambda item: _carry_out(run, reports, board, item[0], item[1]), by_region.items()
            ):
                results.update((result.instance_id, result) for result in region_results)
    # Every result was reported as it became final; this reports any a step returned unreported.
    return reports.final(results[decision.instance_id] for decision in decisions)


def _carry_out(
    run: Execution, reports: _Reports, board: _ProgressBoard, region: str, decisions: list[Decision]
) -> list[InstanceResult]:
    """One region's share of a run, step by step; each step returns its results."""
    by_action: dict[Action, list[Decision]] = defaultdict(list)
    for decision in decisions:
        if decision.action not in _STEPS:
            raise ValueError(f"no step carries out {decision.action.value!r}")
        by_action[_STEPS[decision.action]].append(decision)
    with ThreadPoolExecutor(max_workers=run.concurrency, thread_name_prefix=region) as pool:
        region_run = _RegionRun(run, region, pool, reports, board)
        return (
            region_run.stop(by_action[Action.STOP])
            + region_run.release(by_action[Action.RELEASE])
            + region_run.modify(by_action[Action.SET_AUTO_RELEASE])
        )


# Which step carries out each action (both auto-release actions are one ModifyInstance... call).
_STEPS: Final = {
    Action.STOP: Action.STOP,
    Action.RELEASE: Action.RELEASE,
    Action.SET_AUTO_RELEASE: Action.SET_AUTO_RELEASE,
    Action.CANCEL_AUTO_RELEASE: Action.SET_AUTO_RELEASE,
}


def _plan_snapshots(
    decisions: Sequence[Decision], run: Execution, reports: _Reports
) -> list[InstanceResult]:
    """A dry run names the disks it would snapshot: DescribeDisks is a read, so it may call it."""

    def plan_one(decision: Decision) -> InstanceResult:
        try:
            disks = run.gateway.describe_disks(decision.region, decision.instance_id)
        except EcsApiError as error:
            failed = _result(decision, Outcome.FAILED, "dry run: could not list its disks", error)
            return reports.final([failed])[0]
        named = ", ".join(disk.disk_id for disk in disks) or "no disk (it would not be released)"
        planned = _result(
            decision,
            Outcome.PLANNED,
            f"dry run: would snapshot {named} then release ({decision.reason})",
        )
        return reports.final([planned])[0]

    with ThreadPoolExecutor(max_workers=run.concurrency, thread_name_prefix="disks") as pool:
        return list(pool.map(plan_one, decisions))


def _result(
    decision: Decision,
    outcome: Outcome,
    reason: str,
    error: EcsApiError | None = None,
    snapshot_ids: Iterable[str] = (),
) -> InstanceResult:
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


def _chunks(items: Sequence[Decision], size: int = BATCH_SIZE) -> list[Sequence[Decision]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


@dataclass(slots=True)
class _Backup:
    """An instance whose disks are being snapshotted: one snapshot per disk."""

    decision: Decision
    snapshot_of: dict[str, str]  # disk id -> snapshot id, in the disks' order
    needs_disks: bool = False  # a disk was attached after these snapshots were started

    @property
    def snapshot_ids(self) -> tuple[str, ...]:
        return tuple(self.snapshot_of.values())


@dataclass(slots=True)
class _Ready:
    """A release whose instance was just read: the read the re-check applies to."""

    decision: Decision
    fresh: Instance | None  # None: the instance is gone
    backup: _Backup | None = None


@dataclass(slots=True)
class _Pipeline:
    """The release pipeline's in-flight instances, by stage."""

    stopping: dict[str, Decision] = field(default_factory=dict)  # insertion order = stop order
    snapshotting: dict[str, _Backup] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.stopping or self.snapshotting)


class _RegionRun:
    """One region's calls; batches within it run in parallel on `pool`."""

    def __init__(
        self,
        run: Execution,
        region: str,
        pool: ThreadPoolExecutor,
        reports: _Reports,
        board: _ProgressBoard,
    ) -> None:
        self.run = run
        self.region = region
        self.pool = pool
        self.reports = reports
        self.board = board
        self.accomplished: set[str] = set()  # snapshot ids seen accomplished

    # --- shared helpers ----------------------------------------------------------------------

    def _halted(self) -> str | None:
        """Why nothing new may start: INTERRUPTED_CODE, DEADLINE_CODE, or None (go on)."""
        if self.run.stop_requested is not None and self.run.stop_requested():
            return INTERRUPTED_CODE
        if self.run.clock.now() >= self.run.deadline:
            return DEADLINE_CODE
        return None

    def _not_done(
        self, decisions: Iterable[Decision], what: str, backups: dict[str, _Backup] | None = None
    ) -> list[InstanceResult]:
        """Results for work the run halted before (see `_halted`), with its code and `what`."""
        if self._halted() == INTERRUPTED_CODE:
            why = f"{what}: the run was interrupted; a re-run picks it up"
            error = EcsApiError("run", INTERRUPTED_CODE, why)
        else:
            why = f"{what} before the function's time limit; a retry picks it up"
            error = EcsApiError("run", DEADLINE_CODE, why)
        return [
            _result(
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

    def _in_parallel(
        self,
        batches: Sequence[Sequence[Decision]],
        work: Callable[[Sequence[Decision]], list[InstanceResult]],
        *,
        final: bool,
    ) -> list[InstanceResult]:
        """Run `work` on each batch; batches not started before a halt fail with its reason.

        `final`: the batches' results are final, and reported as each batch ends.
        """

        def guarded(batch: Sequence[Decision]) -> list[InstanceResult]:
            done = self._not_done(batch, "not started") if self._halted() else work(batch)
            return self.reports.final(done) if final else done

        collected: list[InstanceResult] = []
        for batch_results in self.pool.map(guarded, batches):
            collected.extend(batch_results)
        return collected

    def _read(self, instance_ids: Sequence[str]) -> dict[str, Instance]:
        """A fresh read of these instances (100 ids a call); those gone are left out.

        Raises:
            EcsApiError: a read failed after its retries.
        """
        listed = self.run.gateway.describe_instances(self.region, instance_ids=list(instance_ids))
        return {instance.instance_id: instance for instance in listed}

    def _rechecked(self, fresh: Instance) -> Decision:
        """The planner's decision on the fresh read.

        Times are resolved as at planning (a `release_after` counts from the same moment, so a
        re-check never moves a time); one that has become too soon is moved when it is sent.
        """
        return self.run.recheck(fresh, self.run.planned_at)

    # --- stop --------------------------------------------------------------------------------

    def stop(self, decisions: Sequence[Decision]) -> list[InstanceResult]:
        return self._in_parallel(_chunks(decisions), self._stop_batch, final=True)

    def _stop_batch(self, batch: Sequence[Decision]) -> list[InstanceResult]:
        """Stop a batch, re-checking it first when the run read it a while ago."""
        batch, kept = self._fresh_enough_to_stop(
            batch,
            "not stopped",
            "stopped (it is gone)",
            still=lambda now: now.action is Action.STOP and now.changes,
        )
        if not batch:
            return kept
        return kept + self._send_stop(
            batch, "stopped", "stopped (it is gone)", force=self.run.force_stop
        )

    def _fresh_enough_to_stop(
        self,
        batch: Sequence[Decision],
        what: str,
        gone_reason: str,
        *,
        still: Callable[[Decision], bool],
    ) -> tuple[list[Decision], list[InstanceResult]]:
        """The part of a batch to send StopInstances, re-checked when read over STALE_READ ago.

        Returns the decisions whose fresh read still calls for the stop (`still`), and the
        results of the others: gone (`gone_reason`: the goal holds), changed, or not re-read.
        """
        if self.run.clock.now() - self.run.planned_at <= STALE_READ:
            return list(batch), []
        rechecked, kept = self._recheck(
            batch, what, gone=lambda d: _result(d, Outcome.DONE, gone_reason)
        )
        kept += [_changed(d, now, what) for d, now in rechecked if not still(now)]
        return [d for d, now in rechecked if still(now)], kept

    def _recheck(
        self,
        batch: Sequence[Decision],
        what: str,
        *,
        gone: Callable[[Decision], InstanceResult],
    ) -> tuple[list[tuple[Decision, Decision]], list[InstanceResult]]:
        """Read the batch again and re-plan each instance on that read.

        Returns (decision, decision now) for each instance still there, and the results of those
        gone (`gone`) or, when the read fails, of every instance (`what` was not done).
        """
        try:
            fresh = self._read([d.instance_id for d in batch])
        except EcsApiError as error:
            return [], [_result(d, Outcome.FAILED, f"{what}: not re-read", error) for d in batch]
        rechecked: list[tuple[Decision, Decision]] = []
        results: list[InstanceResult] = []
        for decision in batch:
            instance = fresh.get(decision.instance_id)
            if instance is None:
                results.append(gone(decision))
            else:
                rechecked.append((decision, self._rechecked(instance)))
        return rechecked, results

    def _send_stop(
        self, batch: Sequence[Decision], done_reason: str, gone_reason: str, *, force: bool
    ) -> list[InstanceResult]:
        """StopInstances for a batch; an instance already gone has reached the goal."""
        by_id = {decision.instance_id: decision for decision in batch}
        try:
            answers = self.run.gateway.stop_instances(
                self.region, list(by_id), force=force, stopped_mode=self.run.stopped_mode
            )
        except EcsApiError as error:
            if len(batch) == 1 and error.code in GONE_CODES:
                return [_result(batch[0], Outcome.DONE, gone_reason)]
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
            elif answer.code in GONE_CODES:
                # Released by someone else meanwhile: the goal of a stop (and of a release) holds.
                results.append(_result(decision, Outcome.DONE, gone_reason))
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
            listed = self._read(instance_ids)
        except EcsApiError:
            return {}
        return {i: x.status for i, x in listed.items() if x.status in ("Stopping", "Stopped")}

    # --- release: the pipeline ---------------------------------------------------------------

    def release(self, decisions: Sequence[Decision]) -> list[InstanceResult]:
        """Each instance through stop -> snapshots -> re-check -> release, as fast as it goes."""
        if not decisions:
            return []
        results: list[InstanceResult] = []
        ended = {outcome: 0 for outcome in Outcome}
        snapshots: set[str] = set()  # every snapshot id the pipeline started or reused
        stopped = 0

        def finish(items: Iterable[InstanceResult]) -> None:
            for result in self.reports.final(items):
                results.append(result)
                ended[result.outcome] += 1

        def wait_for(backups: dict[str, _Backup]) -> None:
            # Instances routed to snapshots join the wait (with a new disk, back to it).
            pipeline.snapshotting.update(backups)
            snapshots.update(i for backup in backups.values() for i in backup.snapshot_ids)

        pipeline = _Pipeline()
        pipeline.stopping.update((d.instance_id, d) for d in decisions if d.wait_for_stop)
        # The stop before a release is always graceful: a snapshot of a cleanly stopped instance
        # is consistent, and ForceStop is the stop function's option, not the release's.
        to_stop = [d for d in decisions if d.stop_first]
        stops = self._in_parallel(_chunks(to_stop), self._stop_for_release, final=False)
        stopping = {d.instance_id: d for d in to_stop}
        stop_sent: set[str] = set()
        for stop_result in stops:
            if stop_result.outcome is Outcome.DONE and stop_result.reason != RELEASED_GONE:
                pipeline.stopping[stop_result.instance_id] = stopping[stop_result.instance_id]
                stop_sent.add(stop_result.instance_id)
            else:
                finish([stop_result])
        unread = [d for d in decisions if not d.stop_first and not d.wait_for_stop]
        ready, failures = self._fresh(unread)
        finish(failures)
        routed, backups = self._route(ready)
        finish(routed)
        wait_for(backups)
        rounds = 0
        while pipeline:
            if not self._halted():
                self.run.clock.sleep(self.run.poll_interval)
            if self._halted():
                # What was sent a stop says so: the summary tells what got a StopInstances call.
                finish(
                    self._not_done(
                        [d for i, d in pipeline.stopping.items() if i in stop_sent],
                        "StopInstances sent, not Stopped yet",
                    )
                )
                finish(
                    self._not_done(
                        [d for i, d in pipeline.stopping.items() if i not in stop_sent],
                        "not Stopped",
                    )
                )
                finish(
                    self._not_done(
                        [b.decision for b in pipeline.snapshotting.values()],
                        "snapshots not accomplished",
                        pipeline.snapshotting,
                    )
                )
                break
            rounds += 1
            seen_stopped, stop_results = self._poll_stopping(pipeline.stopping, rounds)
            stopped += sum(1 for item in seen_stopped if item.fresh is not None)
            snapshotted, snapshot_results = self._poll_snapshots(pipeline.snapshotting)
            reread, reread_failures = self._fresh_after_snapshots(snapshotted)
            routed, backups = self._route(seen_stopped + reread)
            finish(stop_results + snapshot_results + reread_failures + routed)
            wait_for(backups)
            self.board.update(
                self.region,
                ReleaseProgress(
                    at=self.run.clock.now(),
                    instances=len(decisions),
                    stopping=len(pipeline.stopping),
                    stopped=stopped,
                    snapshots=len(snapshots),
                    snapshots_accomplished=len(snapshots & self.accomplished),
                    released=ended[Outcome.DONE],
                    kept=ended[Outcome.SKIPPED],
                    failed=ended[Outcome.FAILED],
                ),
            )
        return results

    def _stop_for_release(self, batch: Sequence[Decision]) -> list[InstanceResult]:
        """The stop before a release, re-checked like the stop function's when the read is old.

        The protect tag, a keep-until, or anything else that keeps an instance now keeps it
        from this stop too. One that no longer needs the stop (found Stopped meanwhile) is left
        to the next run: doubt keeps.
        """
        batch, kept = self._fresh_enough_to_stop(
            batch,
            "not stopped for its release",
            RELEASED_GONE,
            still=lambda now: now.action is Action.RELEASE and now.changes and now.stop_first,
        )
        if not batch:
            return kept
        return kept + self._send_stop(batch, "stopping", RELEASED_GONE, force=False)

    def _fresh(self, decisions: Sequence[Decision]) -> tuple[list[_Ready], list[InstanceResult]]:
        """Read these instances now, for the re-check before their release (100 ids a call)."""
        ready: list[_Ready] = []
        failures: list[InstanceResult] = []
        for batch in _chunks(decisions):
            try:
                fresh = self._read([d.instance_id for d in batch])
            except EcsApiError as error:
                failures.extend(
                    _result(d, Outcome.FAILED, "not released: not re-read", error) for d in batch
                )
                continue
            ready.extend(_Ready(d, fresh.get(d.instance_id)) for d in batch)
        return ready, failures

    def _route(self, ready: Sequence[_Ready]) -> tuple[list[InstanceResult], dict[str, _Backup]]:
        """Re-check each freshly read instance: release it, snapshot it first, or keep it.

        Returns the results of those released or kept, and the backups started (to wait for).
        """
        results: list[InstanceResult] = []
        to_delete: list[tuple[Decision, _Backup | None]] = []
        to_snapshot: list[tuple[Decision, _Backup | None]] = []
        for item in ready:
            decision, fresh, backup = item.decision, item.fresh, item.backup
            if fresh is None:
                results.append(
                    _result(
                        decision,
                        Outcome.DONE,
                        RELEASED_GONE,
                        snapshot_ids=backup.snapshot_ids if backup else (),
                    )
                )
                continue
            now = self._rechecked(fresh)
            refusal = _release_refusal(decision, fresh, now, backup)
            if refusal is not None:
                results.append(refusal)
            elif (now.snapshot is not None or decision.snapshot is not None) and (
                backup is None or backup.needs_disks
            ):
                # A snapshot asked for only since the read (its tag set meanwhile) takes the
                # fresh read's plan: the last start it records decides which earlier snapshot
                # still holds the disk, and the restart check before release applies. A release
                # with snapshots never forces its delete.
                if decision.snapshot is None:
                    decision = replace(decision, snapshot=now.snapshot, force=False)
                to_snapshot.append((decision, backup))
            else:
                to_delete.append((decision, backup))
        backups: dict[str, _Backup] = {}
        for started in self.pool.map(lambda pair: self._start_snapshots(*pair), to_snapshot):
            if isinstance(started, _Backup):
                backups[started.decision.instance_id] = started
            else:
                results.append(started)
        taken = {d.instance_id: b.snapshot_ids for d, b in to_delete if b is not None}
        forced = [d for d, _ in to_delete if d.force]
        gentle = [d for d, _ in to_delete if not d.force]
        # Not final yet: the snapshot ids are added below; the caller reports them.
        deleted = self._in_parallel(
            _chunks(forced), self._delete_batch, final=False
        ) + self._in_parallel(_chunks(gentle), self._delete_batch, final=False)
        results.extend(
            replace(result, snapshot_ids=taken[result.instance_id])
            if result.instance_id in taken
            else result
            for result in deleted
        )
        return results, backups

    def _poll_stopping(
        self, waiting: dict[str, Decision], rounds: int
    ) -> tuple[list[_Ready], list[InstanceResult]]:
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
            seen.update(self._read(probe))
            moved = any(
                probe_id not in seen or seen[probe_id].status != "Stopping" for probe_id in probe
            )
            read = order if (moved or rounds % FULL_READ_EVERY == 0) else probe
            if read is order and rest:
                seen.update(self._read(rest))
        except EcsApiError as error:
            failed = [
                _result(d, Outcome.FAILED, "could not read its state", error)
                for d in waiting.values()
            ]
            waiting.clear()
            return [], failed
        ready: list[_Ready] = []
        results: list[InstanceResult] = []
        for instance_id in read:
            fresh = seen.get(instance_id)
            if fresh is None or fresh.status == "Stopped":
                ready.append(_Ready(waiting.pop(instance_id), fresh))
            elif fresh.status in STARTED_AGAIN:
                decision = waiting.pop(instance_id)
                results.append(
                    _result(
                        decision,
                        Outcome.SKIPPED,
                        f"not released: it is {fresh.status} again (someone started it while it "
                        "was being stopped)",
                    )
                )
            elif fresh.status != "Stopping":
                decision = waiting.pop(instance_id)
                reason = f"not released: it became {fresh.status} while being stopped"
                results.append(_result(decision, Outcome.SKIPPED, reason))
        return ready, results

    def _delete_batch(self, batch: Sequence[Decision]) -> list[InstanceResult]:
        """Release a batch; on a verdict about an instance, split it until the culprit is alone.

        `Force` only for a batch of Running instances released directly (never after a stop, and
        never with snapshots: a plain delete of a stopped instance is refused if it was started
        again, which keeps it).
        """
        ids = sorted(decision.instance_id for decision in batch)
        force = all(decision.force for decision in batch)
        token = client_token(
            self.run.idempotency_seed,
            "DeleteInstances",
            RegionId=self.region,
            InstanceId=ids,
            Force=force,
            TerminateSubscription=False,
        )
        try:
            self.run.gateway.delete_instances(self.region, ids, force=force, client_token=token)
        except EcsApiError as error:
            if len(batch) == 1:
                if error.code in GONE_CODES:
                    return [_result(batch[0], Outcome.DONE, "released (it was already gone)")]
                return [_result(batch[0], Outcome.FAILED, "not released", error)]
            if (
                is_transient(error)
                or error.code in (DEADLINE_CODE, INTERRUPTED_CODE)
                or self._halted()
            ):
                # Out of retries on throttling or 5xx (or out of time): splitting would only add
                # calls.
                return [_result(d, Outcome.FAILED, "not released", error) for d in batch]
            middle = len(batch) // 2
            return self._delete_batch(batch[:middle]) + self._delete_batch(batch[middle:])
        return [
            _result(decision, Outcome.DONE, f"released ({decision.reason})") for decision in batch
        ]

    # --- snapshots before release ------------------------------------------------------------
    #
    # Order: stop, snapshot, wait, re-check, release. ECS can snapshot a running instance, but
    # only a stopped one gives snapshots that agree with each other and with the disk as released
    # (nothing writes between the snapshot and DeleteInstances). ECS also asks that the
    # instance's state not change while a snapshot is being created, so the release waits until
    # every snapshot of that instance is accomplished. Right before the release the disks are
    # listed again: a disk attached meanwhile gets its own snapshot first.

    def _start_snapshots(
        self, decision: Decision, backup: _Backup | None
    ) -> _Backup | InstanceResult:
        """A snapshot of every disk the instance has now: one made earlier, or a new one."""
        plan = decision.snapshot
        reuse_after = plan.reuse_after if plan is not None else None
        tags = plan.tags if plan is not None else ((SNAPSHOT_INSTANCE_TAG, decision.instance_id),)
        taken = dict(backup.snapshot_of) if backup is not None else {}
        if self._halted():
            return self._not_done([decision], "snapshots not started")[0]
        gateway = self.run.gateway
        try:
            disks = gateway.describe_disks(self.region, decision.instance_id)
            earlier = gateway.describe_tagged_snapshots(
                self.region, SNAPSHOT_INSTANCE_TAG, decision.instance_id
            )
        except EcsApiError as error:
            return _result(
                decision, Outcome.FAILED, "not released: disks not listed", error, taken.values()
            )
        if not disks:
            # Every instance has a system disk; none listed means we cannot back it up.
            missing = EcsApiError("DescribeDisks", "NoDiskFound", "no disk listed to snapshot")
            return _result(decision, Outcome.FAILED, "not released", missing)
        snapshot_of: dict[str, str] = {}
        for disk in disks:
            if disk.disk_id in taken:
                snapshot_of[disk.disk_id] = taken[disk.disk_id]
                continue
            reused = _reusable(earlier, disk.disk_id, reuse_after)
            if reused is not None:
                snapshot_of[disk.disk_id] = reused
                self._log_snapshot(decision, disk.disk_id, reused, reused=True)
                continue
            name = f"ecs-lifecycle-{decision.instance_id}-{disk.disk_id}"
            description = (
                f"Taken by ecs-lifecycle before releasing {decision.instance_id} "
                f"(disk {disk.disk_id}, run {self.run.idempotency_seed[:16]})"
            )
            try:
                snapshot_id, tagged = self._create_snapshot(
                    disk.disk_id,
                    name=name,
                    description=description,
                    tags=tags,
                    reuse_after=reuse_after,
                    earlier=earlier,
                )
            except EcsApiError as error:
                return _result(
                    decision,
                    Outcome.FAILED,
                    f"not released: no snapshot of {disk.disk_id}",
                    error,
                    snapshot_of.values(),
                )
            snapshot_of[disk.disk_id] = snapshot_id
            self._log_snapshot(decision, disk.disk_id, snapshot_id, reused=False, tagged=tagged)
        return _Backup(decision, snapshot_of)

    def _create_snapshot(
        self,
        disk_id: str,
        *,
        name: str,
        description: str,
        tags: Sequence[tuple[str, str]],
        reuse_after: datetime | None,
        earlier: Sequence[SnapshotInfo],
    ) -> tuple[str, bool]:
        """CreateSnapshot with the tags; once more without them if RAM refuses the tagged call.

        Whether RAM also authorises CreateSnapshot's Tag.N as ecs:TagResources, which the role's
        policy denies, is undocumented (docs/deploy.md). If it does, every tagged CreateSnapshot
        is Forbidden and every instance asking for a snapshot would be kept: so a Forbidden answer
        to a tagged call is retried once without tags (its own token: other parameters). An
        untagged snapshot still guards this run's release; a later run only cannot find it to
        reuse and takes a new one. Returns the snapshot id and whether it carries the tags.
        """
        failed = sorted(
            s.snapshot_id for s in earlier if s.disk_id == disk_id and s.status == "failed"
        )

        def create(with_tags: Sequence[tuple[str, str]]) -> str:
            return self.run.gateway.create_snapshot(
                self.region,
                disk_id,
                name=name,
                description=description,
                tags=with_tags,
                client_token=client_token(
                    self.run.idempotency_seed,
                    "CreateSnapshot",
                    DiskId=disk_id,
                    SnapshotName=name,
                    Description=description,
                    Tag=[list(tag) for tag in with_tags],
                    RetentionDays=self.run.snapshot_retention_days,
                    # A restart since, or a failed snapshot, gets a new snapshot rather than the
                    # old answer.
                    last_start=reuse_after.isoformat() if reuse_after else None,
                    failed=failed,
                ),
                retention_days=self.run.snapshot_retention_days,
            )

        try:
            return create(tags), True
        except EcsApiError as error:
            if not tags or not error.code.startswith("Forbidden"):
                raise
            refused = error
        log_line(
            "snapshot_tags_refused",
            region=self.region,
            disk_id=disk_id,
            error_code=refused.code,
            note="CreateSnapshot with tags was refused; taken once more without them",
        )
        return create(()), False

    def _log_snapshot(
        self,
        decision: Decision,
        disk_id: str,
        snapshot_id: str,
        *,
        reused: bool,
        tagged: bool = True,
    ) -> None:
        # Logged as soon as it exists: should the run die before its summary, the ids are known.
        log_line(
            "snapshot",
            instance_id=decision.instance_id,
            region=self.region,
            disk_id=disk_id,
            snapshot_id=snapshot_id,
            reused=reused,
            tagged=tagged,
            at=self.run.clock.now().isoformat(),
        )

    def _poll_snapshots(
        self, pending: dict[str, _Backup]
    ) -> tuple[list[_Backup], list[InstanceResult]]:
        """Read the snapshots (100 ids a call); return the backups now complete, and failures."""
        if not pending:
            return [], []
        ids = [snapshot_id for b in pending.values() for snapshot_id in b.snapshot_ids]
        try:
            seen = {s.snapshot_id: s for s in self.run.gateway.describe_snapshots(self.region, ids)}
            self.accomplished.update(i for i, s in seen.items() if s.status == "accomplished")
        except EcsApiError as error:
            failed = [
                _result(b.decision, Outcome.FAILED, "not released: snapshots not read", error)
                for b in pending.values()
            ]
            failed = [replace(r, snapshot_ids=pending[r.instance_id].snapshot_ids) for r in failed]
            pending.clear()
            return [], failed
        complete: list[_Backup] = []
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
                    _result(
                        backup.decision,
                        Outcome.FAILED,
                        "not released",
                        broken,
                        backup.snapshot_ids,
                    )
                )
            elif all(s is not None and s.status == "accomplished" for s in states):
                complete.append(pending.pop(instance_id))
        return complete, results

    def _fresh_after_snapshots(
        self, complete: Sequence[_Backup]
    ) -> tuple[list[_Ready], list[InstanceResult]]:
        """The instances whose snapshots are done, read again, with their disks listed again."""
        if not complete:
            return [], []
        ready, unread = self._fresh([b.decision for b in complete])
        by_id = {b.decision.instance_id: b for b in complete}
        failures = [replace(r, snapshot_ids=by_id[r.instance_id].snapshot_ids) for r in unread]

        def with_disks(item: _Ready) -> _Ready | InstanceResult:
            backup = by_id[item.decision.instance_id]
            if item.fresh is None:
                return replace(item, backup=backup)
            try:
                disks = self.run.gateway.describe_disks(self.region, item.decision.instance_id)
            except EcsApiError as error:
                return _result(
                    item.decision,
                    Outcome.FAILED,
                    "not released: disks not listed again",
                    error,
                    backup.snapshot_ids,
                )
            backup.needs_disks = any(disk.disk_id not in backup.snapshot_of for disk in disks)
            return replace(item, backup=backup)

        checked: list[_Ready] = []
        for item in self.pool.map(with_disks, ready):
            if isinstance(item, _Ready):
                checked.append(item)
            else:
                failures.append(item)
        return checked, failures

    # --- auto-release --------------------------------------------------------------------------

    def modify(self, decisions: Sequence[Decision]) -> list[InstanceResult]:
        """Set or cancel auto-release times: each chunk of 100 re-read first, then one call each.

        ModifyInstanceAutoReleaseTime has no batch form, so the calls run in parallel.
        """
        results: list[InstanceResult] = []
        to_send: list[Decision] = []
        for kept, send in self.pool.map(self._recheck_modifications, _chunks(decisions)):
            results.extend(self.reports.final(kept))
            to_send.extend(send)
        results.extend(
            self._in_parallel(
                [[d] for d in to_send], lambda batch: [self._modify_one(batch[0])], final=True
            )
        )
        return results

    def _recheck_modifications(
        self, batch: Sequence[Decision]
    ) -> tuple[list[InstanceResult], list[Decision]]:
        """The decisions as the fresh read has them: results for those kept, and those to send."""
        if self._halted():
            return self._not_done(batch, "not started"), []
        what = "auto-release time not changed"
        rechecked, kept = self._recheck(
            batch,
            what,
            gone=lambda d: _result(d, Outcome.SKIPPED, "the instance no longer exists"),
        )
        # The owner's last word: the tag (or a keep signal) as it is now decides, but the
        # re-check only narrows: a planned cancellation that has become a release time (a keep
        # signal lifted meanwhile) is left to the next run. The blast-radius cap counted it as a
        # cancellation, and a run refused by the cap carries out only those.
        send = [
            now for d, now in rechecked if now.changes and (d.destructive or not now.destructive)
        ]
        kept += [_changed(d, now, what) for d, now in rechecked if not now.changes]
        kept += [
            _result(
                d,
                Outcome.SKIPPED,
                f"{what}: changed since the run read it, to {now.reason}; the cancellation "
                "planned is not turned into a release time (the next run decides)",
            )
            for d, now in rechecked
            if now.changes and now.destructive and not d.destructive
        ]
        return kept, send

    def _modify_one(self, decision: Decision) -> InstanceResult:
        wanted = decision.release_at
        clock = self.run.clock

        def release_at() -> datetime | None:
            # Computed as each attempt is sent: a call delayed by retries must not ask for a
            # minute that has become too soon for ECS.
            if wanted is None:
                return None
            return release_time_when_sent(wanted, clock.now())

        try:
            sent = self.run.gateway.modify_auto_release_time(
                self.region, decision.instance_id, release_at
            )
        except EcsApiError as error:
            if error.code in GONE_CODES:
                return _result(decision, Outcome.SKIPPED, "the instance no longer exists")
            return _result(decision, Outcome.FAILED, "auto-release time not changed", error)
        if wanted is None:
            return _result(decision, Outcome.DONE, f"cancelled auto-release ({decision.reason})")
        reason = f"set auto-release ({decision.reason})"
        if sent is not None and sent != wanted:
            reason = f"{reason}; sent as {sent:%Y-%m-%dT%H:%MZ}, the earliest minute ECS allowed"
        return replace(_result(decision, Outcome.DONE, reason), release_at=sent if sent else wanted)


def _changed(before: Decision, now: Decision, what: str) -> InstanceResult:
    """The result for an instance the re-check kept: what it is now, and why."""
    return _result(before, Outcome.SKIPPED, f"{what}: changed since the run read it: {now.reason}")


def _release_refusal(
    before: Decision, fresh: Instance, now: Decision, backup: _Backup | None
) -> InstanceResult | None:
    """Why the fresh read forbids releasing now, as a result; None when it may go ahead."""
    ids = backup.snapshot_ids if backup else ()
    if fresh.status in STARTED_AGAIN and not (before.force and now.force):
        return _result(
            before,
            Outcome.SKIPPED,
            f"not released: it is {fresh.status} again (someone started it since it was read)",
            snapshot_ids=ids,
        )
    if now.action is not Action.RELEASE or not now.changes:
        return _result(before, Outcome.SKIPPED, f"not released: {now.reason}", snapshot_ids=ids)
    if before.snapshot is not None and fresh.start_time != before.snapshot.reuse_after:
        return _result(
            before,
            Outcome.SKIPPED,
            "not released: it was started again after its snapshots were planned, so they may "
            "miss later writes; a later run snapshots it again",
            snapshot_ids=ids,
        )
    if fresh.status not in ("Stopped", "Running"):
        return _result(
            before,
            Outcome.SKIPPED,
            f"not released: it is {fresh.status}",
            snapshot_ids=ids,
        )
    return None


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


def client_token(seed: str, operation: str, **parameters: object) -> str:
    """A ClientToken over every parameter sent (ASCII, 64 chars).

    The same for a retried invocation of the same event asking the same thing, so ECS answers
    with the first call's result; different as soon as any parameter differs, so a changed call
    never meets IdempotentParameterMismatch.
    """
    material = json.dumps([seed, operation, parameters], sort_keys=True, default=str)
    return hashlib.sha256(material.encode()).hexdigest()[:64]
