"""Faults on demand: latency, throttling, 5xx, dropped connections, non-JSON bodies.

A :class:`FaultRule` says, for one operation (or ``"*"``), how often each fault happens. For
every request the injector draws one number from a random stream seeded with
``(seed, operation)``, so the same seed and the same sequence of calls to an operation give the
same faults, even when other operations are called in between.

Most faults are decided *before* the operation acts: the call has no effect, exactly like a
throttled or failed real call. ``drop_after_effect_rate`` is the exception: the operation is
applied, then the connection is closed without an answer - the case idempotency tests need
(the client cannot know whether its change happened).

A rule with ``until`` holds only for requests received before that moment on the emulator's
clock. With ``throttle_rate=1.0`` it is how ECS throttles: per API, region, account and minute
("if an API operation is throttled at minute T, it can be called again from minute T+1", ECS
API docs, request throttling: https://www.alibabacloud.com/help/doc-detail/437902.htm), so a
quota spent at minute T is a rule that holds until T+1 (or later, when other tools keep spending
it).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Final

from ecs_emulator.errors import api_error

if TYPE_CHECKING:
    from ecs_emulator.clock import Clock

# Default HTTP status for each throttling code (the common error codes,
# https://help.aliyun.com/document_detail/51132.html, and ECS API throttling).
THROTTLE_STATUS: Final[dict[str, int]] = {
    "Throttling": 400,
    "Throttling.User": 400,
    "Throttling.Api": 400,
    "Throttling.Resource": 429,
}


class FaultKind(Enum):
    THROTTLE = "throttle"
    UNAVAILABLE = "unavailable"
    INTERNAL_ERROR = "internal-error"
    DROP = "drop"
    NON_JSON = "non-json"
    DROP_AFTER_EFFECT = "drop-after-effect"


@dataclass(frozen=True)
class FaultRule:
    """How often each fault hits one operation (``"*"`` = every operation).

    Rates are probabilities per request and must add up to at most 1. ``latency`` (seconds) is
    a real sleep in the request thread, applied to every matching request; the server is
    threaded, so concurrent requests each see it instead of queueing behind each other.
    ``until`` (aware, on the emulator's clock): the rule holds only for requests before it.
    """

    operation: str = "*"
    throttle_rate: float = 0.0
    throttle_code: str = "Throttling.User"
    throttle_status: int | None = None
    retry_after_ms: int | None = None
    unavailable_rate: float = 0.0
    internal_error_rate: float = 0.0
    drop_rate: float = 0.0
    non_json_rate: float = 0.0
    drop_after_effect_rate: float = 0.0
    latency: float = 0.0
    until: datetime | None = None

    def __post_init__(self) -> None:
        rates = self._rates()
        if any(rate < 0 or rate > 1 for _, rate in rates):
            raise ValueError("fault rates are probabilities between 0 and 1")
        if sum(rate for _, rate in rates) > 1 + 1e-9:
            raise ValueError("fault rates of one rule must add up to at most 1")
        if self.latency < 0:
            raise ValueError("latency cannot be negative")
        if not self.throttle_code.startswith("Throttling"):
            raise ValueError("throttle_code must be one of the Throttling* codes")
        if self.until is not None and self.until.tzinfo is None:
            raise ValueError("until must be an aware datetime (the emulator's clock is UTC)")

    def _rates(self) -> list[tuple[FaultKind, float]]:
        return [
            (FaultKind.THROTTLE, self.throttle_rate),
            (FaultKind.UNAVAILABLE, self.unavailable_rate),
            (FaultKind.INTERNAL_ERROR, self.internal_error_rate),
            (FaultKind.DROP, self.drop_rate),
            (FaultKind.NON_JSON, self.non_json_rate),
            (FaultKind.DROP_AFTER_EFFECT, self.drop_after_effect_rate),
        ]

    def matches(self, operation: str, now: datetime | None = None) -> bool:
        """The rule names `operation` and still holds at `now` (None: the clock is not asked)."""
        if self.until is not None and (now is None or now >= self.until):
            return False
        return self.operation in ("*", operation)

    def pick(self, draw: float) -> FaultKind | None:
        threshold = 0.0
        for kind, rate in self._rates():
            threshold += rate
            if draw < threshold:
                return kind
        return None

    @property
    def status_for_throttle(self) -> int:
        return self.throttle_status or THROTTLE_STATUS.get(self.throttle_code, 400)


@dataclass(frozen=True)
class FaultDecision:
    rule: FaultRule | None
    kind: FaultKind | None

    @property
    def latency(self) -> float:
        return self.rule.latency if self.rule else 0.0


NO_FAULT: Final = FaultDecision(rule=None, kind=None)


class FaultInjector:
    """Decides, reproducibly, which fault (if any) hits each request."""

    def __init__(
        self, rules: list[FaultRule] | None = None, seed: int = 0, clock: Clock | None = None
    ) -> None:
        self._rules = list(rules or [])
        if clock is None and any(rule.until is not None for rule in self._rules):
            raise ValueError("a rule with `until` needs the injector to have a clock")
        self._seed = seed
        self._clock = clock
        self._streams: dict[str, random.Random] = {}
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def decide(self, operation: str) -> FaultDecision:
        """The fault for this request: the first rule naming the operation (or ``*``) applies."""
        now = self._clock.now() if self._clock is not None else None
        rule = next((rule for rule in self._rules if rule.matches(operation, now)), None)
        if rule is None:
            return NO_FAULT
        with self._lock:
            stream = self._streams.get(operation)
            if stream is None:
                stream = random.Random(f"{self._seed}:{operation}")
                self._streams[operation] = stream
            kind = rule.pick(stream.random())
            if kind is not None:
                self.counts[kind.value] += 1
                self.counts[f"{operation}:{kind.value}"] += 1
        return FaultDecision(rule=rule, kind=kind)


@dataclass
class InstanceFailure:
    """A deterministic failure of one resource for one operation (``times`` None = always)."""

    resource_id: str
    operation: str
    code: str
    status: int
    message: str
    times: int | None = None

    @classmethod
    def of(
        cls,
        resource_id: str,
        *,
        operation: str,
        code: str = "IncorrectInstanceStatus",
        status: int = 403,
        message: str | None = None,
        times: int | None = None,
    ) -> InstanceFailure:
        """Make ``operation`` fail for this one resource with ``code`` (``times`` None = always).

        In an all-or-nothing batch (DeleteInstances, StopInstances AllTogether) the whole call
        fails; with StopInstances SuccessFirst only this instance's result carries the code.
        Works for disk ids too (``operation="CreateSnapshot", code="QuotaExceed.Snapshot"``).
        The message defaults to the code's own (:mod:`ecs_emulator.errors`).
        """
        message = message or api_error(code).message
        return cls(resource_id, operation, code, status, message, times)

    def consume(self) -> bool:
        """True if the failure applies to this call (and counts it down)."""
        if self.times is None:
            return True
        if self.times <= 0:
            return False
        self.times -= 1
        return True
