"""The ECS gateway: the only module that talks to the Alibaba Cloud SDK.

It owns the SDK's request models and exceptions, and gives the rest of the package our own types:
`Instance` records (only the fields decisions need), per-instance batch results, and `EcsApiError`
for failures that retrying will not fix. Every call is paced (a calls-per-second budget, since the
account's ECS quota is shared with the console and every other tool) and retried with tenacity,
honouring the server's `x-acs-retry-after`, on two budgets (`RetryPolicy`):

- throttling (`Throttling*`, HTTP 429): ECS counts its quota per API, per region, per account and
  per minute, and a call throttled at minute T may pass from minute T+1 (ECS API throttling,
  https://www.alibabacloud.com/help/en/elastic-compute-service/latest/api-throttling). So a
  throttled call is retried until the end of the minute after the one it was first
  throttled in, with backoff and jitter, instead of failing within seconds of a busy minute;
- other transient failures (5xx answers, timeouts, dropped connections, non-JSON pages): a few
  attempts with capped exponential backoff and full jitter, a budget of seconds.

Both are bounded by the run's deadline: no attempt starts after it (the first one included), and a
wait that would end past it is not slept; the call gives up with its last error instead (or
`DeadlineExceeded` when no attempt was made). A stop request (a local run's first Ctrl-C) ends
them the same way, with `Interrupted`. Errors that will not change with time
(IncorrectInstanceStatus, ChargeTypeViolation, InvalidOperation.DeletionProtection, Forbidden.RAM,
InvalidParameter, ...) are never retried.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_ecs20140526 import models as ecs_models
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.models import Config
from Tea.exceptions import TeaException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_exponential,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Instance, format_api_time
from ecs_lifecycle.timeparse import floor_to_minute, parse_api_time

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.selection import TagSelector
    from ecs_lifecycle.settings import Settings

T = TypeVar("T")

PAGE_SIZE: Final = 100  # DescribeInstances MaxResults maximum (DescribeSnapshots' too)
BATCH_SIZE: Final = 100  # StopInstances / DeleteInstances / InstanceIds maximum
MAX_PAGES: Final = 1000  # a hard stop should a NextToken ever repeat
# DescribeInstances filters by tag over at most 1,000 matching resources; a filtered scan that
# reaches it (or is refused) is replaced by a scan of the region without the tag filter, filtered
# here, so nothing past the cap is missed.
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
# The code of a call given up because the run's time limit came first: the executor (execute/'s
# DEADLINE_CODE) reports work it did not start with the same code, so one code means "time ran out".
DEADLINE_CODE: Final = "DeadlineExceeded"
# A local run asked to stop (the CLI's first Ctrl-C): no call starts after it, and the executor
# reports the work it did not start with the same code.
INTERRUPTED_CODE: Final = "Interrupted"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to try: two budgets, both cut short by the run's deadline. Delays in seconds.

    Throttling: retried until the end of the `throttle_minutes`-th minute after the one the call
    was first throttled in (2: the rest of that minute and the whole next one, since ECS counts its
    quota per minute), with "equal jitter": each wait is half a step (`throttle_base_delay`
    doubling up to `throttle_max_delay`) plus a random part of up to the other half, so concurrent
    calls spread out instead of coming back together. `throttle_max_attempts` is a backstop
    should a server ask for tiny waits.
    Other transient failures: `max_attempts` attempts in all, full jitter under `base_delay`
    doubling up to `max_delay`. A server's `x-acs-retry-after` sets the wait instead, up to
    `max_retry_after`.
    """

    max_attempts: int = 8
    base_delay: float = 0.2
    max_delay: float = 10.0
    throttle_minutes: int = 2
    throttle_base_delay: float = 2.0
    throttle_max_delay: float = 20.0
    throttle_max_attempts: int = 40
    max_retry_after: float = 60.0


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


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """One snapshot, as far as waiting for it and reusing it need."""

    snapshot_id: str
    disk_id: str
    status: str  # progressing, accomplished or failed
    creation_time: datetime | None


class stop_when(stop_base):  # noqa: N801 - named like tenacity's own stop conditions
    """Stop retrying once `predicate` holds (here: the call's budget is spent, see `_give_up`)."""

    def __init__(self, predicate: Callable[[RetryCallState], bool]) -> None:
        self._predicate = predicate

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self._predicate(retry_state)


class _TransientError(Exception):
    """A failure that may pass: retried, then surfaced as its EcsApiError."""

    def __init__(self, error: EcsApiError, retry_after: float | None, *, throttled: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.throttled = throttled


@dataclass
class _Attempts:
    """What one call's attempts have met so far: how much of each retry budget is spent."""

    last_error: EcsApiError | None = None
    last_throttled: bool = False
    throttled_since: datetime | None = None
    throttled: int = 0
    other_failures: int = 0

    def record(self, failure: _TransientError, now: datetime) -> _TransientError:
        self.last_error = failure.error
        self.last_throttled = failure.throttled
        if failure.throttled:
            self.throttled += 1
            if self.throttled_since is None:
                self.throttled_since = now
        else:
            self.other_failures += 1
        return failure


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


class Gateway(Protocol):
    """The ECS operations the executor and the handler use: the seam between them and the SDK.

    `EcsGateway` is the real one; tests also use an in-memory twin (tests/twin.py), and one
    contract test (tests/contract/) holds both to the same answers. Every method raises
    `EcsApiError` for a failure that retrying did not fix.
    """

    def describe_regions(self, asked_in: str) -> frozenset[str]: ...

    def describe_instances(
        self,
        region: str,
        *,
        instance_ids: Sequence[str] | None = None,
        tags: TagSelector | None = None,
    ) -> Iterable[Instance]: ...

    def describe_disks(self, region: str, instance_id: str) -> list[DiskInfo]: ...

    def describe_snapshots(
        self, region: str, snapshot_ids: Sequence[str]
    ) -> list[SnapshotInfo]: ...

    def describe_tagged_snapshots(
        self, region: str, key: str, value: str
    ) -> list[SnapshotInfo]: ...

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
    ) -> str: ...

    def stop_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, stopped_mode: str
    ) -> list[BatchItemResult]: ...

    def delete_instances(
        self, region: str, instance_ids: Sequence[str], *, force: bool, client_token: str
    ) -> str | None: ...

    def modify_auto_release_time(
        self,
        region: str,
        instance_id: str,
        release_at: Callable[[], datetime | None] | datetime | None,
    ) -> datetime | None: ...


# How a run gets its gateway: from the settings, the clock and the run's deadline.
GatewayFactory = Callable[["Settings", "Clock", "datetime | None"], Gateway]


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
        self._client_for_region = client_for_region
        self._stop_requested = stop_requested
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
        within_cap = self._tag_filtered_scan(region, tags)
        if within_cap is not None:
            yield from within_cap
            return
        for instance in self._describe_pages(region, instance_ids=None, tags=None):
            if tags.matches(instance):
                yield instance

    def _tag_filtered_scan(self, region: str, tags: TagSelector) -> list[Instance] | None:
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
            for instance in self._describe_pages(region, instance_ids=None, tags=tags):
                found.append(instance)
                if len(found) >= TAG_FILTER_CAP:
                    return None
        except EcsApiError as error:
            if error.status is not None and 400 <= error.status < 500:
                return None
            raise
        return found

    def _describe_pages(
        self,
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

        for body in self._pages("DescribeInstances", region, "describe_instances", request_for):
            listed = body.instances.instance if body.instances and body.instances.instance else []
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
            DiskInfo(str(item.disk_id))
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
        self,
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

        self._call("ModifyInstanceAutoReleaseTime", region, send)
        return sent[0]

    # --- plumbing ----------------------------------------------------------------------------

    def _client(self, region: str) -> EcsClient:
        with self._clients_lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._client_for_region(region)
            return client

    def _call(self, operation: str, region: str, send: Callable[[EcsClient], Any]) -> Any:
        """One ECS call, retried within its budgets and the run's deadline.

        Raises:
            EcsApiError: a final error; the last transient one once a budget is spent; or
                DEADLINE_CODE when the deadline passed before any attempt could start.
        """
        client = self._client(region)
        attempts = _Attempts()
        retrying = Retrying(
            stop=stop_when(lambda state: self._give_up(state, attempts)),
            wait=self._wait,
            retry=retry_if_exception_type(_TransientError),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    # Before pacing (no wait for a slot that cannot be used) and after it, the
                    # moment the request would leave: FC kills the run at its limit, so nothing
                    # starts that might not be seen through.
                    self._check_deadline(operation, attempts)
                    self._pacer.acquire()
                    self._check_deadline(operation, attempts)
                    try:
                        return send(client)
                    except TeaException as exc:
                        error = _translate(operation, exc)
                        if isinstance(error, _TransientError):
                            raise attempts.record(error, self._clock.now()) from None
                        raise error from None
        except _TransientError as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _past_deadline(self) -> bool:
        return self._deadline is not None and self._clock.now() >= self._deadline

    def _interrupted(self) -> bool:
        return self._stop_requested is not None and self._stop_requested()

    def _check_deadline(self, operation: str, attempts: _Attempts) -> None:
        """Give up once a stop was asked for or the deadline has passed.

        With the last error, else Interrupted or DeadlineExceeded: no attempt starts after either.
        """
        if self._interrupted():
            raise attempts.last_error or EcsApiError(
                operation,
                INTERRUPTED_CODE,
                "not attempted: the run was interrupted (Ctrl-C) first; a re-run picks it up",
            )
        if self._past_deadline():
            raise attempts.last_error or EcsApiError(
                operation,
                DEADLINE_CODE,
                "not attempted: the run reached its deadline (the function's time limit less a "
                "margin) first; a retry picks it up",
            )

    def _give_up(self, state: RetryCallState, attempts: _Attempts) -> bool:
        """Whether the call stops after this failure; tenacity has just chosen the next wait.

        A wait that would end at or past the deadline is not slept: the attempt after it could
        not start anyway, and sleeping it would only hold the run until FC kills it.
        """
        if self._interrupted():
            return True
        now = self._clock.now()
        if (
            self._deadline is not None
            and now + timedelta(seconds=state.upcoming_sleep) >= self._deadline
        ):
            return True
        policy = self._retry
        if attempts.last_throttled and attempts.throttled_since is not None:
            window_end = floor_to_minute(attempts.throttled_since) + timedelta(
                minutes=policy.throttle_minutes
            )
            return now >= window_end or attempts.throttled >= policy.throttle_max_attempts
        return attempts.other_failures >= policy.max_attempts

    def _wait(self, state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        policy = self._retry
        if isinstance(error, _TransientError) and error.retry_after is not None:
            return min(error.retry_after, policy.max_retry_after)
        if isinstance(error, _TransientError) and error.throttled:
            # Equal jitter: a fixed half keeps the attempts within the throttle window few, the
            # random half keeps concurrent calls from coming back in step.
            half = policy.throttle_base_delay / 2
            cap = policy.throttle_max_delay / 2
            fixed = wait_exponential(multiplier=half, max=cap)
            jitter = wait_random_exponential(multiplier=half, max=cap)
            return float(fixed(state) + jitter(state))
        backoff = wait_random_exponential(multiplier=policy.base_delay, max=policy.max_delay)
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
        return _TransientError(error, None, throttled=False)
    error = EcsApiError(operation, str(code), message or "no message", request_id, status)
    if is_transient(error):
        retry_after = (
            retry_after_ms / 1000.0
            if isinstance(retry_after_ms, int) and retry_after_ms > 0
            else None
        )
        return _TransientError(error, retry_after, throttled=is_throttling(error))
    return error


def is_transient(error: EcsApiError) -> bool:
    """Whether `error` may pass with time (throttling, 5xx, the network), not a verdict.

    The gateway retries these; when one still surfaces, retries ran out, and a caller must not
    read it as a verdict on the instances in the call (e.g. split a batch to find a culprit).
    """
    code, status = error.code, error.status
    return (
        is_throttling(error)
        or code in RETRYABLE_CODES
        or (isinstance(status, int) and status >= 500 and code not in NEVER_RETRIED_5XX)
    )


def is_throttling(error: EcsApiError) -> bool:
    """Whether ECS refused the call for its quota (retried on the throttling budget)."""
    return error.code.startswith("Throttling") or error.status == 429


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


def client_config(
    credential: CredentialClient, region: str, endpoint: str | None, protocol: str
) -> Config:
    """One Alibaba SDK client's configuration (ECS's or ActionTrail's): credentials from the
    default chain only, the region's endpoint unless one is set, timeouts that end a stuck call."""
    return Config(
        credential=credential,
        region_id=region,
        endpoint=endpoint,
        protocol=protocol,
        connect_timeout=5000,
        read_timeout=15000,
    )


def make_gateway(
    settings: Settings,
    clock: Clock,
    deadline: datetime | None = None,
    stop_requested: Callable[[], bool] | None = None,
) -> EcsGateway:
    """The gateway for a run: credentials only from the default chain (FC's role variables).

    `stop_requested` (a local run's Ctrl-C) ends retries and starts no call once it is true.
    """
    credential = CredentialClient()

    def client_for_region(region: str) -> EcsClient:
        return EcsClient(client_config(credential, region, settings.endpoint, settings.protocol))

    return EcsGateway(
        client_for_region,
        clock=clock,
        calls_per_second=settings.calls_per_second,
        deadline=deadline,
        stop_requested=stop_requested,
    )
