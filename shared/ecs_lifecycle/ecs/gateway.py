"""`EcsGateway`, the real `Gateway`: each operation is one function of reads.py or changes.py,
made through the gateway's one `Caller` (its pacing, retry budgets, deadline and stop request)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from ecs_lifecycle import defaults
from ecs_lifecycle.ecs import changes, reads
from ecs_lifecycle.ecs.clients import RegionClients, default_chain_clients
from ecs_lifecycle.ecs.protocol import BatchItemResult, DiskInfo, SnapshotInfo
from ecs_lifecycle.ecs.retry import Caller, Pacer, RetryPolicy

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client as EcsClient

    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.model import Instance
    from ecs_lifecycle.selection import TagSelector
    from ecs_lifecycle.settings import Settings


class EcsGateway:
    """Typed ECS operations for one account, over any number of regions."""

    def __init__(
        self,
        client_for_region: Callable[[str], EcsClient],
        *,
        clock: Clock,
        calls_per_second: float = defaults.CALLS_PER_SECOND,
        retry: RetryPolicy | None = None,
        deadline: datetime | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self._caller = Caller(
            RegionClients(client_for_region),
            clock=clock,
            pacer=Pacer(calls_per_second, clock),
            retry=retry or RetryPolicy(),
            deadline=deadline,
            stop_requested=stop_requested,
        )
        self._regions: frozenset[str] | None = None  # DescribeRegions' answer, asked once
        self._regions_lock = threading.Lock()

    # --- reads -------------------------------------------------------------------------------

    def describe_regions(self, asked_in: str) -> frozenset[str]:
        """The region ids ECS offers this account (DescribeRegions), asked once per gateway.

        A gateway serves one run, so the list is fresh each run and costs one call. The call has
        no RegionId: any region's endpoint answers with the whole list, so it goes to `asked_in`'s
        (a region known to exist, e.g. the function's own). Needs no RAM permission (API reference
        "DescribeRegions": "No authorization for this operation").
        """
        with self._regions_lock:
            if self._regions is None:
                self._regions = reads.describe_regions(self._caller, asked_in)
            return self._regions

    def describe_instances(
        self,
        region: str,
        *,
        instance_ids: Sequence[str] | None = None,
        tags: TagSelector | None = None,
    ) -> Iterator[Instance]:
        """Stream the instances matching ids and/or tags, 100 a page (ids: 100 a call)."""
        return reads.describe_instances(self._caller, region, instance_ids=instance_ids, tags=tags)

    def describe_disks(self, region: str, instance_id: str) -> list[DiskInfo]:
        """Every disk attached to `instance_id`, paged with MaxResults/NextToken."""
        return reads.describe_disks(self._caller, region, instance_id)

    def describe_snapshots(self, region: str, snapshot_ids: Sequence[str]) -> list[SnapshotInfo]:
        """The snapshots with these ids (100 ids a call); ids ECS does not know are left out."""
        return reads.describe_snapshots(self._caller, region, snapshot_ids)

    def describe_tagged_snapshots(self, region: str, key: str, value: str) -> list[SnapshotInfo]:
        """Every snapshot carrying tag `key`=`value` (how a re-run finds what it made before)."""
        return reads.describe_tagged_snapshots(self._caller, region, key, value)

    # --- changes -----------------------------------------------------------------------------

    def create_snapshot(
        self,
        region: str,
        disk_id: str,
        *,
        name: str,
        description: str,
        tags: Sequence[tuple[str, str]],
        client_token: str,
        retention_days: int | None = None,
    ) -> str:
        """Start a snapshot of one disk; returns its id (it is `progressing` at first)."""
        return changes.create_snapshot(
            self._caller,
            region,
            disk_id,
            name=name,
            description=description,
            tags=tags,
            client_token=client_token,
            retention_days=retention_days,
        )

    def stop_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
    ) -> list[BatchItemResult]:
        """Stop up to 100 instances, each on its own (SuccessFirst): one result per instance."""
        return changes.stop_instances(
            self._caller, region, instance_ids, force=force, stopped_mode=stopped_mode
        )

    def delete_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
    ) -> str | None:
        """Release up to 100 instances in one all-or-nothing call; returns the request id."""
        return changes.delete_instances(
            self._caller, region, instance_ids, force=force, client_token=client_token
        )

    def modify_auto_release_time(
        self,
        region: str,
        instance_id: str,
        release_at: Callable[[], datetime | None] | datetime | None,
    ) -> datetime | None:
        """Set the auto-release time, or cancel it when the time is None (parameter omitted)."""
        return changes.modify_auto_release_time(self._caller, region, instance_id, release_at)


def make_gateway(
    settings: Settings,
    clock: Clock,
    deadline: datetime | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> EcsGateway:
    """The gateway for a run: credentials only from the default chain (FC's role variables).

    `stop_requested` (a local run's Ctrl-C) ends retries and starts no call once it is true.
    """
    return EcsGateway(
        default_chain_clients(settings),
        clock=clock,
        calls_per_second=settings.calls_per_second,
        deadline=deadline,
        stop_requested=stop_requested,
    )
