"""Every default value, in one place: the settings, the planner's policy, the executor and the
gateway all read them from here, so a default changes in one line.

Each matches the environment setting of the same name (README, "Run options and settings").
"""

from __future__ import annotations

from datetime import timedelta, timezone
from typing import Final, Literal

StoppedMode = Literal["StopCharging", "KeepCharging"]
EndpointProtocol = Literal["https", "http"]

PROTECT_TAG: Final = "protected"
AUTO_RELEASE_TAG: Final = "auto-release"
SNAPSHOT_TAG: Final = "snapshot-before-release"
MAX_INSTANCES: Final = 100
# The first of each is the default.
STOPPED_MODES: Final[tuple[StoppedMode, ...]] = ("StopCharging", "KeepCharging")
PROTOCOLS: Final[tuple[EndpointProtocol, ...]] = ("https", "http")
CONCURRENCY: Final = 8  # parallel batches per region
CALLS_PER_SECOND: Final = 20  # the pacing budget, shared with every other tool on the account
POLL_SECONDS: Final = 5  # between status and snapshot polls
DEADLINE_MARGIN_SECONDS: Final = 15  # stop starting work this long before the time limit
TIMEOUT_SECONDS: Final = 900  # the time limit when neither the FC context nor FC_TIMEOUT gives one
KEEP_TAG: Final = "keep-until"  # an owner's override that expires by itself
TIME_ZONE: Final = timezone.utc  # the fleet's zone, for keep-until dates (TIME_ZONE)
MAX_KEEP_DAYS: Final = 30  # a keep-until further ahead still keeps, but is flagged
# Tag-derived release times get at least this much notice (MIN_NOTICE): a lifetime that has
# already passed when the tag is first read must not release the instance within the hour.
MIN_NOTICE: Final = timedelta(hours=24)
# A lifetime tag's release time is written to ECS only this close to it (AUTO_RELEASE_HORIZON):
# an instance that leaves the fleet before then has no ECS time to outlive it. It must exceed the
# reconcile's interval (hourly in s.yaml) plus ECS's 30-minute minimum, so a run writes it in time.
AUTO_RELEASE_HORIZON: Final = timedelta(hours=2)
OWNER_TAG: Final = "owner"  # whose instance it is, for notices and reports (OWNER_TAG)
# A notice run's lead time at most: a notice weeks ahead would describe a fleet that has changed.
MAX_NOTICE: Final = timedelta(days=7)
MAX_DIGEST: Final = timedelta(days=7)  # the longest window a digest may list
# Many accounts (account_settings.py): the hub's pace and cap, and the spoke session's length.
# FC's default quota is counted per second per region; 20 invocations a second stays well under it
# (the quota itself: UNCONFIRMED, see docs/multi-account.md).
FANOUT_INVOKES_PER_SECOND: Final = 20.0
FANOUT_MAX_TARGETS: Final = 2000  # targets (account x region) one scheduled run may dispatch
SPOKE_SESSION_SECONDS: Final = 900  # the shortest STS session; the provider refreshes it
