"""The executor: carries the planner's decisions out, one `InstanceResult` per decision.

`execute(decisions, Execution(...))` returns the results in the decisions' order. Every
destructive call is preceded by a fresh read and the planner's rules applied again, so an
instance that gained a keep signal, left the selector, turned on deletion protection or started
again since the run read it is kept. One bad instance never stops the rest; nothing starts after
the deadline or a local run's Ctrl-C; each result is reported once, as soon as it is final, and a
waiting release reports its progress.

The rooms, each with one job:
    run.py           the whole run: dry-run answers, the regions in parallel, the steps in order
    context.py       what a run is given (Execution), a region's share (Region), halting
    reporting.py     each result handed on once; the release progress, spaced
    results.py       how a result is built; the codes and reasons; batches of 100
    tokens.py        the ClientToken of each changing call
    recheck.py       the fresh re-read and the planner applied again
    stops.py         StopInstances in batches: the stop function's, and the stop before a release
    release.py       the release pipeline, round by round, and its progress
    polling.py       the pipeline's polls: Stopped yet? snapshots accomplished?
    stages.py        the pipeline's records of an instance in flight
    routing.py       the re-check before a release: release, snapshot first, or keep
    snapshots.py     the snapshots before a release
    dry_run.py       a dry run's answer for a release with snapshots: the disks it would take
    delete.py        DeleteInstances in batches, split down to a culprit
    auto_release.py  setting and cancelling auto-release times
"""

from __future__ import annotations

from ecs_lifecycle.execute.context import PROGRESS_EVERY_SECONDS, Execution
from ecs_lifecycle.execute.results import GONE_CODES
from ecs_lifecycle.execute.run import execute
from ecs_lifecycle.execute.tokens import client_token

__all__ = ["GONE_CODES", "PROGRESS_EVERY_SECONDS", "Execution", "client_token", "execute"]
