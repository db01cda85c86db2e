"""The world changing mid-run: a test's ``on_call`` hooks, fired when the nth request for an
operation reaches the emulator (just before the operation, or right after its effect)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _MidRunChange:
    operation: str
    change: Callable[[], object]
    nth: int
    before: bool
    seen: int = 0


class MidRunChanges:
    """The registered changes and how many matching requests each has seen. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changes: list[_MidRunChange] = []

    def add(self, operation: str, change: Callable[[], object], *, nth: int, before: bool) -> None:
        if nth < 1:
            raise ValueError("nth counts requests from 1")
        with self._lock:
            self._changes.append(_MidRunChange(operation, change, nth, before))

    def fire(self, operation: str, *, before: bool) -> None:
        """Count this request against every matching change; run those now due."""
        with self._lock:
            due = []
            for change in self._changes:
                if change.operation != operation or change.before is not before:
                    continue
                change.seen += 1
                if change.seen == change.nth:
                    due.append(change)
        for change in due:  # outside the lock: a change calls the emulator's own methods
            change.change()
