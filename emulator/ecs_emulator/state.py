"""The fleet: instances, disks and snapshots, indexed for a 10,000-instance benchmark.

Everything here runs under the emulator's single lock. Time-driven changes (Stopping ->
Stopped, Pending -> Running, auto-release) sit in a heap of due events that
:meth:`FleetState.settle` applies up to "now" before each request or read, so advancing a fake
clock is all a test does.

Instances are kept per region in creation order (``seq``), which is the order Describe* pages
through; a page starts with a binary search on ``seq`` instead of a scan of the whole fleet.
"""

from __future__ import annotations

import bisect
import hashlib
import heapq
import random
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final, Literal, Protocol, TypeVar

from ecs_emulator.actiontrail import TrailLog
from ecs_emulator.errors import ApiError, invalid_parameter
from ecs_emulator.faults import InstanceFailure
from ecs_emulator.model import Disk, Instance, ReleaseRecord, Snapshot

_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
# The first characters of real instance ids depend on the region (observed in public output).
_REGION_ID_PREFIX: Final[dict[str, str]] = {
    "cn-hangzhou": "bp",
    "cn-shanghai": "uf",
    "cn-beijing": "2z",
    "cn-shenzhen": "wz",
    "cn-hongkong": "j6",
    "ap-southeast-1": "t4",
    "eu-central-1": "gw",
    "us-west-1": "rj",
}
# Compact a region's ordered list once released instances outnumber live ones by this much.
_COMPACT_AFTER: Final = 1000


class Sequenced(Protocol):
    """Anything kept in creation order."""

    seq: int


_T = TypeVar("_T", bound=Sequenced)


TagFilterOverflow = Literal["truncate", "error"]


@dataclass
class EmulatorSettings:
    """Timings of the simulated lifecycle, in seconds, and the service's undocumented choices."""

    stop_delay: float = 30.0
    force_stop_delay: float | None = None  # None: same as stop_delay
    # Pending -> Running, and Starting -> Running after StartInstance(s). None: a Pending
    # instance stays Pending, and a started one is Running at once.
    start_delay: float | None = None
    snapshot_duration: float = 60.0
    # DescribeInstances with a Tag filter covers at most this many matching instances (reference
    # 7.1: "use ListTagResources beyond that"). What the service does past the cap is not
    # documented (reference 18), so both readings are emulated: "truncate" answers the first
    # `tag_filter_cap` matches in order and nothing more, "error" refuses the call.
    tag_filter_cap: int = 1000
    tag_filter_overflow: TagFilterOverflow = "truncate"


@dataclass(order=True)
class _DueEvent:
    due: datetime
    order: int
    kind: str = field(compare=False)
    resource_id: str = field(compare=False)


class FleetState:
    """All resources plus the indexes the operations need. Not thread-safe on its own."""

    def __init__(self, settings: EmulatorSettings, seed: int) -> None:
        self.settings = settings
        self._ids = random.Random(seed)
        self._token_salt = f"emulator-{seed}"
        self._seq = 0
        self.instances: dict[str, Instance] = {}
        self.released: dict[str, Instance] = {}
        self.release_log: list[ReleaseRecord] = []
        self._by_region: dict[str, list[Instance]] = {}
        self._dead_in_region: dict[str, int] = {}
        self.disks: dict[str, Disk] = {}
        self._disks_by_region: dict[str, list[Disk]] = {}
        self.disks_by_instance: dict[str, list[str]] = {}
        self.snapshots: dict[str, Snapshot] = {}
        self._snapshots_by_region: dict[str, list[Snapshot]] = {}
        self.failing_snapshot_disks: set[str] = set()
        self.fail_all_snapshots = False
        # A RAM policy that denies ecs:TagResources, should RAM authorise CreateSnapshot's Tag.N
        # as tagging (undocumented): every CreateSnapshot with tags is Forbidden.RAM.
        self.refuse_tagged_snapshots = False
        self.failures: list[InstanceFailure] = []
        # (operation, client token) -> (parameter fingerprint, response body). Tokens never
        # expire here: ECS's idempotence page ("How to ensure idempotence",
        # help.aliyun.com/document_detail/25693, and the API reference pages) states no validity
        # period, only that a reused token with the same parameters gets the first result and
        # with other parameters IdempotentParameterMismatch. An expiry would be invented.
        self.idempotency: dict[tuple[str, str], tuple[str, dict[str, object]]] = {}
        self._due: list[_DueEvent] = []
        self._event_order = 0
        # ActionTrail's records of the stop calls made here (and those tests add).
        self.trail = TrailLog()

    # ----- ids and tokens -------------------------------------------------------------
    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def new_id(self, prefix: str, region: str) -> str:
        region_part = _REGION_ID_PREFIX.get(region)
        if region_part is None:
            region_part = hashlib.sha256(region.encode()).hexdigest()[:2]
        while True:
            candidate = prefix + region_part + "".join(self._ids.choices(_ID_ALPHABET, k=18))
            taken = (self.instances, self.released, self.disks, self.snapshots)
            if not any(candidate in known for known in taken):
                return candidate

    def encode_token(self, position: int) -> str:
        """An opaque 32-hex-character NextToken (the shape real tokens have)."""
        tail = f"{position:08x}"
        check = hashlib.md5(f"{self._token_salt}:{tail}".encode(), usedforsecurity=False)
        return check.hexdigest()[:24] + tail

    def decode_token(self, token: str) -> int:
        tail = token[-8:]
        if len(token) != 32 or self.encode_token(int(tail, 16) if _is_hex(tail) else -1) != token:
            # UNCONFIRMED code: the reference lists Invalid.NextToken only for ListTagResources.
            raise invalid_parameter("NextToken")
        return int(tail, 16)

    # ----- instances -----------------------------------------------------------------
    def add_instance(self, instance: Instance, disks: Sequence[Disk]) -> None:
        if instance.instance_id in self.instances or instance.instance_id in self.released:
            raise ValueError(f"instance {instance.instance_id} already exists")
        self.instances[instance.instance_id] = instance
        self._by_region.setdefault(instance.region, []).append(instance)
        for disk in disks:
            self.add_disk(disk)
        if instance.status == "Pending" and self.settings.start_delay is not None:
            self.schedule_transition(instance, self.settings.start_delay, instance.creation_time)
        if instance.auto_release_time is not None:
            self.schedule(instance.auto_release_time, "auto-release", instance.instance_id)

    def add_disk(self, disk: Disk) -> None:
        self.disks[disk.disk_id] = disk
        self._disks_by_region.setdefault(disk.region, []).append(disk)
        if disk.instance_id:
            self.disks_by_instance.setdefault(disk.instance_id, []).append(disk.disk_id)

    def find_instance(self, instance_id: str, region: str | None) -> Instance | None:
        instance = self.instances.get(instance_id)
        if instance is None or (region is not None and instance.region != region):
            return None
        return instance

    def region_instances(self, region: str) -> list[Instance]:
        return self._by_region.get(region, [])

    def live_count(self, region: str) -> int:
        return len(self._by_region.get(region, [])) - self._dead_in_region.get(region, 0)

    def release(self, instance: Instance, at: datetime, cause: str) -> None:
        """Release at once: gone from every Describe* from ``at`` on.

        How long a released instance stays visible after the call returns is UNCONFIRMED
        (reference 5.1: treat absence, or InvalidInstanceId.NotFound, as released), so the
        emulator does not invent a delay; the instance disappears immediately.
        """
        instance.released_at = at
        instance.release_cause = cause
        del self.instances[instance.instance_id]
        self.released[instance.instance_id] = instance
        self.release_log.append(ReleaseRecord(instance.instance_id, instance.region, at, cause))
        for disk_id in self.disks_by_instance.pop(instance.instance_id, []):
            disk = self.disks[disk_id]
            # Releasing a security-locked instance releases its disks even when they are marked
            # DeleteWithInstance=false (reference 3 and 18, from the security-lock API page).
            if disk.delete_with_instance or instance.security_locked:
                disk.released = True
                del self.disks[disk_id]
            else:
                # Kept disks become pay-as-you-go and unattached (DeleteInstance, ECS API reference:
                # https://help.aliyun.com/en/ecs/developer-reference/api-ecs-2014-05-26-deleteinstance).
                disk.instance_id = ""
        self._dead_in_region[instance.region] = self._dead_in_region.get(instance.region, 0) + 1
        self._compact(instance.region)

    def _compact(self, region: str) -> None:
        dead = self._dead_in_region.get(region, 0)
        if dead > _COMPACT_AFTER and dead > self.live_count(region):
            self._by_region[region] = [i for i in self._by_region[region] if not i.released]
            self._dead_in_region[region] = 0
            self._disks_by_region[region] = [
                d for d in self._disks_by_region.get(region, []) if not d.released
            ]

    # ----- time ------------------------------------------------------------------------
    def schedule(self, due: datetime, kind: str, resource_id: str) -> None:
        self._event_order += 1
        heapq.heappush(self._due, _DueEvent(due, self._event_order, kind, resource_id))

    def schedule_transition(self, instance: Instance, delay: float, start: datetime) -> None:
        instance.transition_done_at = start + timedelta(seconds=delay)
        self.schedule(instance.transition_done_at, "transition", instance.instance_id)

    def settle(self, now: datetime) -> None:
        """Apply every state change that is due at ``now``, in time order."""
        while self._due and self._due[0].due <= now:
            event = heapq.heappop(self._due)
            instance = self.instances.get(event.resource_id)
            if instance is None:
                continue
            if event.kind == "transition" and instance.transition_done_at == event.due:
                instance.transition_done_at = None
                if instance.status == "Stopping":
                    instance.status = "Stopped"
                elif instance.status in ("Pending", "Starting"):
                    instance.status = "Running"
                    instance.start_time = event.due
            elif event.kind == "auto-release" and instance.auto_release_time == event.due:
                # Auto-release is a system release: deletion protection does not block it.
                self.release(instance, event.due, "auto-release")

    # ----- deterministic failures -------------------------------------------------------
    def failure_for(self, resource_id: str, operation: str) -> ApiError | None:
        for failure in self.failures:
            matches = failure.resource_id == resource_id and failure.operation == operation
            if matches and failure.consume():
                return ApiError(failure.code, failure.status, failure.message)
        return None

    # ----- disks and snapshots ---------------------------------------------------------
    def region_disks(self, region: str) -> list[Disk]:
        return self._disks_by_region.get(region, [])

    def add_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshots[snapshot.snapshot_id] = snapshot
        self._snapshots_by_region.setdefault(snapshot.region, []).append(snapshot)

    def region_snapshots(self, region: str) -> list[Snapshot]:
        return self._snapshots_by_region.get(region, [])


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in string.hexdigits for c in text)


def page_by_position(
    items: Sequence[_T],
    *,
    after_seq: int,
    limit: int,
    keep: Callable[[_T], bool],
    count_total: bool,
) -> tuple[list[_T], int | None, int]:
    """Up to ``limit`` kept items with ``seq > after_seq``; the seq to resume after; the total.

    ``items`` must be sorted by ``seq``. The total needs a full scan, so callers that do not
    report it pass ``count_total=False``.
    """
    start = bisect.bisect_right(items, after_seq, key=lambda item: item.seq)
    page: list[_T] = []
    resume: int | None = None
    for item in _islice_from(items, start):
        if not keep(item):
            continue
        if len(page) == limit:
            resume = page[-1].seq
            break
        page.append(item)
    total = sum(1 for item in items if keep(item)) if count_total else len(page)
    return page, resume, total


def page_by_number(
    items: Iterable[_T], *, page_number: int, page_size: int, keep: Callable[[_T], bool]
) -> tuple[list[_T], int | None, int]:
    """Classic PageNumber/PageSize paging; also says where a NextToken would resume."""
    matching = [item for item in items if keep(item)]
    start = (page_number - 1) * page_size
    page = matching[start : start + page_size]
    resume = page[-1].seq if page and start + page_size < len(matching) else None
    return page, resume, len(matching)


def _islice_from(items: Sequence[_T], start: int) -> Iterator[_T]:
    for index in range(start, len(items)):
        yield items[index]
