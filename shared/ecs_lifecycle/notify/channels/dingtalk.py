"""DingTalk custom robot: markdown, signed in the URL when NOTIFY_DINGTALK_SECRET is set."""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping
from typing import Any, Final

from ecs_lifecycle.notify.http_channel import HttpChannel, error_code_check
from ecs_lifecycle.notify.pack import text_limits
from ecs_lifecycle.notify.render import Style, plain
from ecs_lifecycle.notify.transport import Answer, Rate
from ecs_lifecycle.notify_settings import ChannelKind

# DingTalk's markdown joins single newlines, and shows backticks as typed: a copied command
# must not carry them.
_DINGTALK: Final = Style(
    bold=lambda text: f"**{text}**", code=plain, title=lambda text: f"### {text}", separator="\n\n"
)


class DingTalkChannel(HttpChannel):
    """A DingTalk custom robot: markdown; signed in the URL when NOTIFY_DINGTALK_SECRET is set."""

    kind = ChannelKind.DINGTALK
    style = _DINGTALK
    # A request body of at most 20,000 bytes (errcode 460101 beyond); 20 messages a minute per
    # robot (errcode 130101, then 10 minutes' ban): five per notification, paced across a run.
    limits = text_limits(19_000, 5)
    max_body_bytes = 20_000
    rates = (Rate(20, 60.0),)
    rate_limit_code = 130101

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}

    def _signed(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = self._config.url.get_secret_value()
        if self._config.secret is None:
            return url, payload
        secret = self._config.secret.get_secret_value()
        timestamp = str(int(self._clock.now().timestamp() * 1000))
        sign = dingtalk_sign(timestamp, secret)
        return _with_query(url, {"timestamp": timestamp, "sign": sign}), payload

    def _check(self, answer: Answer) -> None:
        super()._check(answer)
        error_code_check(answer, "DingTalk", "errcode", "errmsg", self.rate_limit_code)


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """DingTalk's `sign`: URL-encoded base64 of HMAC-SHA256(secret, "{timestamp}\\n{secret}")."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    # The values are already URL-encoded (DingTalk's sign is specified that way).
    joined = "&".join(f"{key}={value}" for key, value in extra.items())
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{joined}"
