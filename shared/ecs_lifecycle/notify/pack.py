"""Packing: a notification's pieces split into messages that each fit a service's size budget.

Long lists go into several messages, in order, up to the service's message count; what is left
over is cut with "and N more" and returned, so the channel can list it in full in the log.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from ecs_lifecycle.notify.message import Entry, Notification, owner_entries
from ecs_lifecycle.notify.render import Style, cut_line, head, instance_lines, owner_heading


@dataclass(frozen=True, slots=True)
class Limits:
    """A service's size limits, as this module spends them."""

    budget: int  # per message, in `size` units (bytes of text, or Slack blocks)
    max_messages: int  # per notification; more is cut with "and N more"
    size: Callable[[str], int]
    clip: Callable[[str, int], str]  # one piece, to at most that many `size` units


def utf8_size(text: str) -> int:
    # JSON escapes newlines and quotes as two bytes: count the escaped form, plus a separator.
    return len(json.dumps(text, ensure_ascii=False).encode()) - 1


def clip_bytes(text: str, limit: int) -> str:
    if utf8_size(text) <= limit:
        return text
    marker = " [cut]"
    while text and utf8_size(text + marker) > limit:
        text = text[: max(len(text) - max(len(text) // 8, 1), 0)]
    return text + marker


def text_limits(budget: int, max_messages: int) -> Limits:
    return Limits(budget, max_messages, size=utf8_size, clip=clip_bytes)


@dataclass(frozen=True, slots=True)
class Packed:
    """A notification as pieces of messages, in order, and the instances left out."""

    messages: list[list[str]]
    left_out: list[Entry]


def pack(notification: Notification, style: Style, limits: Limits) -> Packed:
    """Split the per-owner list into messages that each fit the budget, then cut the rest.

    Every message repeats the header (with its part number) and the owner heading of the
    instance it starts with. Room is kept in every message for the "and N more" line, so the
    last one kept can always say how many were left out.
    """
    entries = owner_entries(notification.summary)
    head_cost = sum(limits.size(p) for p in head(notification, style, 99, 99))
    room = limits.budget - head_cost - limits.size(cut_line(10**6))
    if room <= 0:
        raise ValueError("a message budget smaller than its header")  # a bug in the limits
    bodies: list[list[str]] = [[]]
    shown: list[list[Entry]] = [[]]
    used = 0
    owner: str | None = None
    for entry in entries:
        item = limits.clip(instance_lines(entry, notification.keep, style), room // 2)
        heading = owner_heading(entry.owner_group, style, continued=entry.owner_group == owner)
        pieces = [item] if entry.owner_group == owner and bodies[-1] else [heading, item]
        cost = sum(limits.size(piece) for piece in pieces)
        if bodies[-1] and used + cost > room:
            bodies.append([])
            shown.append([])
            pieces = [heading, item]
            cost = sum(limits.size(piece) for piece in pieces)
            used = 0
        bodies[-1].extend(pieces)
        shown[-1].append(entry)
        used += cost
        owner = entry.owner_group
    kept = bodies[: limits.max_messages]
    left_out = [entry for group in shown[limits.max_messages :] for entry in group]
    parts = len(kept)
    messages = [
        head(notification, style, index + 1, parts) + body for index, body in enumerate(kept)
    ]
    if left_out:
        messages[-1].append(cut_line(len(left_out)))
    return Packed(messages, left_out)
