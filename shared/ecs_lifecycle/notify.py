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
- Transport: one `Budget` per notification (the run's time left), every request bounded as a
  whole by a watchdog (connect, send, the whole answer: a server that drips is cut too), retries
  and waits only while the budget has room for them, rate-limit answers retried, and each
  robot's messages paced at its documented rate (`Rate`, `_Pacer`) across a run.
- Channels: the `Channel` Protocol (send one notification), one HTTP implementation per service,
  built as that service's documentation specifies (docs/notifications.md cites each), each
  request body measured as sent against the service's limit, and `InMemoryChannel`, the twin
  for tests of callers. `send_all` sends to every channel in parallel within one budget and
  never raises, so a notification that cannot be delivered never blocks or undoes the ECS work,
  and what the deadline cut is an outcome (`out_of_time`) in the run's result and its log.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import http.client
import json
import math
import shlex
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Final, Protocol

from pydantic import BaseModel, ConfigDict, ValidationError

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

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        """Deliver every message of `notification`, in order, all of it within `budget`.

        Raises:
            NotificationError: a message could not be delivered (after bounded retries), or
                not before the budget ran out.
        """
        ...


# --- transport: one time budget per notification, bounded requests, pacing ------------------------


@dataclass(frozen=True, slots=True)
class ChannelRetry:
    """How hard a channel tries: attempts per message, waits doubling from `base_delay`.

    A 429's Retry-After sets the wait instead, up to `max_retry_after`; a service's rate-limit
    answer (DingTalk 130101, WeCom 45009, Feishu 11232) waits from `rate_limit_delay`. `timeout`
    bounds each request as a whole (connecting, sending, and the whole answer, not each read),
    and every attempt and wait also fits the notification's `Budget`: nothing runs past it.
    """

    attempts: int = 4
    base_delay: float = 1.0
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    rate_limit_delay: float = 10.0
    timeout: float = 10.0


class Budget:
    """The time one notification may take: until a real (monotonic) instant and, when the run
    has a clock and a deadline, that deadline on the run's clock too, whichever comes first.

    The monotonic bound holds against a hanging server; the clock bound counts the waits that a
    test's fake clock moves through instead of sleeping.
    """

    def __init__(
        self, seconds: float, *, clock: Clock | None = None, deadline: datetime | None = None
    ) -> None:
        self._until = time.monotonic() + max(seconds, 0.0)
        self._clock = clock
        self._deadline = deadline

    @classmethod
    def until(cls, deadline: datetime, clock: Clock) -> Budget:
        """The time left before the run's `deadline`."""
        return cls((deadline - clock.now()).total_seconds(), clock=clock, deadline=deadline)

    @classmethod
    def unbounded(cls) -> Budget:
        return cls(math.inf)

    @property
    def bounded(self) -> bool:
        return self._until != math.inf

    def remaining(self) -> float:
        left = self._until - time.monotonic()
        if self._clock is not None and self._deadline is not None:
            left = min(left, (self._deadline - self._clock.now()).total_seconds())
        return max(left, 0.0)


@dataclass(frozen=True, slots=True)
class Rate:
    """A documented sending rate: at most `messages` in any `seconds`."""

    messages: int
    seconds: float


class _Pacer:
    """Spaces one robot's messages at its documented rates, across a run's notifications.

    Keeps the send times it granted (on the run's clock); a message that would exceed a rate
    waits until the oldest one counted leaves its window. Shared by every channel with the same
    URL, so two NOTIFY_URLS entries for one robot share its rate. Each grant is computed once
    (no polling loop), so a clock that stands still cannot make it spin.
    """

    def __init__(self, rates: Sequence[Rate]) -> None:
        self._rates = tuple(rates)
        self._granted: deque[float] = deque(maxlen=max((r.messages for r in rates), default=1))
        self._lock = threading.Lock()

    def reserve(self, now: float, within: float) -> float | None:
        """The wait before the next message may go (and book it), or None: not `within` that."""
        with self._lock:
            slot = now
            for rate in self._rates:
                if len(self._granted) >= rate.messages:
                    slot = max(slot, self._granted[-rate.messages] + rate.seconds)
            wait = slot - now
            if wait > 0 and wait >= within:
                return None
            self._granted.append(slot)
            return wait


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    body: str
    retry_after: float | None = None


class _TransientError(Exception):
    """Worth another attempt: 429, 5xx, a rate-limit code, a timeout, a connection that failed."""

    def __init__(
        self, problem: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class _RefusedError(Exception):
    """The service said no (a bad signature, a bad payload): another attempt will not help."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class _OutOfTimeError(Exception):
    """The notification's budget ran out before this message could be (re)tried or paced."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_MAX_ANSWER_BYTES: Final = 4096
_SHOWN_ANSWER_CHARS: Final = 200
OUT_OF_TIME: Final = "not sent: the run's time budget for notifications ran out"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the usual backoff will do


def _post(url: str, body: bytes, content_type: str, timeout: float) -> _Answer:
    """POST `body`, the whole exchange within `timeout` seconds; an HTTP status is an answer.

    http.client follows no redirect (a redirect is an answer to report, not a place to go). A
    watchdog shuts the socket down at `timeout`, so a server that accepts and never answers, or
    drips its answer a byte at a time, is cut as surely as one that is silent; a socket that
    connects only after that (a slow DNS lookup) is closed unused. Problems never quote the URL.
    """
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise _RefusedError("the URL cannot be used (ValueError)")
    if timeout <= 0:
        raise _OutOfTimeError(OUT_OF_TIME)
    cut = threading.Event()
    connection = _connection(parts.scheme, parts.hostname, port, timeout, cut)

    def cut_now() -> None:
        cut.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                # The plain socket's shutdown, under TLS too: it wakes a blocked read at once.
                socket.socket.shutdown(sock, socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut_now)
    watchdog.daemon = True
    watchdog.start()
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": content_type, "User-Agent": "ecs-lifecycle"}
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(_MAX_ANSWER_BYTES)
        if cut.is_set():  # a read the watchdog ended short
            raise TimeoutError  # noqa: TRY301 - the same answer as a timeout below
        answer = data.decode("utf-8", errors="replace")
        return _Answer(response.status, answer, _retry_after(response.headers))
    except TimeoutError:
        raise _TransientError(f"no answer within {timeout:.3g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        if cut.is_set():
            raise _TransientError(f"no answer within {timeout:.3g} s") from None
        # The error's text can name the host; its type says enough.
        raise _TransientError(f"connection failed ({type(error).__name__})") from None
    finally:
        watchdog.cancel()
        connection.close()


def _connection(
    scheme: str, host: str, port: int | None, timeout: float, cut: threading.Event
) -> http.client.HTTPConnection:
    connection: _BoundedHttp | _BoundedHttps
    if scheme == "https":
        context = ssl.create_default_context()
        connection = _BoundedHttps(host, port, timeout=timeout, context=context)
    else:
        connection = _BoundedHttp(host, port, timeout=timeout)
    connection.cut = cut
    return connection


def _create_connection(self: Any, address: tuple[str, int], *args: Any) -> socket.socket:
    """http.client's connect, refused once the watchdog has cut the exchange."""
    if self.cut.is_set():
        raise TimeoutError
    sock = socket.create_connection(address, *args)
    if self.cut.is_set():  # connected only after the budget ended: send nothing
        sock.close()
        raise TimeoutError
    return sock


class _BoundedHttp(http.client.HTTPConnection):
    cut: threading.Event
    _create_connection = _create_connection


class _BoundedHttps(http.client.HTTPSConnection):
    cut: threading.Event
    _create_connection = _create_connection


def _json_body(answer: _Answer) -> Mapping[str, Any] | None:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class _HttpChannel:
    """What every webhook service shares: render, sign, POST, read the answer, retry, pace."""

    kind: ClassVar[ChannelKind]
    style: ClassVar[_Style]
    limits: ClassVar[_Limits]
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
        pacer: _Pacer | None = None,
    ) -> None:
        if config.kind is not self.kind:
            raise ValueError(f"{type(self).__name__} needs a {self.kind.value} channel")
        self._config = config
        self._clock = clock or SystemClock()
        self._sleep = sleep or time.sleep
        self._retry = retry or ChannelRetry()
        self._pacer = pacer or _Pacer(self.rates)

    @property
    def label(self) -> str:
        return self._config.label

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label})"

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        budget = budget or Budget.unbounded()
        packed = self._fitted(notification)
        if packed.left_out:
            _log_cut(self.label, notification, packed.left_out)
        count = len(packed.messages)
        for index, payload in enumerate(packed.messages):
            try:
                self._paced(budget)
                self._deliver(payload, budget)
            except _TransientError as exc:
                raise self._failure(
                    index, count, f"{exc.problem}, {self._retry.attempts} attempts"
                ) from None
            except _RefusedError as exc:
                raise self._failure(index, count, exc.problem) from None
            except _OutOfTimeError as exc:
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

    def _fitted(self, notification: Notification) -> _Payloads:
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
            limits = _Limits(
                min(smaller, limits.budget - 1), limits.max_messages, limits.size, limits.clip
            )
        raise ValueError(f"{self.label}: no message fits {self.max_body_bytes} bytes")  # a bug

    def _size(self, payload: dict[str, Any]) -> int:
        """What the service limits, in bytes: by default the whole body as sent."""
        return len(_encoded(payload))

    def _payloads(self, notification: Notification, limits: _Limits) -> _Payloads:
        packed = _pack(notification, self.style, limits)
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

    def _paced(self, budget: Budget) -> None:
        """Wait for this robot's rate to allow one more message, within the budget."""
        if not self.rates:
            return
        wait = self._pacer.reserve(self._clock.now().timestamp(), budget.remaining())
        if wait is None:
            raise _OutOfTimeError(f"{OUT_OF_TIME} (waiting for the robot's rate limit)")
        if wait > 0:
            self._sleep(wait)

    def _deliver(self, payload: dict[str, Any], budget: Budget) -> None:
        """Send one message, retrying what is transient; every attempt and wait within `budget`."""
        for attempt in range(1, self._retry.attempts + 1):
            left = budget.remaining()
            if left <= 0:
                raise _OutOfTimeError(OUT_OF_TIME)
            # Signed again on each attempt: a signature is only good near its timestamp.
            url, signed = self._signed(payload)
            try:
                timeout = min(self._retry.timeout, left)
                self._check(_post(url, _encoded(signed), self.content_type, timeout))
            except _TransientError as error:
                if attempt == self._retry.attempts:
                    raise
                wait = self._wait(attempt, error)
                if wait >= budget.remaining():
                    raise _OutOfTimeError(
                        f"{error.problem} after {attempt} attempt(s); {OUT_OF_TIME}"
                    ) from None
                self._sleep(wait)
            else:
                return
        raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover

    def _wait(self, attempt: int, error: _TransientError) -> float:
        if error.retry_after is not None:
            return min(error.retry_after, self._retry.max_retry_after)
        base = self._retry.rate_limit_delay if error.rate_limited else self._retry.base_delay
        cap = self._retry.max_retry_after if error.rate_limited else self._retry.max_delay
        return min(base * 2.0 ** (attempt - 1), cap)

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


def _encoded(payload: Mapping[str, Any]) -> bytes:
    """A request body exactly as sent."""
    return json.dumps(payload, ensure_ascii=False, default=str).encode()


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


def _error_code_check(
    answer: _Answer, service: str, code_key: str, message_key: str, rate_limited: int
) -> None:
    """DingTalk, WeCom, Feishu: HTTP 200 even on failure; the body's code says what happened.

    The service's rate-limit code (`rate_limited`) is worth another attempt; any other is final.
    """
    body = _json_body(answer)
    if body is None:
        raise _RefusedError(f"HTTP {answer.status} without {service}'s JSON answer")
    code = body.get(code_key, body.get("StatusCode"))  # Feishu's older answers: StatusCode
    if code != 0:
        message = body.get(message_key, body.get("StatusMessage", ""))
        problem = f"{code_key} {code}: {_clip_chars(str(message), _SHOWN_ANSWER_CHARS)}"
        if code == rate_limited:
            raise _TransientError(f"{problem} (rate limited)", rate_limited=True)
        raise _RefusedError(problem)


class DingTalkChannel(_HttpChannel):
    """A DingTalk custom robot: markdown; signed in the URL when NOTIFY_DINGTALK_SECRET is set."""

    kind = ChannelKind.DINGTALK
    style = _DINGTALK
    # A request body of at most 20,000 bytes (errcode 460101 beyond); 20 messages a minute per
    # robot (errcode 130101, then 10 minutes' ban): five per notification, paced across a run.
    limits = _text_limits(19_000, 5)
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

    def _check(self, answer: _Answer) -> None:
        super()._check(answer)
        _error_code_check(answer, "DingTalk", "errcode", "errmsg", self.rate_limit_code)


class FeishuChannel(_HttpChannel):
    """A Feishu / Lark custom bot: text; `timestamp` and `sign` in the body when a secret is set."""

    kind = ChannelKind.FEISHU
    style = _TEXT
    # UNCONFIRMED: a request body of 20 KB, as secondary sources quote the bot guide; 18,000
    # bytes stays under it. 100 messages a minute and 5 a second per bot (code 11232 beyond).
    limits = _text_limits(17_000, 5)
    max_body_bytes = 18_000
    rates = (Rate(100, 60.0), Rate(5, 1.0))
    rate_limit_code = 11232

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
        _error_code_check(answer, "Feishu", "code", "msg", self.rate_limit_code)


class WeComChannel(_HttpChannel):
    """A WeCom group robot: markdown content of at most 4,096 bytes."""

    kind = ChannelKind.WECOM
    style = _MARKDOWN
    limits = _text_limits(4_000, 5)
    # markdown.content: at most 4,096 bytes of UTF-8 (errcode 40058 beyond). 20 messages a
    # minute per robot (errcode 45009 beyond).
    max_body_bytes = 4_096
    rates = (Rate(20, 60.0),)
    rate_limit_code = 45009

    def _payload(self, title: str, text: str) -> dict[str, Any]:
        return {"msgtype": "markdown", "markdown": {"content": text}}

    def _size(self, payload: dict[str, Any]) -> int:
        return len(str(payload["markdown"]["content"]).encode())

    def _check(self, answer: _Answer) -> None:
        super()._check(answer)
        _error_code_check(answer, "WeCom", "errcode", "errmsg", self.rate_limit_code)


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
    # UNCONFIRMED: Slack documents truncating a message's text at 40,000 characters, and long
    # messages are reported cut near 13,000; a whole body of 12,000 bytes stays under both.
    max_body_bytes = 12_000
    rates = (Rate(1, 1.0),)  # about one message a second per webhook

    def _payloads(self, notification: Notification, limits: _Limits) -> _Payloads:
        packed = _pack(notification, self.style, limits)
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
    max_body_bytes = 64_000  # our own choice, under common event size limits
    content_type = "application/cloudevents+json; charset=utf-8"

    def _payloads(self, notification: Notification, limits: _Limits) -> _Payloads:
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
    """One channel per NOTIFY_URLS entry, in order; entries with one URL share its pacing."""
    pacers: dict[str, _Pacer] = {}
    channels: list[Channel] = []
    for config in settings.channels:
        kind = CHANNEL_TYPES[config.kind]
        pacer = pacers.setdefault(config.url.get_secret_value(), _Pacer(kind.rates))
        channels.append(kind(config, clock=clock, sleep=sleep, retry=retry, pacer=pacer))
    return tuple(channels)


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

    def send(self, notification: Notification, budget: Budget | None = None) -> Delivery:
        if budget is not None and budget.remaining() <= 0:
            raise NotificationError(self._label, OUT_OF_TIME, out_of_time=True)
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
