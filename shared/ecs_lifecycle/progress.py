"""Where a run's release pipeline stands: the executor reports it, the log writes it.

Below both `execute` (which counts) and `audit` (which logs), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ReleaseProgress:
    """Where a run's release pipeline stands, over all its regions."""

    at: datetime  # the run's clock when reported
    instances: int  # in the pipeline: changing release decisions, not a dry run
    stopping: int  # sent a stop (or found Stopping), not yet seen Stopped
    stopped: int  # seen Stopped by the run's polls so far
    snapshots: int  # snapshots started or reused so far
    snapshots_accomplished: int
    released: int
    kept: int  # the fresh read kept them (skipped)
    failed: int

    def to_dict(self) -> dict[str, object]:
        return {item.name: getattr(self, item.name) for item in fields(self)}
