"""What a notification is: its kind, the run's summary, and how an owner keeps an instance.

`Notification` is what callers build; `Entry` is one instance of the summary as far as a message
needs it, and `owner_entries` lists them grouped per owner, the order every channel shows.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationError


class MessageKind(str, Enum):
    """What a notification is: it names the message's header and the CloudEvents type."""

    NOTICE = "notice"  # before a destructive run: what it will do, and how to step out
    REPORT = "report"  # after a run: what it did
    DIGEST = "digest"  # what ECS itself will auto-release soon


NO_OWNER: Final = "no owner"

# Where a person edits tags by hand; {instance_id} and {region} are filled in.
CONSOLE_TAG_EDITOR: Final = "ECS console, region {region}: Instances, {instance_id}, Tags"

# Actions whose instance is still there afterwards, and could still be kept.
_KEEPABLE_ACTIONS: Final = frozenset({"stop", "release", "set-auto-release"})


@dataclass(frozen=True, slots=True)
class KeepHint:
    """How an owner keeps an instance: the keep-until tag, with a value ready to use.

    The tag's meaning (its key setting, its value's forms) belongs to the planner; the caller
    passes the key in use and a value that keeps the instance long enough (e.g. the end of
    tomorrow in the fleet's time zone).
    """

    tag_key: str
    value: str
    console: str = CONSOLE_TAG_EDITOR

    def command(self, region: str, instance_id: str) -> str:
        """The aliyun CLI command that sets the tag on one instance, quoted for a shell."""
        words = [
            "aliyun", "ecs", "TagResources",
            "--RegionId", region,
            "--ResourceType", "instance",
            "--ResourceId.1", instance_id,
            "--Tag.1.Key", self.tag_key,
            "--Tag.1.Value", self.value,
        ]  # fmt: skip
        return " ".join(shlex.quote(word) for word in words)

    def console_path(self, region: str, instance_id: str) -> str:
        return self.console.format(region=region, instance_id=instance_id)


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell people: its kind, the run's summary, and how to keep an instance."""

    kind: MessageKind
    summary: Mapping[str, Any]
    keep: KeepHint | None = None
    # When it happens, as a phrase for the header: "at 2026-12-02 02:00 +08:00", "within 24h".
    when: str | None = None


class Entry(BaseModel):
    """One instance of a summary, as far as a message needs it; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instance_id: str = "(unknown id)"
    region: str = ""
    action: str = "none"
    outcome: str = ""
    reason: str = ""
    owner: str | None = None
    name: str | None = None
    error_code: str | None = None
    request_id: str | None = None
    release_at: str | None = None
    snapshot_ids: list[str] = []

    @property
    def owner_group(self) -> str:
        return (self.owner or "").strip() or NO_OWNER

    def keepable(self) -> bool:
        """Whether a keep line helps: the instance is still there and may still be acted on.

        A release skipped only for now (`release_at` set: stopped_for lets it go ahead then) is
        at risk too.
        """
        if self.action not in _KEEPABLE_ACTIONS:
            return False
        if self.outcome == "skipped":
            return self.action == "release" and self.release_at is not None
        return not (self.action == "release" and self.outcome == "done")

    def brief(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "region": self.region,
            "owner": self.owner_group,
            "action": self.action,
            "outcome": self.outcome,
        }


def owner_entries(summary: Mapping[str, Any]) -> list[Entry]:
    """The summary's instances, grouped per owner (alphabetically, "no owner" last), in order."""
    entries: list[Entry] = []
    for raw in summary.get("instances", []) or []:
        try:
            entries.append(Entry.model_validate(raw))
        except ValidationError:
            # A malformed entry still counts: it is listed as unknown, never dropped silently.
            entries.append(Entry())
    return sorted(entries, key=lambda e: (e.owner_group == NO_OWNER, e.owner_group))
