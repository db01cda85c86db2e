"""The release pipeline: each instance through stop -> Stopped -> snapshots -> re-check -> delete.

A pipeline per instance, with no barrier that lets one instance hold the others back: the stops
are sent (`stops.stop_for_release`), then each polling round moves on every instance that is
ready (`polling`), re-checks it on that read and releases it or starts its snapshots
(`routing.route`). Nothing starts after the deadline or a stop request: what still waits is
reported failed with that reason. While it waits, the progress goes to the run's board.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecs_lifecycle.execute.context import halted, in_parallel, not_done
from ecs_lifecycle.execute.polling import poll_snapshots, poll_stopping
from ecs_lifecycle.execute.recheck import fresh
from ecs_lifecycle.execute.results import RELEASED_GONE, chunks
from ecs_lifecycle.execute.routing import route
from ecs_lifecycle.execute.snapshots import fresh_after_snapshots
from ecs_lifecycle.execute.stages import Pipeline
from ecs_lifecycle.execute.stops import stop_for_release
from ecs_lifecycle.model import Outcome
from ecs_lifecycle.progress import ReleaseProgress

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ecs_lifecycle.execute.context import Region
    from ecs_lifecycle.execute.stages import Backup
    from ecs_lifecycle.model import Decision, InstanceResult


def release(region: Region, decisions: Sequence[Decision]) -> list[InstanceResult]:
    """Each instance through stop -> snapshots -> re-check -> release, as fast as it goes."""
    if not decisions:
        return []
    releases = _Releases(region, decisions)
    releases.start()
    rounds = 0
    while releases.pipeline:
        if not halted(region):
            region.run.clock.sleep(region.run.poll_interval)
        if halted(region):
            releases.halt()
            break
        rounds += 1
        releases.poll(rounds)
    return releases.results


class _Releases:
    """One region's releases in flight: the pipeline's stages and the counts of what ended."""

    def __init__(self, region: Region, decisions: Sequence[Decision]) -> None:
        self.region = region
        self.decisions = decisions
        self.pipeline = Pipeline()
        self.results: list[InstanceResult] = []
        self.ended = {outcome: 0 for outcome in Outcome}
        self.snapshots: set[str] = set()  # every snapshot id the pipeline started or reused
        self.accomplished: set[str] = set()  # snapshot ids seen accomplished
        self.stop_sent: set[str] = set()
        self.stopped = 0

    def finish(self, items: Iterable[InstanceResult]) -> None:
        """Report these results (final) and count them."""
        for done in self.region.reports.final(items):
            self.results.append(done)
            self.ended[done.outcome] += 1

    def wait_for(self, backups: dict[str, Backup]) -> None:
        """Instances routed to snapshots join the wait (with a new disk, back to it)."""
        self.pipeline.snapshotting.update(backups)
        self.snapshots.update(i for backup in backups.values() for i in backup.snapshot_ids)

    def start(self) -> None:
        """Send the stops, and route those that need none on a fresh read."""
        region, decisions = self.region, self.decisions
        self.pipeline.stopping.update((d.instance_id, d) for d in decisions if d.wait_for_stop)
        # The stop before a release is always graceful: a snapshot of a cleanly stopped instance
        # is consistent, and ForceStop is the stop function's option, not the release's.
        to_stop = [d for d in decisions if d.stop_first]
        stops = in_parallel(
            region, chunks(to_stop), lambda b: stop_for_release(region, b), final=False
        )
        stopping = {d.instance_id: d for d in to_stop}
        for stop_result in stops:
            if stop_result.outcome is Outcome.DONE and stop_result.reason != RELEASED_GONE:
                self.pipeline.stopping[stop_result.instance_id] = stopping[stop_result.instance_id]
                self.stop_sent.add(stop_result.instance_id)
            else:
                self.finish([stop_result])
        unread = [d for d in decisions if not d.stop_first and not d.wait_for_stop]
        ready, failures = fresh(region, unread)
        self.finish(failures)
        routed, backups = route(region, ready)
        self.finish(routed)
        self.wait_for(backups)

    def poll(self, rounds: int) -> None:
        """One polling round: move on what is Stopped or snapshotted, then report progress."""
        region, pipeline = self.region, self.pipeline
        seen_stopped, stop_results = poll_stopping(region, pipeline.stopping, rounds)
        self.stopped += sum(1 for item in seen_stopped if item.fresh is not None)
        snapshotted, snapshot_results = poll_snapshots(
            region, pipeline.snapshotting, self.accomplished
        )
        reread, reread_failures = fresh_after_snapshots(region, snapshotted)
        routed, backups = route(region, seen_stopped + reread)
        self.finish(stop_results + snapshot_results + reread_failures + routed)
        self.wait_for(backups)
        region.board.update(region.name, self.progress())

    def progress(self) -> ReleaseProgress:
        """Where the region's releases stand now."""
        return ReleaseProgress(
            at=self.region.run.clock.now(),
            instances=len(self.decisions),
            stopping=len(self.pipeline.stopping),
            stopped=self.stopped,
            snapshots=len(self.snapshots),
            snapshots_accomplished=len(self.snapshots & self.accomplished),
            released=self.ended[Outcome.DONE],
            kept=self.ended[Outcome.SKIPPED],
            failed=self.ended[Outcome.FAILED],
        )

    def halt(self) -> None:
        """The run halted: what still waits fails with the reason, saying how far it got."""
        region, pipeline = self.region, self.pipeline
        # What was sent a stop says so: the summary tells what got a StopInstances call.
        self.finish(
            not_done(
                region,
                [d for i, d in pipeline.stopping.items() if i in self.stop_sent],
                "StopInstances sent, not Stopped yet",
            )
        )
        self.finish(
            not_done(
                region,
                [d for i, d in pipeline.stopping.items() if i not in self.stop_sent],
                "not Stopped",
            )
        )
        self.finish(
            not_done(
                region,
                [b.decision for b in pipeline.snapshotting.values()],
                "snapshots not accomplished",
                pipeline.snapshotting,
            )
        )
