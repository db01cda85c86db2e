"""The in-memory channel: the twin for tests of callers, which renders and keeps what it sent."""

from __future__ import annotations

from ecs_lifecycle.notify.channel import Delivery, NotificationError, log_cut
from ecs_lifecycle.notify.message import Notification
from ecs_lifecycle.notify.pack import pack, text_limits
from ecs_lifecycle.notify.render import TEXT
from ecs_lifecycle.notify.transport import OUT_OF_TIME, Budget


class InMemoryChannel:
    """The twin for tests of callers: renders like a text channel and keeps what it sent.

    `fail_with` makes every send fail with that problem, as an HTTP channel fails when its
    service refuses.
    """

    def __init__(
        self,
        label: str = "memory#1",
        *,
        fail_with: str | None = None,
        budget: int = 4_000,
        max_messages: int = 5,
    ) -> None:
        self._label = label
        self.fail_with = fail_with
        self._limits = text_limits(budget, max_messages)
        self.sent: list[Notification] = []
        self.messages: list[str] = []  # every message, as plain text, in the order sent

    @property
    def label(self) -> str:
        return self._label

    def __repr__(self) -> str:
        return f"InMemoryChannel({self._label})"

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        if budget is not None and budget.remaining() <= 0:
            raise NotificationError(self._label, OUT_OF_TIME, out_of_time=True)
        if self.fail_with is not None:
            raise NotificationError(self._label, self.fail_with)
        packed = pack(notification, TEXT, self._limits)
        if packed.left_out:
            log_cut(self._label, notification, packed.left_out)
        self.sent.append(notification)
        self.messages.extend(TEXT.separator.join(pieces) for pieces in packed.messages)
        return Delivery(self._label, len(packed.messages), len(packed.left_out))
