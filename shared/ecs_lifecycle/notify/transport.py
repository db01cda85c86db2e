"""The HTTP transport: one time budget per notification, pacing, bounded requests and retries.

- `Budget`: the run's time left; nothing is tried, retried or waited for past it.
- `Rate` and `Pacer`: each robot's messages spaced at its documented rate across a run.
- `post`: one POST bounded as a whole by a watchdog (connect, send, the whole answer: a server
  that drips is cut too); no redirect is followed, it is an answer to report.
- `deliver`: one message's attempts, retrying what is transient (429, 5xx, a rate-limit code, a
  timeout) with waits that fit the budget. Problems never quote the URL.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import socket
import ssl
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from ecs_lifecycle.clock import Clock


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

    def wait(self, attempt: int, error: TransientError) -> float:
        """The wait after failed attempt number `attempt` (from 1), before the next one."""
        if error.retry_after is not None:
            return min(error.retry_after, self.max_retry_after)
        base = self.rate_limit_delay if error.rate_limited else self.base_delay
        cap = self.max_retry_after if error.rate_limited else self.max_delay
        return min(base * 2.0 ** (attempt - 1), cap)


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


class Pacer:
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
class Answer:
    status: int
    body: str
    retry_after: float | None = None


class TransientError(Exception):
    """Worth another attempt: 429, 5xx, a rate-limit code, a timeout, a connection that failed."""

    def __init__(
        self, problem: str, retry_after: float | None = None, *, rate_limited: bool = False
    ) -> None:
        super().__init__(problem)
        self.problem = problem
        self.retry_after = retry_after
        self.rate_limited = rate_limited


class RefusedError(Exception):
    """The service said no (a bad signature, a bad payload): another attempt will not help."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class OutOfTimeError(Exception):
    """The notification's budget ran out before this message could be (re)tried or paced."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


_MAX_ANSWER_BYTES: Final = 4096
OUT_OF_TIME: Final = "not sent: the run's time budget for notifications ran out"


def _retry_after(headers: Any) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None  # an HTTP date: the usual backoff will do


def post(url: str, body: bytes, content_type: str, timeout: float) -> Answer:
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
        raise RefusedError("the URL cannot be used (ValueError)")
    if timeout <= 0:
        raise OutOfTimeError(OUT_OF_TIME)
    cut = threading.Event()
    connection = _connection(parts.scheme, parts.hostname, port, timeout, cut)
    watchdog = _watchdog(connection, cut, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Content-Type": content_type, "User-Agent": "ecs-lifecycle"}
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(_MAX_ANSWER_BYTES)
        if cut.is_set():  # a read the watchdog ended short
            raise TimeoutError  # noqa: TRY301 - the same answer as a timeout below
        answer = data.decode("utf-8", errors="replace")
        return Answer(response.status, answer, _retry_after(response.headers))
    except TimeoutError:
        raise TransientError(f"no answer within {timeout:.3g} s") from None
    except (OSError, http.client.HTTPException, ValueError) as error:
        if cut.is_set():
            raise TransientError(f"no answer within {timeout:.3g} s") from None
        # The error's text can name the host; its type says enough.
        raise TransientError(f"connection failed ({type(error).__name__})") from None
    finally:
        watchdog.cancel()
        connection.close()


def _watchdog(
    connection: http.client.HTTPConnection, cut: threading.Event, timeout: float
) -> threading.Timer:
    """Started: at `timeout`, marks the exchange `cut` and shuts its socket down."""

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
    return watchdog


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


def json_body(answer: Answer) -> Mapping[str, Any] | None:
    try:
        body = json.loads(answer.body)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def encoded(payload: Mapping[str, Any]) -> bytes:
    """A request body exactly as sent."""
    return json.dumps(payload, ensure_ascii=False, default=str).encode()


def deliver(
    attempt: Callable[[float], None],
    retry: ChannelRetry,
    budget: Budget,
    sleep: Callable[[float], None],
) -> None:
    """Make one request, retrying what is transient; every attempt and wait within `budget`.

    `attempt(timeout)` makes the request once, bounded by `timeout`, and raises
    `TransientError` when another attempt may help (it signs again each time).

    Raises:
        TransientError: the last attempt's problem, once `retry.attempts` are spent.
        OutOfTimeError: the budget has no room for another attempt, or for the wait before it.
        RefusedError: as `attempt` raises it; never retried.
    """
    for number in range(1, retry.attempts + 1):
        left = budget.remaining()
        if left <= 0:
            raise OutOfTimeError(OUT_OF_TIME)
        try:
            attempt(min(retry.timeout, left))
        except TransientError as error:
            if number == retry.attempts:
                raise
            wait = retry.wait(number, error)
            if wait >= budget.remaining():
                raise OutOfTimeError(
                    f"{error.problem} after {number} attempt(s); {OUT_OF_TIME}"
                ) from None
            sleep(wait)
        else:
            return
    raise AssertionError("unreachable: the last attempt returns or raises")  # pragma: no cover
