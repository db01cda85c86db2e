"""The planner's policy for a run: the one place the settings and a request become its rules.

It sits with the rules, below the run and the act layers, because both the handler's decisions
and the digest's due times (notices.py) must read the same policy.
"""

from __future__ import annotations

from ecs_lifecycle.model import StopRecords, TagWrites
from ecs_lifecycle.planning import Policy
from ecs_lifecycle.settings import RunRequest


def policy_for(
    request: RunRequest,
    stop_records: StopRecords | None = None,
    tag_writes: TagWrites | None = None,
) -> Policy:
    """The planner's policy for this request: the one place settings become its rules (the
    handler's decisions and the digest's due times read the same)."""
    settings = request.settings
    return Policy(
        protect_tag=settings.protect_tag,
        auto_release_tag=settings.auto_release_tag,
        force=request.force,
        snapshot=request.snapshot,
        snapshot_tag=settings.snapshot_tag,
        override_lifetime=request.override_lifetime,
        keep_tag=settings.keep_tag,
        time_zone=settings.time_zone,
        max_keep_days=settings.max_keep_days,
        min_notice=settings.min_notice,
        horizon=settings.auto_release_horizon,
        stopped_for=request.stopped_for,
        stop_records=stop_records,
        tag_writes=tag_writes,
    )
