"""How hard a call is tried: pacing, two retry budgets, the run's deadline and a stop request.

Every call is paced (a calls-per-second budget, since the account's ECS quota is shared with the
console and every other tool) and retried with tenacity, honouring the server's
`x-acs-retry-after`, on two budgets (`RetryPolicy`):

- throttling (`Throttling*`, HTTP 429): ECS counts its quota per API, per region, per account and
  per minute, and a call throttled at minute T may pass from minute T+1 (ECS API throttling,
  https://www.alibabacloud.com/help/en/elastic-compute-service/latest/api-throttling). So a
  throttled call is retried until the end of the minute after the one it was first
  throttled in, with backoff and jitter, instead of failing within seconds of a busy minute;
- other transient failures (5xx answers, timeouts, dropped connections, non-JSON pages): a few
  attempts with capped exponential backoff and full jitter, a budget of seconds.

Both are bounded by the run's deadline: no attempt starts after it (the first one included), and a
wait that would end past it is not slept; the call gives up with its last error instead (or
`DeadlineExceeded` when no attempt was made). A stop request (a local run's first Ctrl-C) ends
them the same way, with `Interrupted`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from Tea.exceptions import TeaException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from ecs_lifecycle.ecs.codes import DEADLINE_CODE, INTERRUPTED_CODE, TransientError, translate
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.timeparse import floor_to_minute

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client as EcsClient

    from ecs_lifecycle.clock import Clock


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: two budgets, both cut short by the run's deadline. Delays in seconds.

    Throttling: retried until the end of the `throttle_minutes`-th minute after the one the call
    was first throttled in (2: the rest of that minute and the whole next one, since ECS counts its
    quota per minute), with "equal jitter": each wait is half a step (`throttle_base_delay`
    doubling up to `throttle_max_delay`) plus a random part of up to the other half, so concurrent
    calls spread out instead of coming back together. `throttle_max_attempts` is a backstop
    should a server ask for tiny waits.
    Other transient failures: `max_attempts` attempts in all, full jitter under `base_delay`
    doubling up to `max_delay`. A server's `x-acs-retry-after` sets the wait instead, up to
    `max_retry_after`.
    """

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0
    throttle_minutes: int = 2
    throttle_base_delay: float = 2.0
    throttle_max_delay: float = 20.0
    throttle_max_attempts: int = 40
    max_retry_after: float = 60.0


class stop_when(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """Stop retrying once `predicate` holds (here: the call's budget is spent, see `Caller`)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


@dataclass
class _Attempts:
    """What one call's attempts have met so far: how much of each retry budget is spent."""

    last_error: EcsApiError | None = None
    last_throttled: bool = False
    throttled_since: datetime | None = None
    throttled: int = 0
    other_failures: int = 0

    def record(self, failure: TransientError, now: datetime) -> TransientError:
        self.last_error = failure.error
        self.last_throttled = failure.throttled
        if failure.throttled:
            self.throttled += 1
            if self.throttled_since is None:
                self.throttled_since = now
        else:
            self.other_failures += 1
        return failure


class Pacer:
    """Spaces calls at most `rate` per second across threads (a shared-quota budget)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next: float | None = None

    def acquire(self) -> None:
        with self._lock:
            now = self._clock.now().timestamp()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._clock.sleep(slot - now)


class Caller:
    """Makes one ECS call at a time within the budgets: one per gateway, shared by its threads."""

    def __init__(
        self,
        client: Callable[[str], EcsClient],
        *,
        clock: Clock,
        pacer: Pacer,
        retry: RetryPolicy,
        deadline: datetime | None,
        stop_requested: Callable[[], bool] | None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._pacer = pacer
        self._retry = retry
        self._deadline = deadline
        self._stop_requested = stop_requested

    def call(self, operation: str, region: str, send: Callable[[EcsClient], Any]) -> Any:
        """One ECS call, retried within its budgets and the run's deadline.

        Raises:
            EcsApiError: a final error; the last transient one once a budget is spent; or
                DEADLINE_CODE when the deadline passed before any attempt could start.
        """
        client = self._client(region)
        attempts = _Attempts()
        retrying = Retrying(
            stop=stop_when(lambda state: self._give_up(state, attempts)),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    # Before pacing (no wait for a slot that cannot be used) and after it, the
                    # moment the request would leave: FC kills the run at its limit, so nothing
                    # starts that might not be seen through.
                    self._check_deadline(operation, attempts)
                    self._pacer.acquire()
                    self._check_deadline(operation, attempts)
                    try:
                        return send(client)
                    except TeaException as exc:
                        error = translate(operation, exc)
                        if isinstance(error, TransientError):
                            raise attempts.record(error, self._clock.now()) from None
                        raise error from None
        except TransientError as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock.now() >= self._deadline

    def _interrupted(self) -> bool:
        return self._stop_requested is not None and self._stop_requested()

    def _check_deadline(self, operation: str, attempts: _Attempts) -> None:
        """Give up once a stop was asked for or the deadline has passed.

        With the last error, else Interrupted or DeadlineExceeded: no attempt starts after either.
        """
        if self._interrupted():
            raise attempts.last_error or EcsApiError(
                operation,
                INTERRUPTED_CODE,
                "not attempted: the run was interrupted (Ctrl-C) first; a re-run picks it up",
            )
        if self._past_deadline():
            raise attempts.last_error or EcsApiError(
                operation,
                DEADLINE_CODE,
                "not attempted: the run reached its deadline (the function's time limit less a "
                "margin) first; a retry picks it up",
            )

    def _give_up(self, state: RetryCallState, attempts: _Attempts) -> bool:
        """Whether the call stops after this failure; tenacity has just chosen the next wait.

        A wait that would end at or past the deadline is not slept: the attempt after it could
        not start anyway, and sleeping it would only hold the run until FC kills it.
        """
        if self._interrupted():
            return True
        now = self._clock.now()
        if (
            self._deadline is not None
            and now + timedelta(seconds=state.upcoming_sleep) >= self._deadline
        ):
            return True
        policy = self._retry
        if attempts.last_throttled and attempts.throttled_since is not None:
            window_end = floor_to_minute(attempts.throttled_since) + timedelta(
                minutes=policy.throttle_minutes
            )
            return now >= window_end or attempts.throttled >= policy.throttle_max_attempts
        return attempts.other_failures >= policy.max_attempts

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        policy = self._retry
        if isinstance(error, TransientError) and error.retry_after is not None:
            return min(error.retry_after, policy.max_retry_after)
        if isinstance(error, TransientError) and error.throttled:
            # Equal jitter: a fixed half keeps the attempts within the throttle window few, the
            # random half keeps concurrent calls from coming back in step.
            half = policy.throttle_base_delay / 2
            cap = policy.throttle_max_delay / 2
            fixed = wait_exponential(multiplier=half, max=cap)
            jitter = wait_random_exponential(multiplier=half, max=cap)
            return float(fixed(state) + jitter(state))
        backoff = wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)
        return float(backoff(state))


def sender(method: str, request: Any) -> Callable[[EcsClient], Any]:
    """A call of SDK method `method` with `request`, bound now (not when a loop variable moves)."""

    def send(client: EcsClient) -> Any:
        return getattr(client, method)(request)

    return send
