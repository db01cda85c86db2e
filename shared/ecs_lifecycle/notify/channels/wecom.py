"""WeCom group robot: markdown content of at most 4,096 bytes."""

from __future__ import annotations

from typing import Any

from ecs_lifecycle.notify.http_channel import HttpChannel, error_code_check
from ecs_lifecycle.notify.pack import text_limits
from ecs_lifecycle.notify.render import MARKDOWN
from ecs_lifecycle.notify.transport import Answer, Rate
from ecs_lifecycle.notify_settings import ChannelKind


class WeComChannel(HttpChannel):
    """A WeCom group robot: markdown content of at most 4,096 bytes."""

    kind = ChannelKind.WECOM
    style = MARKDOWN
    limits = text_limits(4_000, 5)
    # markdown.content: at most 4,096 bytes of UTF-8 (errcode 40058 beyond). 20 messages a
    # minute per robot (errcode 45009 beyond).
    max_body_bytes = 4_096
    rates = (Rate(20, 60.0),)
    rate_limit_code = 45009

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}

    def _size(self, payload: dict[str, Any]) -> int:
        return len(str(payload["markdown"]["content"]).encode())

    def _check(self, answer: Answer) -> None:
        super()._check(answer)
        error_code_check(answer, "WeCom", "errcode", "errmsg", self.rate_limit_code)
