"""Reporting as the run goes: each result handed on once, and the release progress, spaced.

Both are shared by the run's threads (one per region, and each region's pool), hence the locks.
They know nothing of the run but what they are given: the callback, and for progress the clock
and the least time between two reports.
"""

from __future__ import annotations

import threading
from dataclasses import fields
from typing import TYPE_CHECKING

from ecs_lifecycle.progress import ReleaseProgress

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from datetime import datetime

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.model import InstanceResult


class Reports:
    """Hands each instance's result to `on_result` once: the first time it is final."""

    def __init__(self, on_result: Callable[[InstanceResult], None]) -> None:
        self._on_result = on_result
        self._lock = threading.Lock()
        self._sent: set[str] = set()

    def final(self, results: Iterable[InstanceResult]) -> list[InstanceResult]:
        """Report the results not reported yet; return them all."""
        results = list(results)
        with self._lock:
            new = [result for result in results if result.instance_id not in self._sent]
            self._sent.update(result.instance_id for result in new)
        for result in new:
            self._on_result(result)
        return results


class ProgressBoard:
    """Each region's release progress; the sum goes to `on_progress`, spaced on the run's clock."""

    def __init__(
        self,
        clock: Clock,
        every: float,
        on_progress: Callable[[ReleaseProgress], None],
    ) -> None:
        self._clock = clock
        self._every = every
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._by_region: dict[str, ReleaseProgress] = {}
        self._last: datetime | None = None

    def update(self, region: str, progress: ReleaseProgress) -> None:
        """Note `region`'s progress; report the run's when the last report is old enough."""
        with self._lock:
            self._by_region[region] = progress
            now = self._clock.now()
            if self._last is not None and (now - self._last).total_seconds() < self._every:
                return
            self._last = now
            counts = {
                item.name: sum(getattr(p, item.name) for p in self._by_region.values())
                for item in fields(ReleaseProgress)
                if item.name != "at"
            }
            # Reported under the lock, so that the reports of two regions keep their order.
            self._on_progress(ReleaseProgress(at=now, **counts))
