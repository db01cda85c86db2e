"""Structured logging: one JSON line per decision, never whole events, responses or secrets.

A decision's line is written when the decision is carried out (the executor reports each result
as it is final), not at the end of the run; the run ends with one `summary` line. A release
that waits logs `progress` lines meanwhile.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from ecs_lifecycle.model import InstanceResult, RunSummary
    from ecs_lifecycle.progress import ReleaseProgress

LOGGER: Final = logging.getLogger("ecs_lifecycle")
_NOISY_LIBRARIES: Final = ("urllib3", "requests", "alibabacloud_credentials", "darabonba", "Tea")


def quiet_sdk_logs() -> None:
    """SDK and HTTP libraries log requests at DEBUG/INFO; keep them to warnings."""
    for name in _NOISY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


def log_line(event: str, **fields: Any) -> None:
    LOGGER.info(json.dumps({"event": event, **fields}, sort_keys=True, default=str))


def log_result(summary: RunSummary, result: InstanceResult) -> None:
    log_line(
        "decision",
        function=summary.function.value,
        dry_run=summary.dry_run,
        trigger=summary.trigger,
        **result.to_dict(),
    )


def log_progress(summary: RunSummary, progress: ReleaseProgress) -> None:
    """Where a waiting release stands (the executor spaces these out)."""
    log_line(
        "progress",
        function=summary.function.value,
        trigger=summary.trigger,
        **{**progress.to_dict(), "at": progress.at.isoformat()},
    )


def log_summary(summary: RunSummary) -> None:
    """The run's last line: its counts (each decision had its own line as it was carried out)."""
    counts = summary.to_dict()["counts"]
    log_line(
        "summary",
        function=summary.function.value,
        dry_run=summary.dry_run,
        trigger=summary.trigger,
        regions=list(summary.regions),
        counts=counts,
    )
