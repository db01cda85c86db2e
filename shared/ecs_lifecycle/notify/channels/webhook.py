"""Any HTTP endpoint (`webhook=`, e.g. an EventBridge HTTP event source): CloudEvents 1.0 JSON."""

from __future__ import annotations

import json
import uuid
from typing import Any, Final

from ecs_lifecycle.notify.http_channel import HttpChannel, Payloads
from ecs_lifecycle.notify.message import Notification, owner_entries
from ecs_lifecycle.notify.pack import Limits, text_limits
from ecs_lifecycle.notify.render import TEXT, cut_line
from ecs_lifecycle.notify_settings import ChannelKind

_EVENT_TYPE_PREFIX: Final = "ecs-lifecycle."
_EVENT_SOURCE: Final = "ecs-lifecycle"


class CloudEventsChannel(HttpChannel):
    """Any HTTP endpoint (an EventBridge HTTP event source): one CloudEvents 1.0 JSON each.

    `data` is the summary. A summary too large for one event is split: each event carries the
    summary with a slice of its instances, in order, and the extension attributes `part` and
    `parts`.
    """

    kind = ChannelKind.WEBHOOK
    style = TEXT
    limits = text_limits(60_000, 20)
    max_body_bytes = 64_000  # our own choice, under common event size limits
    content_type = "application/cloudevents+json; charset=utf-8"

    def _payloads(self, notification: Notification, limits: Limits) -> Payloads:
        summary = dict(notification.summary)
        instances = list(summary.get("instances", []) or [])
        frame = {**summary, "instances": []}
        # What is left for instances once the rest of the summary and the envelope are in.
        room = max(limits.budget - len(json.dumps(frame, default=str).encode()) - 1024, 1)
        slices: list[list[Any]] = [[]]
        used = 0
        for instance in instances:
            cost = len(json.dumps(instance, default=str).encode()) + 2
            if slices[-1] and used + cost > room:
                slices.append([])
                used = 0
            slices[-1].append(instance)
            used += cost
        kept = slices[: limits.max_messages]
        left_raw = [item for chunk in slices[limits.max_messages :] for item in chunk]
        left_out = owner_entries({"instances": left_raw})
        events = []
        for index, chunk in enumerate(kept):
            data = {**summary, "instances": chunk}
            if left_out and index == len(kept) - 1:
                data["notes"] = [*summary.get("notes", []), cut_line(len(left_out))]
            events.append(self._event(notification, data, index + 1, len(kept)))
        return Payloads(events, left_out)

    def _event(
        self, notification: Notification, data: dict[str, Any], part: int, parts: int
    ) -> dict[str, Any]:
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": f"{_EVENT_SOURCE}/{notification.summary.get('function', 'unknown')}",
            "type": _EVENT_TYPE_PREFIX + notification.kind.value,
            "time": self._clock.now().isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
        if parts > 1:
            event.update(part=part, parts=parts)
        return event
