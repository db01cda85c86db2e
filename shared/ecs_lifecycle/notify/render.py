"""How a notification reads: its title, its header, each owner's heading and each instance's lines.

Each service's markup is a `Style` (bold, code, title, separator); the shared ones live here, a
service's own next to its channel. Nothing here knows a size limit: pack.py spends those.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ecs_lifecycle.notify.message import NO_OWNER, Entry, KeepHint, MessageKind, Notification

_MAX_NOTES: Final = 5
_MAX_NOTE_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class Style:
    """How one service marks text up."""

    bold: Callable[[str], str]
    code: Callable[[str], str]
    title: Callable[[str], str]
    separator: str  # between pieces (lines or blocks of a message)


def plain(text: str) -> str:
    return text


MARKDOWN: Final = Style(
    bold=lambda text: f"**{text}**",
    code=lambda text: f"`{text}`",
    title=lambda text: f"### {text}",
    separator="\n",
)


TEXT: Final = Style(bold=plain, code=plain, title=plain, separator="\n")


_ACTION_WORDS: Final = {
    "stop": "stop",
    "release": "release",
    "set-auto-release": "set auto-release",
    "cancel-auto-release": "cancel auto-release",
    "none": "no action",
}


def message_title(notification: Notification, part: int, parts: int) -> str:
    summary = notification.summary
    title = f"ecs-lifecycle {notification.kind.value}: {summary.get('function', '?')}"
    if notification.when:
        title += f" {notification.when}"
    if summary.get("dry_run") and notification.kind is MessageKind.REPORT:
        title += " (dry run)"
    if parts > 1:
        title += f" ({part}/{parts})"
    return title


def head(notification: Notification, style: Style, part: int, parts: int) -> list[str]:
    summary = notification.summary
    counts = summary.get("counts") or {}
    regions = ", ".join(str(region) for region in summary.get("regions", []) or []) or "-"
    pieces = [
        style.title(message_title(notification, part, parts)),
        f"trigger {summary.get('trigger', '?')}; regions {regions}",
        "; ".join(f"{name} {count}" for name, count in counts.items()) or "no instances",
    ]
    notes = [str(note) for note in summary.get("notes", []) or []]
    pieces.extend(f"note: {clip_chars(note, _MAX_NOTE_CHARS)}" for note in notes[:_MAX_NOTES])
    if len(notes) > _MAX_NOTES:
        pieces.append(f"and {len(notes) - _MAX_NOTES} more notes (in the result)")
    return pieces


def owner_heading(owner: str, style: Style, *, continued: bool) -> str:
    heading = "No owner" if owner == NO_OWNER else f"Owner: {owner}"
    return style.bold(heading + (" (continued)" if continued else ""))


def instance_lines(entry: Entry, keep: KeepHint | None, style: Style) -> str:
    where = f"{entry.instance_id}, {entry.region}" if entry.region else entry.instance_id
    who = f"{style.bold(entry.name)} ({where})" if entry.name else where
    action = _ACTION_WORDS.get(entry.action, entry.action)
    lines = [f"- {who}: {action}, {entry.outcome or '?'}"]
    if entry.reason:
        lines.append(f"  {entry.reason}")
    if entry.error_code or entry.request_id:
        lines.append(f"  error {entry.error_code or '?'}, request id {entry.request_id or '?'}")
    if entry.release_at and entry.action == "release":
        # stopped_for's due time: this function releases it then; ECS has no time set.
        lines.append(f"  released by this function from {entry.release_at} (stopped_for)")
    elif entry.release_at and entry.action == "none":
        # A lifetime due beyond AUTO_RELEASE_HORIZON: said, ECS's time not yet written.
        lines.append(
            f"  due {entry.release_at}: ECS's time is written within the horizon of it while "
            "it stays in the fleet"
        )
    elif entry.release_at:
        lines.append(f"  ECS auto-releases it at {entry.release_at}")
    if entry.snapshot_ids:
        lines.append(f"  snapshots: {', '.join(entry.snapshot_ids)}")
    if keep is not None and entry.keepable():
        console = keep.console_path(entry.region, entry.instance_id)
        tag = style.code(f"{keep.tag_key}={keep.value}")
        lines.append(f"  keep it: tag {tag} (in the {console}), or run:")
        lines.append(f"  {style.code(keep.command(entry.region, entry.instance_id))}")
    return style.separator.join(lines)


def cut_line(left_out: int) -> str:
    return f"and {left_out} more (the full list is in the function's log)"


def clip_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 6] + " [cut]"
