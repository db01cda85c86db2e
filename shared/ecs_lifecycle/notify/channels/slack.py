"""Slack incoming webhook: a header block and mrkdwn sections, the text as its fallback."""

from __future__ import annotations

from typing import Any, Final

from ecs_lifecycle.notify.http_channel import HttpChannel, Payloads
from ecs_lifecycle.notify.message import Notification
from ecs_lifecycle.notify.pack import Limits, pack
from ecs_lifecycle.notify.render import Style, clip_chars, plain
from ecs_lifecycle.notify.transport import Rate
from ecs_lifecycle.notify_settings import ChannelKind

_SLACK: Final = Style(
    bold=lambda text: f"*{text}*", code=lambda text: f"`{text}`", title=plain, separator="\n"
)


_SLACK_SECTION_CHARS: Final = 3000
_SLACK_HEADER_CHARS: Final = 150


class SlackChannel(HttpChannel):
    """A Slack incoming webhook: `text` (the notification's fallback) and `blocks`."""

    kind = ChannelKind.SLACK
    style = _SLACK
    # A message holds at most 50 blocks, a section's text at most 3,000 characters.
    limits = Limits(budget=50, max_messages=5, size=lambda _piece: 1, clip=lambda text, _room: text)
    # UNCONFIRMED: Slack documents truncating a message's text at 40,000 characters, and long
    # messages are reported cut near 13,000; a whole body of 12,000 bytes stays under both.
    max_body_bytes = 12_000
    rates = (Rate(1, 1.0),)  # about one message a second per webhook

    def _payloads(self, notification: Notification, limits: Limits) -> Payloads:
        packed = pack(notification, self.style, limits)
        payloads = []
        for pieces in packed.messages:
            title, rest = pieces[0], pieces[1:]
            blocks: list[dict[str, Any]] = [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": clip_chars(title, _SLACK_HEADER_CHARS)},
                }
            ]
            blocks.extend(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": clip_chars(piece, _SLACK_SECTION_CHARS)},
                }
                for piece in rest
            )
            payloads.append({"text": title, "blocks": blocks})
        return Payloads(payloads, packed.left_out)
