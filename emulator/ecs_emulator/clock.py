"""Clocks the emulator reads time from.

The emulator never calls ``datetime.now`` itself: every state change that depends on time
(Stopping -> Stopped, auto-release, snapshot progress) is evaluated lazily against the clock it
was given. Tests hand it a :class:`FakeClock` and move time with :meth:`FakeClock.advance`, so
nothing ever really sleeps; the standalone server and the benchmarks use :class:`SystemClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """What the emulator needs from a clock: an aware UTC ``now`` and a ``sleep``."""

    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time. ``sleep`` really sleeps."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to.

    ``sleep`` is the same as ``advance``, so code under test can be given ``clock.sleep`` as its
    sleep function and its backoff waits become instant but still visible as elapsed time.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime (use tzinfo=timezone.utc)")
        self._now = start.astimezone(timezone.utc)
        # The server reads the clock from its request threads while a test advances it.
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (never backwards)."""
        if moment.tzinfo is None:
            raise ValueError("FakeClock.set needs an aware datetime")
        with self._lock:
            target = moment.astimezone(timezone.utc)
            if target < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = target
