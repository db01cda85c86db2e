"""The changing calls: CreateSnapshot, StopInstances, DeleteInstances and
ModifyInstanceAutoReleaseTime, each one ECS call through the caller's budgets."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alibabacloud_ecs20140526 import models as ecs_models

from ecs_lifecycle.ecs.protocol import BatchItemResult
from ecs_lifecycle.ecs.retry import Caller, sender
from ecs_lifecycle.model import format_api_time

if TYPE_CHECKING:
    from alibabacloud_ecs20140526.client import Client as EcsClient


def create_snapshot(
    caller: Caller,
    region: str,
    disk_id: str,
    *,
    name: str,
    description: str,
    tags: Sequence[tuple[str, str]],
    client_token: str,
    retention_days: int | None = None,
) -> str:
    """Start a snapshot of one disk; returns its id (it is `progressing` at first).

    Raises:
        EcsApiError: e.g. QuotaExceed.Snapshot, IncorrectDiskStatus.CreatingSnapshot.
    """
    request = ecs_models.CreateSnapshotRequest(
        # CreateSnapshot has no RegionId: the region is the endpoint's (the client's).
        disk_id=disk_id,
        snapshot_name=name,
        description=description,
        tag=[ecs_models.CreateSnapshotRequestTag(key=key, value=value) for key, value in tags]
        or None,
        client_token=client_token,
        retention_days=retention_days,
    )
    response = caller.call("CreateSnapshot", region, sender("create_snapshot", request))
    return str(response.body.snapshot_id)


def stop_instances(
    caller: Caller, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
) -> list[BatchItemResult]:
    """Stop up to 100 instances, each on its own (SuccessFirst): one result per instance."""
    request = ecs_models.StopInstancesRequest(
        region_id=region,
        instance_id=list(instance_ids),
        force_stop=force,
        stopped_mode=stopped_mode,
        batch_optimization="SuccessFirst",
    )
    response = caller.call("StopInstances", region, sender("stop_instances", request))
    request_id = response.body.request_id
    answers = response.body.instance_responses
    results = []
    for item in answers.instance_response if answers and answers.instance_response else []:
        code = str(item.code or "")
        results.append(
            BatchItemResult(item.instance_id, code == "200", code, item.message or "", request_id)
        )
    answered = {result.instance_id for result in results}
    results.extend(
        BatchItemResult(instance_id, False, "NoAnswer", "ECS gave no result for it", request_id)
        for instance_id in instance_ids
        if instance_id not in answered
    )
    return results


def delete_instances(
    caller: Caller, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
) -> str | None:
    """Release up to 100 instances in one all-or-nothing call; returns the request id.

    Raises:
        EcsApiError: the call failed (for every instance in it).
    """
    request = ecs_models.DeleteInstancesRequest(
        region_id=region,
        instance_id=list(instance_ids),
        force=force,
        terminate_subscription=False,
        client_token=client_token,
    )
    response = caller.call("DeleteInstances", region, sender("delete_instances", request))
    return str(response.body.request_id) if response.body.request_id else None


def modify_auto_release_time(
    caller: Caller,
    region: str,
    instance_id: str,
    release_at: Callable[[], datetime | None] | datetime | None,
) -> datetime | None:
    """Set the auto-release time, or cancel it when the time is None (parameter omitted).

    `release_at` may be a function, called as each attempt is sent: a time computed from the
    clock then (the earliest minute ECS allows) stays valid however long retries took.
    Returns the time sent in the successful attempt, to the minute.
    """
    sent: list[datetime | None] = [None]

    def send(client: EcsClient) -> Any:
        moment = release_at() if callable(release_at) else release_at
        sent[0] = moment.replace(second=0, microsecond=0) if moment is not None else None
        request = ecs_models.ModifyInstanceAutoReleaseTimeRequest(
            region_id=region,
            instance_id=instance_id,
            # None omits the parameter, which is what cancels; "" would not be the same.
            auto_release_time=format_api_time(moment) if moment is not None else None,
        )
        return client.modify_instance_auto_release_time(request)

    caller.call("ModifyInstanceAutoReleaseTime", region, send)
    return sent[0]
