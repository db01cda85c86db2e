"""What every webhook channel shares: render, fit, sign, POST, read the answer, retry, pace.

A service's channel (channels/) sets its kind, style, limits, body size and rates, and overrides
only what differs: its payload, its signature, its answer's error codes. Each request body is
measured as sent against the service's limit.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.clock import Clock, SystemClock
from ecs_lifecycle.notify.channel import Delivery, NotificationError, log_cut
from ecs_lifecycle.notify.message import Entry, Notification
from ecs_lifecycle.notify.pack import Limits, pack
from ecs_lifecycle.notify.render import Style, clip_chars, message_title
from ecs_lifecycle.notify.transport import (
    OUT_OF_TIME,
    Answer,
    Budget,
    ChannelRetry,
    OutOfTimeError,
    Pacer,
    Rate,
    RefusedError,
    TransientError,
    deliver,
    encoded,
    json_body,
    post,
)
from ecs_lifecycle.notify_settings import ChannelConfig, ChannelKind

_SHOWN_ANSWER_CHARS: Final = 200


class HttpChannel:
    """What every webhook service shares: render, sign, POST, read the answer, retry, pace."""

    kind: ClassVar[ChannelKind]
    style: ClassVar[Style]
    limits: ClassVar[Limits]
    # The most a request body may hold, in bytes, JSON envelope and title included.
    max_body_bytes: ClassVar[int]
    rates: ClassVar[tuple[Rate, ...]] = ()
    content_type: ClassVar[str] = "application/json; charset=utf-8"

    def __init__(
        self,
        config: ChannelConfig,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: ChannelRetry | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        if config.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} needs a {self.kind.value} channel")
        self._config = config
        self._clock = clock or SystemClock()
        self._sleep = sleep or time.sleep
        self._retry = retry or ChannelRetry()
        self._pacer = pacer or Pacer(self.rates)

    @property
    def label(self) -> str:
        return self._config.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        budget = budget or Budget.unbounded()
        packed = self._fitted(notification)
        if packed.left_out:
            log_cut(self.label, notification, packed.left_out)
        count = len(packed.messages)
        for index, payload in enumerate(packed.messages):
            try:
                self._paced(budget)
                self._deliver(payload, budget)
            except TransientError as exc:
                raise self._failure(
                    index, count, f"{exc.problem}, {self._retry.attempts} attempts"
                ) from None
            except RefusedError as exc:
                raise self._failure(index, count, exc.problem) from None
            except OutOfTimeError as exc:
                raise self._failure(index, count, exc.problem, out_of_time=True) from None
        log_line(
            "notification_sent",
            channel=self.label,
            kind=notification.kind.value,
            messages=count,
            left_out=len(packed.left_out),
        )
        return Delivery(self.label, count, len(packed.left_out))

    # Each service: its payloads (already split and cut), its signature, its answer.

    def _fitted(self, notification: Notification) -> Payloads:
        """The payloads, each whole request body within `max_body_bytes`.

        The packer budgets the text; the title, separators, JSON envelope and escapes come on
        top, so the bodies are measured as sent and the text budget shrunk until every one fits
        (a few rounds at most: each shrinks by at least the excess).
        """
        limits = self.limits
        for _ in range(8):
            packed = self._payloads(notification, limits)
            biggest = max((self._size(payload) for payload in packed.messages), default=0)
            if biggest <= self.max_body_bytes:
                return packed
            # The budget's units need not be bytes (Slack counts blocks): shrink in proportion.
            smaller = int(limits.budget * self.max_body_bytes / biggest * 0.97)
            limits = Limits(
                min(smaller, limits.budget - 1), limits.max_messages, limits.size, limits.clip
            )
        raise ValueError(f"{self.label}: no message fits {self.max_body_bytes} bytes")  # a bug

    def _size(self, payload: dict[str, Any]) -> int:
        """What the service limits, in bytes: by default the whole body as sent."""
        return len(encoded(payload))

    def _payloads(self, notification: Notification, limits: Limits) -> Payloads:
        packed = pack(notification, self.style, limits)
        parts = len(packed.messages)
        payloads = [
            self._payload(
                message_title(notification, index + 1, parts), self.style.separator.join(pieces)
            )
            for index, pieces in enumerate(packed.messages)
        ]
        return Payloads(payloads, packed.left_out)

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def _signed(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return self._config.url.get_secret_value(), payload

    def _check(self, answer: Answer) -> None:
        """Raise unless the answer means delivered. The default: any 2xx is."""
        if answer.status == 429 or answer.status >= 500:
            raise TransientError(f"HTTP {answer.status}", answer.retry_after)
        if not 200 <= answer.status < 300:
            raise RefusedError(f"HTTP {answer.status}: {self._shown(answer.body)}")

    def _paced(self, budget: Budget) -> None:
        """Wait for this robot's rate to allow one more message, within the budget."""
        if not self.rates:
            return
        wait = self._pacer.reserve(self._clock.now().timestamp(), budget.remaining())
        if wait is None:
            raise OutOfTimeError(f"{OUT_OF_TIME} (waiting for the robot's rate limit)")
        if wait > 0:
            self._sleep(wait)

    def _deliver(self, payload: dict[str, Any], budget: Budget) -> None:
        """Send one message, retrying what is transient; every attempt and wait within `budget`."""

        def attempt(timeout: float) -> None:
            # Signed again on each attempt: a signature is only good near its timestamp.
            url, signed = self._signed(payload)
            self._check(post(url, encoded(signed), self.content_type, timeout))

        deliver(attempt, self._retry, budget, self._sleep)

    def _failure(
        self, index: int, count: int, problem: str, *, out_of_time: bool = False
    ) -> NotificationError:
        where = f"message {index + 1} of {count}: " if count > 1 else ""
        return NotificationError(
            self.label,
            self._redacted(where + problem),
            delivered=index,
            unsent=count - index,
            out_of_time=out_of_time,
        )

    def _shown(self, text: str) -> str:
        return clip_chars(" ".join(text.split()), _SHOWN_ANSWER_CHARS) or "(empty answer)"

    def _redacted(self, text: str) -> str:
        """`text` without the URL, its token-like parts, or the secret (a service may echo them)."""
        url = self._config.url.get_secret_value()
        parts = urllib.parse.urlsplit(url)
        hidden = {url, parts.query, parts.path}
        hidden.update(value for _, value in urllib.parse.parse_qsl(parts.query))
        hidden.update(segment for segment in parts.path.split("/") if len(segment) >= 8)
        if self._config.secret is not None:
            hidden.add(self._config.secret.get_secret_value())
        for value in sorted((value for value in hidden if len(value) >= 4), key=len, reverse=True):
            text = text.replace(value, "***")
        return text


@dataclass(frozen=True, slots=True)
class Payloads:
    messages: list[dict[str, Any]]
    left_out: list[Entry]


def error_code_check(
    answer: Answer, service: str, code_key: str, message_key: str, rate_limited: int
) -> None:
    """DingTalk, WeCom, Feishu: HTTP 200 even on failure; the body's code says what happened.

    The service's rate-limit code (`rate_limited`) is worth another attempt; any other is final.
    """
    body = json_body(answer)
    if body is None:
        raise RefusedError(f"HTTP {answer.status} without {service}'s JSON answer")
    code = body.get(code_key, body.get("StatusCode"))  # Feishu's older answers: StatusCode
    if code != 0:
        message = body.get(message_key, body.get("StatusMessage", ""))
        problem = f"{code_key} {code}: {clip_chars(str(message), _SHOWN_ANSWER_CHARS)}"
        if code == rate_limited:
            raise TransientError(f"{problem} (rate limited)", rate_limited=True)
        raise RefusedError(problem)
