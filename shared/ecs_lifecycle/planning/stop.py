"""The stop rules: stop Running instances that no keep signal keeps.

The keep signals come from the release-time rule (release_time.py), the same reading the
release and auto-release rules make, so a keep-until or a protect tag an owner was told about
keeps the instance from every function. A lifetime tag does not keep an instance from a stop:
stopping loses no data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ecs_lifecycle.model import Action, Decision, Instance
from ecs_lifecycle.planning.reasons import noted, nothing_to_do, skip
from ecs_lifecycle.planning.release_time import ReleaseTime, release_time

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from ecs_lifecycle.planning.keeps import Policy


def plan_stop(instances: Iterable[Instance], policy: Policy, now: datetime) -> list[Decision]:
    """Stop Running instances; leave the rest, each with its reason."""
    return [decide_stop(instance, policy, now) for instance in instances]


def decide_stop(instance: Instance, policy: Policy, now: datetime) -> Decision:
    """One instance's stop decision (also re-applied to a fresh read before a late stop)."""
    rule = release_time(instance, policy, now)
    return noted(_decide_stop(instance, rule), rule.keep.note)


def _decide_stop(instance: Instance, rule: ReleaseTime) -> Decision:
    if rule.protected:
        return skip(instance, Action.STOP, rule.protected)
    if rule.keep.keeps:
        return skip(instance, Action.STOP, rule.keep.keeps)
    if instance.status == "Running":
        return Decision(instance.instance_id, instance.region, Action.STOP, "is Running")
    if instance.status in ("Stopping", "Stopped"):
        return nothing_to_do(instance, f"already stopped ({instance.status})")
    return skip(instance, Action.STOP, f"is {instance.status}; not stopped while it starts")
