"""What a channel is: the `Channel` Protocol, what a send returns, and how it fails.

A channel sends one notification as one or more messages, in order; `NotificationError` names
the channel (never its URL or secret) and how far it got.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.errors import EcsLifecycleError
from ecs_lifecycle.notify.message import Entry, Notification
from ecs_lifecycle.notify.transport import Budget


class NotificationError(EcsLifecycleError):
    """A channel could not deliver a notification. Names the channel, never its URL or secret."""

    def __init__(
        self,
        channel: str,
        problem: str,
        *,
        delivered: int = 0,
        unsent: int = 1,
        out_of_time: bool = False,
    ) -> None:
        self.channel = channel
        self.problem = problem
        self.delivered = delivered  # messages of this notification sent before the failure
        self.unsent = unsent  # messages of it not sent: the failed one and those after it
        self.out_of_time = out_of_time  # the notification's time budget ran out
        super().__init__(f"notification to {channel} failed: {problem}")


@dataclass(frozen=True, slots=True)
class Delivery:
    """What a channel sent: how many messages, and how many instances were cut for size."""

    channel: str
    messages: int
    left_out: int = 0


class Channel(Protocol):
    """Somewhere a notification goes: sends one notification, as one or more messages in order."""

    @property
    def label(self) -> str:
        """The channel's name for results and logs (`dingtalk#1`): never its URL."""
        ...

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        """Deliver every message of `notification`, in order, all of it within `budget`.

        Raises:
            NotificationError: a message could not be delivered (after bounded retries), or
                not before the budget ran out.
        """
        ...


def log_cut(channel: str, notification: Notification, left_out: Sequence[Entry]) -> None:
    log_line(
        "notification_cut",
        channel=channel,
        kind=notification.kind.value,
        left_out=[entry.brief() for entry in left_out],
    )
