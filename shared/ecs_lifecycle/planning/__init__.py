"""The decisions: pure functions from (instances, policy, now) to one Decision per instance.

Nothing here reads the clock, the environment or the network, so every rule that keeps the wrong
instance alive is testable as a table. The executor carries the decisions out; a dry run reports
them unchanged. The rooms:

- `keeps`: the policy and the keep signals (protect tag, lock, deletion protection, keep-until),
  and the blast-radius cap;
- `release_time`: the release-time rule every function's planning starts from (lifetime, minimum
  notice and its anchor, keep-until, an ECS time the tool set);
- `stop`, `release`, `auto_release`: each function's rules, from that one reading;
- `reasons`: how moments, spans and skipped decisions are said.
"""

from __future__ import annotations

from ecs_lifecycle.planning.auto_release import (
    LEAD_MARGIN,
    MAX_LEAD,
    MIN_LEAD,
    SEND_MARGIN,
    decide_auto_release,
    earliest_release_time,
    latest_release_time,
    plan_auto_release,
    release_time_when_sent,
    resolve_manual_time,
)
from ecs_lifecycle.planning.keeps import (
    NO_KEEP,
    KeepUntil,
    Policy,
    check_blast_radius,
    keep_reason,
    keep_until,
    lenient_tags,
    lock_reason,
    near_miss_tags,
    parse_keep_until,
    protection_reason,
)
from ecs_lifecycle.planning.reasons import show_in_zone
from ecs_lifecycle.planning.release import (
    MAX_SNAPSHOT_TAGS,
    StoppedFor,
    decide_release,
    plan_release,
    snapshot_tags,
    snapshot_wanted,
    stopped_for_keeps,
)
from ecs_lifecycle.planning.release_time import (
    CANCEL_WORDS,
    EVENT_CLOCK_SKEW,
    NOTICE_EVENT_NAMES,
    Anchor,
    Lifetime,
    ReleaseTime,
    anchor_needed,
    release_time,
    reported_writes,
    tag_release_time,
)
from ecs_lifecycle.planning.stop import decide_stop, plan_stop

__all__ = [
    "CANCEL_WORDS",
    "EVENT_CLOCK_SKEW",
    "LEAD_MARGIN",
    "MAX_LEAD",
    "MAX_SNAPSHOT_TAGS",
    "MIN_LEAD",
    "NOTICE_EVENT_NAMES",
    "NO_KEEP",
    "SEND_MARGIN",
    "Anchor",
    "KeepUntil",
    "Lifetime",
    "Policy",
    "ReleaseTime",
    "StoppedFor",
    "anchor_needed",
    "check_blast_radius",
    "decide_auto_release",
    "decide_release",
    "decide_stop",
    "earliest_release_time",
    "keep_reason",
    "keep_until",
    "latest_release_time",
    "lenient_tags",
    "lock_reason",
    "near_miss_tags",
    "parse_keep_until",
    "plan_auto_release",
    "plan_release",
    "plan_stop",
    "protection_reason",
    "release_time",
    "release_time_when_sent",
    "reported_writes",
    "resolve_manual_time",
    "show_in_zone",
    "snapshot_tags",
    "snapshot_wanted",
    "stopped_for_keeps",
    "tag_release_time",
]
