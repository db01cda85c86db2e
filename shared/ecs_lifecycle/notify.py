"""Notification channels: notices, reports and digests sent to the chat tools teams use.

Three parts, in this order below:

- Settings: `parse_notify_settings` reads NOTIFY_URLS, NOTIFY_DINGTALK_SECRET,
  NOTIFY_FEISHU_SECRET and NOTIFY_ON into a typed `NotifySettings`. Webhook URLs carry tokens and
  the signing secrets are secrets: they live in `SecretStr`, a channel is named by its kind and
  place in NOTIFY_URLS (`dingtalk#1`), and no error, log line or repr ever shows either.
- Rendering: a run's summary (the handler's result, plus `owner` and `name` per instance when
  known) becomes messages grouped per owner, each instance with a "how to keep it" line. Long
  lists are split into several messages, sent in order, up to a channel's message budget; what
  is left over is cut with "and N more" and listed in full in the log.
- Channels: the `Channel` Protocol (send one notification), one HTTP implementation per service,
  built as that service's documentation specifies (docs/notifications.md cites each), and
  `InMemoryChannel`, the twin for tests of callers. Transient failures (429, 5xx, timeouts,
  connection errors) are retried boundedly with tenacity; `send_all` never raises, so a
  notification that cannot be delivered never blocks or undoes the ECS work.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.client
import json
import shlex
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, ClassVar, Final, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.clock import Clock, SystemClock
from ecs_lifecycle.errors import EcsLifecycleError
from ecs_lifecycle.notify_settings import (
    ChannelConfig,
    ChannelKind,
    NotifySettings,
)

# --- rendering ------------------------------------------------------------------------------------


class MessageKind(str, Enum):
    """What a notification is: it names the message's header and the CloudEvents type."""

    NOTICE = "notice"  # before a destructive run: what it will do, and how to step out
    REPORT = "report"  # after a run: what it did
    DIGEST = "digest"  # what ECS itself will auto-release soon


NO_OWNER: Final = "no owner"
# Where a person edits tags by hand; {instance_id} and {region} are filled in.
CONSOLE_TAG_EDITOR: Final = "ECS console, region {region}: Instances, {instance_id}, Tags"
# Actions whose instance is still there afterwards, and could still be kept.
_KEEPABLE_ACTIONS: Final = frozenset({"stop", "release", "set-auto-release"})
_MAX_NOTES: Final = 5
_MAX_NOTE_CHARS: Final = 300


@dataclass(frozen=True, slots=True)
class KeepHint:
    """How an owner keeps an instance: the keep-until tag, with a value ready to use.

    The tag's meaning (its key setting, its value's forms) belongs to the planner; the caller
    passes the key in use and a value that keeps the instance long enough (e.g. the end of
    tomorrow in the fleet's time zone).
    """

    tag_key: str
    value: str
    console: str = CONSOLE_TAG_EDITOR

    def command(self, region: str, instance_id: str) -> str:
        """The aliyun CLI command that sets the tag on one instance, quoted for a shell."""
        words = [
            "aliyun", "ecs", "TagResources",
            "--RegionId", region,
            "--ResourceType", "instance",
            "--ResourceId.1", instance_id,
            "--Tag.1.Key", self.tag_key,
            "--Tag.1.Value", self.value,
        ]  # fmt: skip
        return " ".join(shlex.quote(word) for word in words)

    def console_path(self, region: str, instance_id: str) -> str:
        return self.console.format(region=region, instance_id=instance_id)


@dataclass(frozen=True, slots=True)
class Notification:
    """One thing to tell people: its kind, the run's summary, and how to keep an instance."""

    kind: MessageKind
    summary: Mapping[str, Any]
    keep: KeepHint | None = None
    # When it happens, as a phrase for the header: "at 2026-12-02 02:00 +08:00", "within 24h".
    when: str | None = None


class _Entry(BaseModel):
    """One instance of a summary, as far as a message needs it; unknown keys are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    instance_id: str = "(unknown id)"
    region: str = ""
    action: str = "none"
    outcome: str = ""
    reason: str = ""
    owner: str | None = None
    name: str | None = None
    error_code: str | None = None
    request_id: str | None = None
    release_at: str | None = None
    snapshot_ids: list[str] = []

    @property
    def owner_group(self) -> str:
        return (self.owner or "").strip() or NO_OWNER

    def keepable(self) -> bool:
        """Whether a keep line helps: the instance is still there and may still be acted on.

        A release skipped only for now (`release_at` set: stopped_for lets it go ahead then) is
        at risk too.
        """
        if self.action not in _KEEPABLE_ACTIONS:
            return False
        if self.outcome == "skipped":
            return self.action == "release" and self.release_at is not None
        return not (self.action == "release" and self.outcome == "done")

    def brief(self) -> dict[str, Any]:
        return {
            "instance_id": self.instance_id,
            "region": self.region,
            "owner": self.owner_group,
            "action": self.action,
            "outcome": self.outcome,
        }


def _entries(summary: Mapping[str, Any]) -> list[_Entry]:
    """The summary's instances, grouped per owner (alphabetically, "no owner" last), in order."""
    entries: list[_Entry] = []
    for raw in summary.get("instances", []) or []:
        try:
            entries.append(_Entry.model_validate(raw))
        except ValidationError:
            # A malformed entry still counts: it is listed as unknown, never dropped silently.
            entries.append(_Entry())
    return sorted(entries, key=lambda e: (e.owner_group == NO_OWNER, e.owner_group))


@dataclass(frozen=True, slots=True)
class _Style:
    """How one service marks text up."""

    bold: Callable[[str], str]
    code: Callable[[str], str]
    title: Callable[[str], str]
    separator: str  # between pieces (lines or blocks of a message)


def _plain(text: str) -> str:
    return text


_MARKDOWN: Final = _Style(
    bold=lambda text: f"**{text}**",
    code=lambda text: f"`{text}`",
    title=lambda text: f"### {text}",
    separator="\n",
)
# DingTalk's markdown joins single newlines, and shows backticks as typed: a copied command
# must not carry them.
_DINGTALK: Final = _Style(
    bold=lambda text: f"**{text}**", code=_plain, title=lambda text: f"### {text}", separator="\n\n"
)
_SLACK: Final = _Style(
    bold=lambda text: f"*{text}*", code=lambda text: f"`{text}`", title=_plain, separator="\n"
)
_TEXT: Final = _Style(bold=_plain, code=_plain, title=_plain, separator="\n")

_ACTION_WORDS: Final = {
    "stop": "stop",
    "release": "release",
    "set-auto-release": "set auto-release",
    "cancel-auto-release": "cancel auto-release",
    "none": "no action",
}


def _title(notification: Notification, part: int, parts: int) -> str:
    summary = notification.summary
    title = f"ecs-lifecycle {notification.kind.value}: {summary.get('function', '?')}"
    if notification.when:
        title += f" {notification.when}"
    if summary.get("dry_run") and notification.kind is MessageKind.REPORT:
        title += " (dry run)"
    if parts > 1:
        title += f" ({part}/{parts})"
    return title


def _head(notification: Notification, style: _Style, part: int, parts: int) -> list[str]:
    summary = notification.summary
    counts = summary.get("counts") or {}
    regions = ", ".join(str(region) for region in summary.get("regions", []) or []) or "-"
    pieces = [
        style.title(_title(notification, part, parts)),
        f"trigger {summary.get('trigger', '?')}; regions {regions}",
        "; ".join(f"{name} {count}" for name, count in counts.items()) or "no instances",
    ]
    notes = [str(note) for note in summary.get("notes", []) or []]
    pieces.extend(f"note: {_clip_chars(note, _MAX_NOTE_CHARS)}" for note in notes[:_MAX_NOTES])
    if len(notes) > _MAX_NOTES:
        pieces.append(f"and {len(notes) - _MAX_NOTES} more notes (in the result)")
    return pieces


def _owner_heading(owner: str, style: _Style, *, continued: bool) -> str:
    heading = "No owner" if owner == NO_OWNER else f"Owner: {owner}"
    return style.bold(heading + (" (continued)" if continued else ""))


def _item(entry: _Entry, keep: KeepHint | None, style: _Style) -> str:
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


def _cut_line(left_out: int) -> str:
    return f"and {left_out} more (the full list is in the function's log)"


@dataclass(frozen=True, slots=True)
class _Limits:
    """A service's size limits, as this module spends them."""

    budget: int  # per message, in `size` units (bytes of text, or Slack blocks)
    max_messages: int  # per notification; more is cut with "and N more"
    size: Callable[[str], int]
    clip: Callable[[str, int], str]  # one piece, to at most that many `size` units


def _utf8_size(text: str) -> int:
    # JSON escapes newlines and quotes as two bytes: count the escaped form, plus a separator.
    return len(json.dumps(text, ensure_ascii=False).encode()) - 1


def _clip_bytes(text: str, limit: int) -> str:
    if _utf8_size(text) <= limit:
        return text
    marker = " [cut]"
    while text and _utf8_size(text + marker) > limit:
        text = text[: max(len(text) - max(len(text) // 8, 1), 0)]
    return text + marker


def _clip_chars(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 6] + " [cut]"


@dataclass(frozen=True, slots=True)
class _Packed:
    """A notification as pieces of messages, in order, and the instances left out."""

    messages: list[list[str]]
    left_out: list[_Entry]


def _pack(notification: Notification, style: _Style, limits: _Limits) -> _Packed:
    """Split the per-owner list into messages that each fit the budget, then cut the rest.

    Every message repeats the header (with its part number) and the owner heading of the
    instance it starts with. Room is kept in every message for the "and N more" line, so the
    last one kept can always say how many were left out.
    """
    entries = _entries(notification.summary)
    head_cost = sum(limits.size(p) for p in _head(notification, style, 99, 99))
    room = limits.budget - head_cost - limits.size(_cut_line(10**6))
    if room <= 0:
        raise ValueError("a message budget smaller than its header")  # a bug in the limits
    bodies: list[list[str]] = [[]]
    shown: list[list[_Entry]] = [[]]
    used = 0
    owner: str | None = None
    for entry in entries:
        item = limits.clip(_item(entry, notification.keep, style), room // 2)
        heading = _owner_heading(entry.owner_group, style, continued=entry.owner_group == owner)
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
        _head(notification, style, index + 1, parts) + body for index, body in enumerate(kept)
    ]
    if left_out:
        messages[-1].append(_cut_line(len(left_out)))
    return _Packed(messages, left_out)


# --- channels -------------------------------------------------------------------------------------


class NotificationError(EcsLifecycleError):
    """A channel could not deliver a notification. Names the channel, never its URL or secret."""

    def __init__(self, channel: str, problem: str, *, delivered: int = 0) -> None:
        self.channel = channel
        self.problem = problem
        self.delivered = delivered  # messages of this notification sent before the failure
        super().__init__(f"notification to {channel} failed: {problem}")


class NotificationUndeliveredError(EcsLifecycleError):
    """A notice did not reach every channel: its run fails, so FC shows and retries it."""

    def __init__(self, failures: Sequence[DeliveryOutcome]) -> None:
        self.failures = tuple(failures)
        listed = "; ".join(f"{outcome.channel}: {outcome.error}" for outcome in failures)
        super().__init__(f"{len(failures)} notification channel(s) failed: {listed}")


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

    def send(self, notification: Notification) -> Delivery:
        """Deliver every message of `notification`, in order.

        Raises:
            NotificationError: a message could not be delivered (after bounded retries).
        """
        ...


@dataclass(frozen=True, slots=True)
class ChannelRetry:
    """How hard a channel tries: attempts per message, waits doubling from `base_delay`.

    A 429's Retry-After sets the wait instead, up to `max_retry_after`. `timeout` bounds each
    request. Worst case per message: attempts x timeout plus the waits.
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: str
    retry_after: float | None = None


class _TransientError(Exception):
    """Worth another attempt: 429, 5xx, a timeout, a connection that failed."""

    def __init__(self, problem: str, retry_after: float | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after


class _RefusedError(Exception):
    """The service said no (a bad signature, a bad payload): another attempt will not help."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would follow a redirect of a POST as a GET without its body: a redirect is an
    # answer to report, not a place to go.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER: Final = urllib.request.build_opener(_NoRedirects())
_MAX_ANSWER_BYTES: Final = 4096
_SHOWN_ANSWER_CHARS: Final = 200


def _read(response: Any) -> str:
    data: bytes = response.read(_MAX_ANSWER_BYTES)
    return data.decode("utf-8", errors="replace")


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the usual backoff will do


def _post(url: str, body: bytes, content_type: str, timeout: float) -> _Answer:
    """POST `body`; an HTTP error status is an answer. Problems never quote the URL."""
    try:
        request = urllib.request.Request(  # noqa: S310 - parse_notify_settings checks the scheme
            url,
            data=body,
            method="POST",
            headers={"Content-Type": content_type, "User-Agent": "ecs-lifecycle"},
        )
    except ValueError as error:  # its text quotes the URL
        raise _RefusedError(f"the URL cannot be used ({type(error).__name__})") from None
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            return _Answer(response.status, _read(response))
    except urllib.error.HTTPError as error:
        with error:
            return _Answer(error.code, _read(error), _retry_after(error.headers))
    except TimeoutError:
        raise _TransientError(f"no answer within {timeout:g} s") from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise _TransientError(f"no answer within {timeout:g} s") from None
        # The reason's text can name the host; its type says enough.
        raise _TransientError(f"connection failed ({type(error.reason).__name__})") from None
    except (OSError, http.client.HTTPException) as error:
        raise _TransientError(f"connection failed ({type(error).__name__})") from None


def _json_body(answer: _Answer) -> Mapping[str, Any] | None:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class _HttpChannel:
    """What every webhook service shares: render, sign, POST, read the answer, retry."""

    kind: ClassVar[ChannelKind]
    style: ClassVar[_Style]
    limits: ClassVar[_Limits]
    content_type: ClassVar[str] = "application/json; charset=utf-8"

    def __init__(
        self,
        config: ChannelConfig,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] | None = None,
        retry: ChannelRetry | None = None,
    ) -> None:
        if config.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} needs a {self.kind.value} channel")
        self._config = config
        self._clock = clock or SystemClock()
        self._sleep = sleep or time.sleep
        self._retry = retry or ChannelRetry()

    @property
    def label(self) -> str:
        return self._config.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    def send(self, notification: Notification) -> Delivery:
        packed = self._payloads(notification)
        if packed.left_out:
            _log_cut(self.label, notification, packed.left_out)
        for index, payload in enumerate(packed.messages):
            try:
                self._deliver(payload)
            except _TransientError as exc:
                raise self._failure(
                    index, len(packed.messages), f"{exc.problem}, {self._retry.attempts} attempts"
                ) from None
            except _RefusedError as exc:
                raise self._failure(index, len(packed.messages), exc.problem) from None
        log_line(
            "notification_sent",
            channel=self.label,
            kind=notification.kind.value,
            messages=len(packed.messages),
            left_out=len(packed.left_out),
        )
        return Delivery(self.label, len(packed.messages), len(packed.left_out))

    # Each service: its payloads (already split and cut), its signature, its answer.

    def _payloads(self, notification: Notification) -> _Payloads:
        packed = _pack(notification, self.style, self.limits)
        parts = len(packed.messages)
        payloads = [
            self._payload(_title(notification, index + 1, parts), self.style.separator.join(pieces))
            for index, pieces in enumerate(packed.messages)
        ]
        return _Payloads(payloads, packed.left_out)

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        raise NotImplementedError

    def _signed(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return self._config.url.get_secret_value(), payload

    def _check(self, answer: _Answer) -> None:
        """Raise unless the answer means delivered. The default: any 2xx is."""
        if answer.status == 429 or answer.status >= 500:
            raise _TransientError(f"HTTP {answer.status}", answer.retry_after)
        if not 200 <= answer.status < 300:
            raise _RefusedError(f"HTTP {answer.status}: {self._shown(answer.body)}")

    def _deliver(self, payload: dict[str, Any]) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self._retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                # Signed again on each attempt: a signature is only good near its timestamp.
                url, signed = self._signed(payload)
                body = json.dumps(signed, ensure_ascii=False, default=str).encode()
                self._check(_post(url, body, self.content_type, self._retry.timeout))

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _TransientError) and error.retry_after is not None:
            return min(error.retry_after, self._retry.max_retry_after)
        backoff = self._retry.base_delay * 2.0 ** (state.attempt_number - 1)
        return min(backoff, self._retry.max_delay)

    def _failure(self, index: int, count: int, problem: str) -> NotificationError:
        where = f"message {index + 1} of {count}: " if count > 1 else ""
        return NotificationError(self.label, self._redacted(where + problem), delivered=index)

    def _shown(self, text: str) -> str:
        return _clip_chars(" ".join(text.split()), _SHOWN_ANSWER_CHARS) or "(empty answer)"

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
class _Payloads:
    messages: list[dict[str, Any]]
    left_out: list[_Entry]


def _log_cut(channel: str, notification: Notification, left_out: Sequence[_Entry]) -> None:
    log_line(
        "notification_cut",
        channel=channel,
        kind=notification.kind.value,
        left_out=[entry.brief() for entry in left_out],
    )


def _text_limits(budget: int, max_messages: int) -> _Limits:
    return _Limits(budget, max_messages, size=_utf8_size, clip=_clip_bytes)


def _error_code_check(answer: _Answer, service: str, code_key: str, message_key: str) -> None:
    """DingTalk, WeCom, Feishu: HTTP 200 even on failure; the body's code says what happened."""
    body = _json_body(answer)
    if body is None:
        raise _RefusedError(f"HTTP {answer.status} without {service}'s JSON answer")
    code = body.get(code_key, body.get("StatusCode"))  # Feishu's older answers: StatusCode
    if code != 0:
        message = body.get(message_key, body.get("StatusMessage", ""))
        raise _RefusedError(f"{code_key} {code}: {_clip_chars(str(message), _SHOWN_ANSWER_CHARS)}")


class DingTalkChannel(_HttpChannel):
    """A DingTalk custom robot: markdown; signed in the URL when NOTIFY_DINGTALK_SECRET is set."""

    kind = ChannelKind.DINGTALK
    style = _DINGTALK
    # No size is documented for markdown; 20,000 bytes keeps well inside what robots take. A
    # robot takes 20 messages a minute: five per notification leaves room for the others.
    limits = _text_limits(20_000, 5)

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

    def _check(self, answer: _Answer) -> None:
        super()._check(answer)
        _error_code_check(answer, "DingTalk", "errcode", "errmsg")


class FeishuChannel(_HttpChannel):
    """A Feishu / Lark custom bot: text; `timestamp` and `sign` in the body when a secret is set."""

    kind = ChannelKind.FEISHU
    style = _TEXT
    limits = _text_limits(18_000, 5)  # under the 20 KB a request body is understood to allow

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msg_type": "text", "content": {"text": text}}

    def _signed(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        url = self._config.url.get_secret_value()
        if self._config.secret is None:
            return url, payload
        timestamp = str(int(self._clock.now().timestamp()))
        sign = feishu_sign(timestamp, self._config.secret.get_secret_value())
        return url, {"timestamp": timestamp, "sign": sign, **payload}

    def _check(self, answer: _Answer) -> None:
        super()._check(answer)
        _error_code_check(answer, "Feishu", "code", "msg")


class WeComChannel(_HttpChannel):
    """A WeCom group robot: markdown content of at most 4,096 bytes."""

    kind = ChannelKind.WECOM
    style = _MARKDOWN
    limits = _text_limits(4_000, 5)  # 4,096 bytes of content, with a margin

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}

    def _check(self, answer: _Answer) -> None:
        super()._check(answer)
        _error_code_check(answer, "WeCom", "errcode", "errmsg")


_SLACK_SECTION_CHARS: Final = 3000
_SLACK_HEADER_CHARS: Final = 150


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook: `text` (the notification's fallback) and `blocks`."""

    kind = ChannelKind.SLACK
    style = _SLACK
    # A message holds at most 50 blocks, a section's text at most 3,000 characters.
    limits = _Limits(
        budget=50, max_messages=5, size=lambda _piece: 1, clip=lambda text, _room: text
    )

    def _payloads(self, notification: Notification) -> _Payloads:
        packed = _pack(notification, self.style, self.limits)
        payloads = []
        for pieces in packed.messages:
            title, rest = pieces[0], pieces[1:]
            blocks: list[dict[str, Any]] = [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": _clip_chars(title, _SLACK_HEADER_CHARS)},
                }
            ]
            blocks.extend(
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": _clip_chars(piece, _SLACK_SECTION_CHARS)},
                }
                for piece in rest
            )
            payloads.append({"text": title, "blocks": blocks})
        return _Payloads(payloads, packed.left_out)


_EVENT_TYPE_PREFIX: Final = "ecs-lifecycle."
_EVENT_SOURCE: Final = "ecs-lifecycle"


class CloudEventsChannel(_HttpChannel):
    """Any HTTP endpoint (an EventBridge HTTP event source): one CloudEvents 1.0 JSON each.

    `data` is the summary. A summary too large for one event is split: each event carries the
    summary with a slice of its instances, in order, and the extension attributes `part` and
    `parts`.
    """

    kind = ChannelKind.WEBHOOK
    style = _TEXT
    limits = _text_limits(60_000, 20)
    content_type = "application/cloudevents+json; charset=utf-8"

    def _payloads(self, notification: Notification) -> _Payloads:
        summary = dict(notification.summary)
        instances = list(summary.get("instances", []) or [])
        frame = {**summary, "instances": []}
        # What is left for instances once the rest of the summary and the envelope are in.
        room = max(self.limits.budget - len(json.dumps(frame, default=str).encode()) - 1024, 1)
        slices: list[list[Any]] = [[]]
        used = 0
        for instance in instances:
            cost = len(json.dumps(instance, default=str).encode()) + 2
            if slices[-1] and used + cost > room:
                slices.append([])
                used = 0
            slices[-1].append(instance)
            used += cost
        kept = slices[: self.limits.max_messages]
        left_raw = [item for chunk in slices[self.limits.max_messages :] for item in chunk]
        left_out = _entries({"instances": left_raw})
        events = []
        for index, chunk in enumerate(kept):
            data = {**summary, "instances": chunk}
            if left_out and index == len(kept) - 1:
                data["notes"] = [*summary.get("notes", []), _cut_line(len(left_out))]
            events.append(self._event(notification, data, index + 1, len(kept)))
        return _Payloads(events, left_out)

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


CHANNEL_TYPES: Final[Mapping[ChannelKind, type[_HttpChannel]]] = {
    ChannelKind.DINGTALK: DingTalkChannel,
    ChannelKind.FEISHU: FeishuChannel,
    ChannelKind.WECOM: WeComChannel,
    ChannelKind.SLACK: SlackChannel,
    ChannelKind.WEBHOOK: CloudEventsChannel,
}


def build_channels(
    settings: NotifySettings,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] | None = None,
    retry: ChannelRetry | None = None,
) -> tuple[Channel, ...]:
    """One channel per NOTIFY_URLS entry, in order."""
    return tuple(
        CHANNEL_TYPES[config.kind](config, clock=clock, sleep=sleep, retry=retry)
        for config in settings.channels
    )


def dingtalk_sign(timestamp: str, secret: str) -> str:
    """DingTalk's `sign`: URL-encoded base64 of HMAC-SHA256(secret, "{timestamp}\\n{secret}")."""
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(timestamp: str, secret: str) -> str:
    """Feishu's `sign`: base64 of HMAC-SHA256(key="{timestamp}\\n{secret}", msg=empty)."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _with_query(url: str, extra: Mapping[str, str]) -> str:
    # The values are already URL-encoded (DingTalk's sign is specified that way).
    joined = "&".join(f"{key}={value}" for key, value in extra.items())
    return f"{url}{'&' if urllib.parse.urlsplit(url).query else '?'}{joined}"


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
        self._limits = _text_limits(budget, max_messages)
        self.sent: list[Notification] = []
        self.messages: list[str] = []  # every message, as plain text, in the order sent

    @property
    def label(self) -> str:
        return self._label

    def __repr__(self) -> str:
        return f"InMemoryChannel({self._label})"

    def send(self, notification: Notification) -> Delivery:
        if self.fail_with is not None:
            raise NotificationError(self._label, self.fail_with)
        packed = _pack(notification, _TEXT, self._limits)
        if packed.left_out:
            _log_cut(self._label, notification, packed.left_out)
        self.sent.append(notification)
        self.messages.extend(_TEXT.separator.join(pieces) for pieces in packed.messages)
        return Delivery(self._label, len(packed.messages), len(packed.left_out))


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """One channel's part in a run's result: delivered or not, and why not."""

    channel: str
    delivered: bool
    messages: int = 0
    left_out: int = 0
    error: str | None = None

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
        return entry


def send_all(
    channels: Sequence[Channel], notification: Notification
) -> tuple[DeliveryOutcome, ...]:
    """Send `notification` to every channel; never raises, so the ECS work always stands.

    Each failure is one log line and one outcome; a notice run then calls
    `require_delivered`, a report only records the outcomes in its result.
    """
    outcomes: list[DeliveryOutcome] = []
    for channel in channels:
        try:
            delivery = channel.send(notification)
        except NotificationError as exc:
            outcome = DeliveryOutcome(channel.label, delivered=False, error=exc.problem)
        except Exception as exc:  # noqa: BLE001 - a notification never undoes the ECS work
            # Only the type: an unexpected error's text could quote a URL.
            problem = f"unexpected {type(exc).__name__}"
            outcome = DeliveryOutcome(channel.label, delivered=False, error=problem)
        else:
            outcome = DeliveryOutcome(
                channel.label, True, messages=delivery.messages, left_out=delivery.left_out
            )
        if not outcome.delivered:
            log_line(
                "notification_failed",
                channel=outcome.channel,
                kind=notification.kind.value,
                error=outcome.error,
            )
        outcomes.append(outcome)
    return tuple(outcomes)


def require_delivered(outcomes: Sequence[DeliveryOutcome]) -> None:
    """Raise when any channel failed: a notice nobody received must fail its run.

    Raises:
        NotificationUndeliveredError: naming each failed channel and its problem.
    """
    failures = [outcome for outcome in outcomes if not outcome.delivered]
    if failures:
        raise NotificationUndeliveredError(failures)
