"""Sending one notification to every channel within one budget, and what each channel did.

`send_all` never raises, so a notification that cannot be delivered never blocks or undoes the
ECS work; what the deadline cut is an outcome (`out_of_time`) in the run's result and its log.
`require_delivered` turns a failed notice into its run's failure.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.errors import EcsLifecycleError
from ecs_lifecycle.notify.channel import Channel, NotificationError
from ecs_lifecycle.notify.message import Notification
from ecs_lifecycle.notify.transport import OUT_OF_TIME, Budget


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """One channel's part in a run's result: delivered or not, and why not.

    `messages`: those delivered; `unsent`: those of this notification not delivered (the one
    that failed and any after it); `out_of_time`: the run's time budget ran out first.
    """

    channel: str
    delivered: bool
    messages: int = 0
    left_out: int = 0
    error: str | None = None
    unsent: int = 0
    out_of_time: bool = False

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "channel": self.channel,
            "delivered": self.delivered,
            "messages": self.messages,
        }
        if self.left_out:
            entry["left_out"] = self.left_out
        if self.error is not None:
            entry["error"] = self.error
        if self.out_of_time:
            entry["out_of_time"] = True
            if self.unsent:
                entry["unsent"] = self.unsent
        return entry


class NotificationUndeliveredError(EcsLifecycleError):
    """A notice did not reach every channel: its run fails, so FC shows and retries it."""

    def __init__(self, failures: Sequence[DeliveryOutcome]) -> None:
        self.failures = tuple(failures)
        listed = "; ".join(f"{outcome.channel}: {outcome.error}" for outcome in failures)
        super().__init__(f"{len(failures)} notification channel(s) failed: {listed}")


# After the budget, how long `send_all` still waits for a channel to say how it ended: its
# requests are cut at the budget, so this only covers the thread's last steps.
_JOIN_GRACE_SECONDS: Final = 0.2


def send_all(
    channels: Sequence[Channel], notification: Notification, budget: Budget | None = None
) -> tuple[DeliveryOutcome, ...]:
    """Send `notification` to every channel; never raises, so the ECS work always stands.

    With a bounded `budget` the channels are sent to in parallel, all within it: a channel
    that has not finished when it ends (a DNS lookup that hangs, say) is reported as not
    delivered, out of time, and nothing of it is sent later. Each failure is one log line and
    one outcome; a notice run then calls `require_delivered`, a report only records the
    outcomes in its result.
    """
    if budget is None or not budget.bounded:
        outcomes = [_send_one(channel, notification, budget) for channel in channels]
    else:
        outcomes = _send_parallel(channels, notification, budget)
    for outcome in outcomes:
        if not outcome.delivered:
            extra: dict[str, Any] = {}
            if outcome.messages:
                extra["delivered_messages"] = outcome.messages
            if outcome.out_of_time:
                extra.update(out_of_time=True, unsent=outcome.unsent)
            log_line(
                "notification_failed",
                channel=outcome.channel,
                kind=notification.kind.value,
                error=outcome.error,
                **extra,
            )
    return tuple(outcomes)


def _send_parallel(
    channels: Sequence[Channel], notification: Notification, budget: Budget
) -> list[DeliveryOutcome]:
    results: list[DeliveryOutcome | None] = [None] * len(channels)

    def run(index: int, channel: Channel) -> None:
        results[index] = _send_one(channel, notification, budget)

    threads = [
        threading.Thread(target=run, args=(index, channel), daemon=True, name=channel.label)
        for index, channel in enumerate(channels)
    ]
    for thread in threads:
        thread.start()
    # One end for all of them: the grace is spent once, not once per channel.
    ends = time.monotonic() + budget.remaining() + _JOIN_GRACE_SECONDS
    for thread in threads:
        thread.join(timeout=max(ends - time.monotonic(), 0.0))
    return [
        result
        if result is not None
        else DeliveryOutcome(channel.label, False, error=OUT_OF_TIME, unsent=1, out_of_time=True)
        for channel, result in zip(channels, results, strict=True)
    ]


def _send_one(
    channel: Channel, notification: Notification, budget: Budget | None
) -> DeliveryOutcome:
    try:
        # Without a budget, as a channel written before budgets existed is called.
        delivery = (
            channel.send(notification) if budget is None else channel.send(notification, budget)
        )
    except NotificationError as exc:
        return DeliveryOutcome(
            channel.label,
            delivered=False,
            messages=exc.delivered,
            error=exc.problem,
            unsent=exc.unsent,
            out_of_time=exc.out_of_time,
        )
    except Exception as exc:  # noqa: BLE001 - a notification never undoes the ECS work
        # Only the type: an unexpected error's text could quote a URL.
        problem = f"unexpected {type(exc).__name__}"
        return DeliveryOutcome(channel.label, delivered=False, error=problem)
    return DeliveryOutcome(
        channel.label, True, messages=delivery.messages, left_out=delivery.left_out
    )


def require_delivered(outcomes: Sequence[DeliveryOutcome]) -> None:
    """Raise when any channel failed: a notice nobody received must fail its run.

    Raises:
        NotificationUndeliveredError: naming each failed channel and its problem.
    """
    failures = [outcome for outcome in outcomes if not outcome.delivered]
    if failures:
        raise NotificationUndeliveredError(failures)
