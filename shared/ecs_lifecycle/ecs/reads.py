"""The reads: DescribeRegions, and DescribeInstances, DescribeDisks and DescribeSnapshots paged
with NextToken, turned into our own types (`Instance`, `DiskInfo`, `SnapshotInfo`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final

from alibabacloud_ecs20140526 import models as ecs_models

from ecs_lifecycle.ecs.protocol import BATCH_SIZE, DiskInfo, SnapshotInfo
from ecs_lifecycle.ecs.retry import Caller, sender
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Instance
from ecs_lifecycle.timeparse import parse_api_time

if TYPE_CHECKING:
    from ecs_lifecycle.selection import TagSelector

PAGE_SIZE: Final = 100  # DescribeInstances MaxResults maximum (DescribeSnapshots' too)
MAX_PAGES: Final = 1000  # a hard stop should a NextToken ever repeat
# DescribeInstances filters by tag over at most 1,000 matching resources; a filtered scan that
# reaches it (or is refused) is replaced by a scan of the region without the tag filter, filtered
# here, so nothing past the cap is missed.
TAG_FILTER_CAP: Final = 1000


def describe_regions(caller: Caller, asked_in: str) -> frozenset[str]:
    """The region ids ECS offers this account (DescribeRegions), sent to `asked_in`'s endpoint."""
    request = ecs_models.DescribeRegionsRequest()
    response = caller.call("DescribeRegions", asked_in, sender("describe_regions", request))
    regions = response.body.regions
    listed = regions.region if regions else None
    return frozenset(str(item.region_id) for item in listed or [])


def describe_instances(
    caller: Caller,
    region: str,
    *,
    instance_ids: Sequence[str] | None = None,
    tags: TagSelector | None = None,
) -> Iterator[Instance]:
    """Stream the instances matching ids and/or tags, 100 a page (ids: 100 a call)."""
    if instance_ids is not None:
        for start in range(0, len(instance_ids), BATCH_SIZE):
            chunk = list(instance_ids[start : start + BATCH_SIZE])
            yield from _describe_pages(caller, region, instance_ids=chunk, tags=tags)
        return
    if tags is None:
        yield from _describe_pages(caller, region, instance_ids=None, tags=None)
        return
    within_cap = _tag_filtered_scan(caller, region, tags)
    if within_cap is not None:
        yield from within_cap
        return
    for instance in _describe_pages(caller, region, instance_ids=None, tags=None):
        if tags.matches(instance):
            yield instance


def _tag_filtered_scan(caller: Caller, region: str, tags: TagSelector) -> list[Instance] | None:
    """Every instance matching `tags` as ECS's tag filter finds them, or None if it cannot.

    The filter covers at most TAG_FILTER_CAP resources, and what ECS does past that is not
    documented: it may cut the answer short or refuse the call. TotalCount is meaningless
    in NextToken mode (reference 7.1, 18), so only what the scan returns counts: reaching
    the cap, or a refusal (a 4xx answer), gives None and the caller scans the region without
    the filter. A refusal that was not about the cap (throttling that outlived its retries
    included) meets that scan too and is raised there. 5xx and network failures that outlived
    their retries are raised here.
    """
    found: list[Instance] = []
    try:
        for instance in _describe_pages(caller, region, instance_ids=None, tags=tags):
            found.append(instance)
            if len(found) >= TAG_FILTER_CAP:
                return None
    except EcsApiError as error:
        if error.status is not None and 400 <= error.status < 500:
            return None
        raise
    return found


def _describe_pages(
    caller: Caller,
    region: str,
    *,
    instance_ids: list[str] | None,
    tags: TagSelector | None,
) -> Iterator[Instance]:
    """Every page's instances, following NextToken."""
    # A JSON-array string, not a list: a list would be sent as InstanceIds.N.
    ids = json.dumps(instance_ids) if instance_ids is not None else None
    tag = (
        [ecs_models.DescribeInstancesRequestTag(key=k, value=v) for k, v in tags.conditions]
        if tags is not None
        else None
    )

    def request_for(next_token: str | None) -> Any:
        return ecs_models.DescribeInstancesRequest(
            region_id=region,
            max_results=PAGE_SIZE,
            next_token=next_token,
            instance_ids=ids,
            tag=tag,
        )

    for body in pages(caller, "DescribeInstances", region, "describe_instances", request_for):
        listed = body.instances.instance if body.instances and body.instances.instance else []
        for item in listed:
            yield _to_instance(item, region)


def describe_disks(caller: Caller, region: str, instance_id: str) -> list[DiskInfo]:
    """Every disk attached to `instance_id`, paged with MaxResults/NextToken."""

    def request_for(next_token: str | None) -> Any:
        return ecs_models.DescribeDisksRequest(
            region_id=region,
            instance_id=instance_id,
            max_results=PAGE_SIZE,
            next_token=next_token,
        )

    return [
        DiskInfo(str(item.disk_id))
        for body in pages(caller, "DescribeDisks", region, "describe_disks", request_for)
        for item in (body.disks.disk if body.disks and body.disks.disk else [])
    ]


def describe_snapshots(
    caller: Caller, region: str, snapshot_ids: Sequence[str]
) -> list[SnapshotInfo]:
    """The snapshots with these ids (100 ids a call); ids ECS does not know are left out."""
    found: list[SnapshotInfo] = []
    for start in range(0, len(snapshot_ids), BATCH_SIZE):
        chunk = list(snapshot_ids[start : start + BATCH_SIZE])
        # A JSON-array string, as DescribeInstances' InstanceIds.
        found.extend(_snapshot_pages(caller, region, snapshot_ids=json.dumps(chunk)))
    return found


def describe_tagged_snapshots(
    caller: Caller, region: str, key: str, value: str
) -> list[SnapshotInfo]:
    """Every snapshot carrying tag `key`=`value` (how a re-run finds what it made before)."""
    tag = [ecs_models.DescribeSnapshotsRequestTag(key=key, value=value)]
    return list(_snapshot_pages(caller, region, tag=tag))


def _snapshot_pages(
    caller: Caller, region: str, *, snapshot_ids: str | None = None, tag: list[Any] | None = None
) -> Iterator[SnapshotInfo]:
    def request_for(next_token: str | None) -> Any:
        return ecs_models.DescribeSnapshotsRequest(
            region_id=region,
            snapshot_ids=snapshot_ids,
            tag=tag,
            max_results=PAGE_SIZE,
            next_token=next_token,
        )

    for body in pages(caller, "DescribeSnapshots", region, "describe_snapshots", request_for):
        listed = body.snapshots.snapshot if body.snapshots and body.snapshots.snapshot else []
        for item in listed:
            yield SnapshotInfo(
                snapshot_id=str(item.snapshot_id),
                disk_id=str(item.source_disk_id or ""),
                status=str(item.status or ""),
                creation_time=parse_api_time(item.creation_time),
            )


def pages(
    caller: Caller,
    operation: str,
    region: str,
    method: str,
    request_for: Callable[[str | None], Any],
) -> Iterator[Any]:
    """Each page's response body, following NextToken until it comes back empty.

    Raises:
        EcsApiError: more than MAX_PAGES pages (a NextToken that never ends).
    """
    next_token: str | None = None
    for _ in range(MAX_PAGES):
        body = caller.call(operation, region, sender(method, request_for(next_token))).body
        yield body
        next_token = body.next_token or None
        if not next_token:
            return
    raise EcsApiError(operation, "TooManyPages", f"more than {MAX_PAGES} pages in {region}")


def _to_instance(item: Any, region: str) -> Instance:
    tags = item.tags.tag if item.tags and item.tags.tag else []
    locks = item.operation_locks.lock_reason if item.operation_locks else None
    return Instance(
        instance_id=str(item.instance_id),
        region=str(item.region_id or region),
        status=str(item.status or ""),
        charge_type=str(item.instance_charge_type or ""),
        deletion_protection=bool(item.deletion_protection),
        auto_release_time=parse_api_time(item.auto_release_time),
        creation_time=parse_api_time(item.creation_time),
        tags=tuple((str(tag.tag_key), str(tag.tag_value or "")) for tag in tags),
        spot_strategy=str(item.spot_strategy or "NoSpot"),
        start_time=parse_api_time(item.start_time),
        lock_reasons=tuple(str(lock.lock_reason) for lock in locks or [] if lock.lock_reason),
        name=str(item.instance_name or ""),
    )
