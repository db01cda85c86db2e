"""The ECS gateway: the only module that talks to the Alibaba Cloud SDK.

It owns the SDK's request models and exceptions, and gives the rest of the package our own types:
`Instance` records (only the fields decisions need), per-instance batch results, and `EcsApiError`
for failures that retrying will not fix. Every call is paced (a calls-per-second budget, since the
account's ECS quota is shared with the console and every other tool) and retried on throttling,
5xx answers, timeouts and dropped connections, with capped exponential backoff and full jitter
(tenacity), honouring the server's `x-acs-retry-after`. Errors that will not change with time
(IncorrectInstanceStatus, ChargeTypeViolation, InvalidOperation.DeletionProtection, Forbidden.RAM,
InvalidParameter, ...) are never retried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, TypeVar

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import TeaException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_any,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Instance, format_api_time
from ecs_lifecycle.timeparse import parse_api_time

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.selection import TagSelector
    from ecs_lifecycle.settings import Settings

T = TypeVar("T")

PAGE_SIZE: Final = 100  # DescribeInstances MaxResults maximum (DescribeSnapshots' too)
BATCH_SIZE: Final = 100  # StopInstances / DeleteInstances / InstanceIds maximum
MAX_PAGES: Final = 1000  # a hard stop should a NextToken ever repeat
# DescribeInstances filters by tag over at most 1,000 matching resources; at that size we scan the
# region without the tag filter instead (and filter here), so nothing past the cap is missed.
TAG_FILTER_CAP: Final = 1000

RETRYABLE_CODES: Final = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Resource",
        "ServiceUnavailable",
        "InternalError",
        "OperationConflict",
        "InvalidOperation.Conflict",
        "IdempotentProcessing",
        "LastTokenProcessing",
        "NetworkError",
    }
)
# 5xx answers that are a verdict on the request, not a passing fault.
NEVER_RETRIED_5XX: Final = frozenset({"InvalidParameter"})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try. Delays in seconds."""

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0


@dataclass(frozen=True, slots=True)
class BatchItemResult:
    """One instance's answer inside a batch call."""

    instance_id: str
    ok: bool
    code: str
    message: str
    request_id: str | None


@dataclass(frozen=True, slots=True)
class DiskInfo:
    """One disk attached to an instance."""

    disk_id: str
    disk_type: str  # system or data


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot, as far as waiting for it and reusing it need."""

    snapshot_id: str
    disk_id: str
    status: str  # progressing, accomplished or failed
    progress: int  # percent; ECS sends "NN%"
    creation_time: datetime | None


class stop_when(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """Stop retrying once `predicate` holds (here: the run's deadline has passed)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


class _TransientError(Exception):
    """A failure that may pass: retried, then surfaced as its EcsApiError."""

    def __init__(self, error: EcsApiError, retry_after: float | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after


class Pacer:
    """Spaces calls at most `rate` per second across threads (a shared-quota budget)."""

    def __init__(self, rate: float, clock: Clock) -> None:
        self._interval = 1.0 / rate
        self._clock = clock
        self._lock = threading.Lock()
        self._next: float | None = None

    def acquire(self) -> None:
        with self._lock:
            now = self._clock.now().timestamp()
            slot = now if self._next is None else max(now, self._next)
            self._next = slot + self._interval
        if slot > now:
            self._clock.sleep(slot - now)


class EcsGateway:
    """Typed ECS operations for one account, over any number of regions."""

    def __init__(
        self,
        client_for_region: Callable[[str], EcsClient],
        *,
        clock: Clock,
        calls_per_second: float = 20.0,
        retry: RetryPolicy | None = None,
        deadline: datetime | None = None,
    ) -> None:
        self._client_for_region = client_for_region
        self._clients: dict[str, EcsClient] = {}
        self._clients_lock = threading.Lock()
        self._clock = clock
        self._pacer = Pacer(calls_per_second, clock)
        self._retry = retry or RetryPolicy()
        self._deadline = deadline
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
                request = ecs_models.DescribeRegionsRequest()
                send = _sender("describe_regions", request)
                regions = self._call("DescribeRegions", asked_in, send).body.regions
                listed = regions.region if regions else None
                self._regions = frozenset(str(item.region_id) for item in listed or [])
            return self._regions

    def describe_instances(
        self,
        region: str,
        *,
        instance_ids: Sequence[str] | None = None,
        tags: TagSelector | None = None,
    ) -> Iterator[Instance]:
        """Stream the instances matching ids and/or tags, 100 a page (ids: 100 a call)."""
        if instance_ids is not None:
            for start in range(0, len(instance_ids), BATCH_SIZE):
                chunk = list(instance_ids[start : start + BATCH_SIZE])
                yield from self._describe_pages(region, instance_ids=chunk, tags=tags)
            return
        if tags is None:
            yield from self._describe_pages(region, instance_ids=None, tags=None)
            return
        # The first page's TotalCount tells at once whether the tag filter is over its cap, so a
        # large selection wastes one call before the full scan instead of a whole filtered scan.
        found: list[Instance] = []
        totals: list[int] = []
        for instance in self._describe_pages(region, instance_ids=None, tags=tags, totals=totals):
            found.append(instance)
            if totals[0] >= TAG_FILTER_CAP or len(found) >= TAG_FILTER_CAP:
                break
        if len(found) < TAG_FILTER_CAP and not (totals and totals[0] >= TAG_FILTER_CAP):
            yield from found
            return
        del found
        for instance in self._describe_pages(region, instance_ids=None, tags=None):
            if tags.matches(instance):
                yield instance

    def _describe_pages(
        self,
        region: str,
        *,
        instance_ids: list[str] | None,
        tags: TagSelector | None,
        totals: list[int] | None = None,
    ) -> Iterator[Instance]:
        """Every page's instances; each page's TotalCount is appended to `totals` if given."""
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

        for body in self._pages("DescribeInstances", region, "describe_instances", request_for):
            listed = body.instances.instance if body.instances and body.instances.instance else []
            if totals is not None:
                totals.append(int(body.total_count or 0))
            for item in listed:
                yield _to_instance(item, region)

    def describe_disks(self, region: str, instance_id: str) -> list[DiskInfo]:
        """Every disk attached to `instance_id`, paged with MaxResults/NextToken."""

        def request_for(next_token: str | None) -> Any:
            return ecs_models.DescribeDisksRequest(
                region_id=region,
                instance_id=instance_id,
                max_results=PAGE_SIZE,
                next_token=next_token,
            )

        return [
            DiskInfo(str(item.disk_id), str(item.type or ""))
            for body in self._pages("DescribeDisks", region, "describe_disks", request_for)
            for item in (body.disks.disk if body.disks and body.disks.disk else [])
        ]

    def describe_snapshots(self, region: str, snapshot_ids: Sequence[str]) -> list[SnapshotInfo]:
        """The snapshots with these ids (100 ids a call); ids ECS does not know are left out."""
        found: list[SnapshotInfo] = []
        for start in range(0, len(snapshot_ids), BATCH_SIZE):
            chunk = list(snapshot_ids[start : start + BATCH_SIZE])
            # A JSON-array string, as DescribeInstances' InstanceIds.
            found.extend(self._snapshot_pages(region, snapshot_ids=json.dumps(chunk)))
        return found

    def describe_tagged_snapshots(self, region: str, key: str, value: str) -> list[SnapshotInfo]:
        """Every snapshot carrying tag `key`=`value` (how a re-run finds what it made before)."""
        tag = [ecs_models.DescribeSnapshotsRequestTag(key=key, value=value)]
        return list(self._snapshot_pages(region, tag=tag))

    def _snapshot_pages(
        self, region: str, *, snapshot_ids: str | None = None, tag: list[Any] | None = None
    ) -> Iterator[SnapshotInfo]:
        def request_for(next_token: str | None) -> Any:
            return ecs_models.DescribeSnapshotsRequest(
                region_id=region,
                snapshot_ids=snapshot_ids,
                tag=tag,
                max_results=PAGE_SIZE,
                next_token=next_token,
            )

        for body in self._pages("DescribeSnapshots", region, "describe_snapshots", request_for):
            listed = body.snapshots.snapshot if body.snapshots and body.snapshots.snapshot else []
            for item in listed:
                yield SnapshotInfo(
                    snapshot_id=str(item.snapshot_id),
                    disk_id=str(item.source_disk_id or ""),
                    status=str(item.status or ""),
                    progress=_percent(item.progress),
                    creation_time=parse_api_time(item.creation_time),
                )

    def _pages(
        self, operation: str, region: str, method: str, request_for: Callable[[str | None], Any]
    ) -> Iterator[Any]:
        """Each page's response body, following NextToken until it comes back empty.

        Raises:
            EcsApiError: more than MAX_PAGES pages (a NextToken that never ends).
        """
        next_token: str | None = None
        for _ in range(MAX_PAGES):
            body = self._call(operation, region, _sender(method, request_for(next_token))).body
            yield body
            next_token = body.next_token or None
            if not next_token:
                return
        raise EcsApiError(operation, "TooManyPages", f"more than {MAX_PAGES} pages in {region}")

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
        response = self._call("CreateSnapshot", region, _sender("create_snapshot", request))
        return str(response.body.snapshot_id)

    def stop_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
    ) -> list[BatchItemResult]:
        """Stop up to 100 instances, each on its own (SuccessFirst): one result per instance."""
        request = ecs_models.StopInstancesRequest(
            region_id=region,
            instance_id=list(instance_ids),
            force_stop=force,
            stopped_mode=stopped_mode,
            batch_optimization="SuccessFirst",
        )
        response = self._call("StopInstances", region, _sender("stop_instances", request))
        request_id = response.body.request_id
        answers = response.body.instance_responses
        results = []
        for item in answers.instance_response if answers and answers.instance_response else []:
            code = str(item.code or "")
            results.append(
                BatchItemResult(
                    item.instance_id, code == "200", code, item.message or "", request_id
                )
            )
        answered = {result.instance_id for result in results}
        results.extend(
            BatchItemResult(instance_id, False, "NoAnswer", "ECS gave no result for it", request_id)
            for instance_id in instance_ids
            if instance_id not in answered
        )
        return results

    def delete_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
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
        response = self._call("DeleteInstances", region, _sender("delete_instances", request))
        return str(response.body.request_id) if response.body.request_id else None

    def modify_auto_release_time(
        self, region: str, instance_id: str, release_at: datetime | None
    ) -> str | None:
        """Set the auto-release time, or cancel it when `release_at` is None (parameter omitted)."""
        request = ecs_models.ModifyInstanceAutoReleaseTimeRequest(
            region_id=region,
            instance_id=instance_id,
            # None omits the parameter, which is what cancels; "" would not be the same.
            auto_release_time=format_api_time(release_at) if release_at is not None else None,
        )
        response = self._call(
            "ModifyInstanceAutoReleaseTime",
            region,
            _sender("modify_instance_auto_release_time", request),
        )
        return str(response.body.request_id) if response.body.request_id else None

    # --- plumbing ----------------------------------------------------------------------------

    def _client(self, region: str) -> EcsClient:
        with self._clients_lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._client_for_region(region)
            return client

    def _call(self, operation: str, region: str, send: Callable[[EcsClient], Any]) -> Any:
        client = self._client(region)
        retrying = Retrying(
            stop=stop_any(
                stop_after_attempt(self._retry.max_attempts), stop_when(self._past_deadline)
            ),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._pacer.acquire()
                    try:
                        return send(client)
                    except TeaException as exc:
                        raise _translate(operation, exc) from None
        except _TransientError as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _past_deadline(self, _state: RetryCallState) -> bool:
        return self._deadline is not None and self._clock.now() >= self._deadline

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, _TransientError) and error.retry_after is not None:
            return min(error.retry_after, self._retry.max_delay)
        backoff = wait_random_exponential(
            multiplier=self._retry.base_delay, max=self._retry.max_delay
        )
        return float(backoff(state))


def _sender(method: str, request: Any) -> Callable[[EcsClient], Any]:
    """A call of SDK method `method` with `request`, bound now (not when a loop variable moves)."""

    def send(client: EcsClient) -> Any:
        return getattr(client, method)(request)

    return send


def _translate(operation: str, exc: TeaException) -> Exception:
    """Our error for an SDK exception: transient (retry it) or final."""
    code = getattr(exc, "code", None)
    data = getattr(exc, "data", None)
    body = data if isinstance(data, dict) else {}
    status = (
        getattr(exc, "status_code", None)
        or getattr(exc, "statusCode", None)
        or body.get("statusCode")
    )
    request_id = getattr(exc, "request_id", None) or body.get("RequestId")
    message = str(body.get("Message") or "")
    retry_after_ms = getattr(exc, "retry_after", None)
    if not code:
        # No parsable error body: a dropped connection, a timeout or a non-JSON error page.
        inner = getattr(exc, "inner_exception", None)
        detail = type(inner).__name__ if inner is not None else type(exc).__name__
        error = EcsApiError(operation, "NetworkError", f"no usable answer ({detail})", None, status)
        return _TransientError(error, None)
    error = EcsApiError(operation, str(code), message or "no message", request_id, status)
    retryable = (
        code in RETRYABLE_CODES
        or str(code).startswith("Throttling")
        or status == 429
        or (isinstance(status, int) and status >= 500 and code not in NEVER_RETRIED_5XX)
    )
    if retryable:
        retry_after = (
            retry_after_ms / 1000.0
            if isinstance(retry_after_ms, int) and retry_after_ms > 0
            else None
        )
        return _TransientError(error, retry_after)
    return error


def _percent(progress: Any) -> int:
    """`"NN%"` (how DescribeSnapshots reports progress) as a number; 0 when unreadable."""
    text = str(progress or "").strip().rstrip("%")
    return int(text) if text.isdigit() else 0


def _to_instance(item: Any, region: str) -> Instance:
    tags = item.tags.tag if item.tags and item.tags.tag else []
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
        name=str(item.instance_name or ""),
    )


def make_gateway(settings: Settings, clock: Clock, deadline: datetime | None = None) -> EcsGateway:
    """The gateway for a run: credentials only from the default chain (FC's role variables)."""
    credential = CredentialClient()

    def client_for_region(region: str) -> EcsClient:
        config = Config(
            credential=credential,
            region_id=region,
            endpoint=settings.endpoint,
            protocol=settings.protocol,
            connect_timeout=5000,
            read_timeout=15000,
        )
        return EcsClient(config)

    return EcsGateway(
        client_for_region,
        clock=clock,
        calls_per_second=settings.calls_per_second,
        deadline=deadline,
    )
