"""The ActionTrail gateway: the only module that talks to the ActionTrail SDK (2020-07-06).

ECS's DescribeInstances has no stop time, so how long an instance has been Stopped comes from
ActionTrail's records of the StopInstance and StopInstances calls (console stops are recorded
under the same event names); nor does it say when a tag was written, so the anchor of the minimum
notice comes from the records of the TagResources and AddTags calls. What the API takes and
answers, and the sources, are in docs/actiontrail.md. The look-ups are batched: one query per
event name and time range, paged (50 events a page), for a whole region, never one call per
instance, so the number of calls grows with the events, not with the fleet.

Doubt keeps: a failure that outlives its retries, the run's deadline, or an answer that cannot
be read gives `StopRecords` with a `problem`, and the planner then keeps every instance that
only the records could have released. Nothing here raises for an ActionTrail failure.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Final

from alibabacloud_actiontrail20200706 import models as trail_models
from alibabacloud_actiontrail20200706.client import Client as TrailClient
from alibabacloud_credentials.client import Client as CredentialClient
from Tea.exceptions import TeaException
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    wait_random_exponential,
)

from ecs_lifecycle.ecs import INTERRUPTED_CODE, Pacer, client_config, stop_when
from ecs_lifecycle.errors import EcsLifecycleError, InvalidInputError
from ecs_lifecycle.events import tag_call_instances
from ecs_lifecycle.model import StopRecords, TagWrites
from ecs_lifecycle.planning.release_time import NOTICE_EVENT_NAMES
from ecs_lifecycle.settings import STOP_RECORD_RETENTION
from ecs_lifecycle.timeparse import parse_api_time

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.settings import Settings

# The calls that stop an instance, as ActionTrail names their events (API and console alike).
STOP_EVENT_NAMES: Final = ("StopInstance", "StopInstances")
PAGE_SIZE: Final = 50  # LookupEvents MaxResults: 1 to 50
# One query covers at most 30 days (an earlier revision of the LookupEvents page); the 90 days
# are asked for in three ranges, which costs two calls more a region and holds either way.
MAX_RANGE: Final = timedelta(days=30)
# Records at the very edge of the retention may be dropped while a run pages through them.
RETENTION_MARGIN: Final = timedelta(hours=1)
CALLS_PER_SECOND: Final = 2.0  # LookupEvents: "at most twice per second"
MAX_PAGES: Final = 1000
MAX_ATTEMPTS: Final = 6
TRANSIENT_CODES: Final = frozenset(
    {"ServiceUnavailable", "InternalError", "NetworkError", "Throttling"}
)
_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%SZ"


class ActionTrailError(EcsLifecycleError):
    """A LookupEvents call failed, or answered something this module cannot read."""

    def __init__(self, code: str, message: str, request_id: str | None = None) -> None:
        self.code = code
        self.message = message
        self.request_id = request_id
        where = f" (request id {request_id})" if request_id else ""
        super().__init__(f"LookupEvents failed: {code}: {message}{where}")


class _TransientError(Exception):
    def __init__(self, error: ActionTrailError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True, slots=True)
class StopEvent:
    """One successful stop call, as far as the decisions need it."""

    time: datetime
    instance_ids: tuple[str, ...]


class StopTrail:
    """Reads the stop records of whole regions from ActionTrail.

    Once `stop_requested` answers true (a local run's Ctrl-C), no look-up or retry starts, as at
    the deadline: the waits end at once then, so going on would page unpaced.
    """

    def __init__(
        self,
        client_for_region: Callable[[str], TrailClient],
        *,
        clock: Clock,
        deadline: datetime | None = None,
        stop_requested: Callable[[], bool] | None = None,
    ) -> None:
        self._client_for_region = client_for_region
        self._clock = clock
        self._deadline = deadline
        self._stop_requested = stop_requested
        self._pacer = Pacer(CALLS_PER_SECOND, clock)
        self._lock = threading.Lock()

    def last_stops(self, regions: Sequence[str], now: datetime) -> StopRecords:
        """The last proven stop of every instance stopped in `regions` in the last 90 days.

        Never raises for ActionTrail's failures: they come back as the records' `problem`.
        """
        since = now - STOP_RECORD_RETENTION + RETENTION_MARGIN
        last: dict[str, datetime] = {}
        try:
            for region in regions:
                client = self._client_for_region(region)
                for name in STOP_EVENT_NAMES:
                    for event in self._stop_events(client, name, since, now):
                        for instance_id in event.instance_ids:
                            if instance_id not in last or last[instance_id] < event.time:
                                last[instance_id] = event.time
        except ActionTrailError as error:
            return StopRecords(since=since, problem=f"ActionTrail: {error}")
        return StopRecords(since=since, last_stop=last)

    def last_tag_writes(self, regions: Sequence[str], since: datetime, now: datetime) -> TagWrites:
        """The last tag call (TagResources, AddTags, UntagResources, RemoveTags) of every
        instance tagged in `regions` from `since` to `now`: the anchor of the minimum notice
        (docs/actiontrail.md; planning.NOTICE_EVENT_NAMES).

        Never raises for ActionTrail's failures: they come back as the writes' `problem`.
        """
        last: dict[str, datetime] = {}
        try:
            for region in regions:
                client = self._client_for_region(region)
                for name in NOTICE_EVENT_NAMES:
                    for moment, ids in self._tag_writes(client, name, since, now):
                        for instance_id in ids:
                            if instance_id not in last or last[instance_id] < moment:
                                last[instance_id] = moment
        except ActionTrailError as error:
            return TagWrites(since=since, problem=f"ActionTrail: {error}")
        return TagWrites(since=since, written=last)

    def _tag_writes(
        self, client: TrailClient, name: str, since: datetime, until: datetime
    ) -> Iterator[tuple[datetime, tuple[str, ...]]]:
        start = since
        while start < until:
            end = min(start + MAX_RANGE, until)
            for raw in self._events(client, name, start, end):
                written = read_tag_write(raw, name)
                if written is not None:
                    yield written
            start = end

    def _stop_events(
        self, client: TrailClient, name: str, since: datetime, until: datetime
    ) -> Iterator[StopEvent]:
        start = since
        while start < until:
            end = min(start + MAX_RANGE, until)
            for raw in self._events(client, name, start, end):
                event = read_stop_event(raw, name)
                if event is not None:
                    yield event
            start = end

    def _events(
        self, client: TrailClient, name: str, start: datetime, end: datetime
    ) -> Iterator[Mapping[str, Any]]:
        """Every event named `name` from `start` to `end`, following NextToken.

        The same parameters go with every page, as the API requires.
        """
        next_token: str | None = None
        for _ in range(MAX_PAGES):
            request = trail_models.LookupEventsRequest(
                start_time=start.astimezone(timezone.utc).strftime(_TIME_FORMAT),
                end_time=end.astimezone(timezone.utc).strftime(_TIME_FORMAT),
                lookup_attribute=[
                    trail_models.LookupEventsRequestLookupAttribute(key="EventName", value=name)
                ],
                max_results=str(PAGE_SIZE),
                next_token=next_token,
            )
            body = self._call(client, request)
            events = body.events
            if events is None:
                events = []
            if not isinstance(events, list):
                raise ActionTrailError("Unreadable", "Events is not a list", body.request_id)
            for raw in events:
                if not isinstance(raw, Mapping):
                    raise ActionTrailError("Unreadable", "an event is not an object")
                yield raw
            next_token = body.next_token or None
            if not next_token:
                return
        raise ActionTrailError("TooManyPages", f"more than {MAX_PAGES} pages of {name} events")

    def _call(self, client: TrailClient, request: Any) -> Any:
        """One LookupEvents call, retried with backoff, never started past the deadline."""
        retrying = Retrying(
            stop=stop_when(self._give_up),
            wait=wait_random_exponential(multiplier=0.5, max=8.0),
            retry=retry_if_exception_type(_TransientError),
            sleep=self._clock.sleep,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    self._check_deadline()
                    self._pacer.acquire()
                    self._check_deadline()
                    try:
                        return client.lookup_events(request).body
                    except TeaException as exc:
                        error = translate(exc)
                        if is_transient(error):
                            raise _TransientError(error) from None
                        raise error from None
        except _TransientError as exc:
            raise exc.error from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _check_deadline(self) -> None:
        if self._interrupted():
            raise ActionTrailError(INTERRUPTED_CODE, "not attempted: the run was interrupted")
        if self._deadline is not None and self._clock.now() >= self._deadline:
            raise ActionTrailError(
                "DeadlineExceeded", "not attempted: the run reached its deadline first"
            )

    def _interrupted(self) -> bool:
        return self._stop_requested is not None and self._stop_requested()

    def _give_up(self, state: RetryCallState) -> bool:
        if state.attempt_number >= MAX_ATTEMPTS or self._interrupted():
            return True
        upcoming = timedelta(seconds=state.upcoming_sleep)
        return self._deadline is not None and self._clock.now() + upcoming >= self._deadline


def translate(exc: TeaException) -> ActionTrailError:
    """Our error for an SDK exception (the same fields ECS's answers carry)."""
    code = getattr(exc, "code", None)
    data = getattr(exc, "data", None)
    body = data if isinstance(data, dict) else {}
    request_id = getattr(exc, "request_id", None) or body.get("RequestId")
    if not code:
        inner = getattr(exc, "inner_exception", None)
        detail = type(inner).__name__ if inner is not None else type(exc).__name__
        return ActionTrailError("NetworkError", f"no usable answer ({detail})")
    message = str(body.get("Message") or getattr(exc, "message", "") or "no message")
    return ActionTrailError(str(code), message, request_id)


def is_transient(error: ActionTrailError) -> bool:
    """Throttling, 5xx and the network may pass; anything else is a verdict."""
    return error.code.startswith("Throttling") or error.code in TRANSIENT_CODES


def _successful_call_time(raw: Mapping[str, Any], name: str) -> datetime | None:
    """When a record's `name` call happened; None for a failed call.

    Raises:
        ActionTrailError: the record is of another call, or its time cannot be read.
    """
    if raw.get("eventName") != name:
        got = raw.get("eventName")
        raise ActionTrailError("Unreadable", f"asked for {name} events, got {got!r}")
    if raw.get("errorCode"):
        return None
    moment = parse_api_time(str(raw.get("eventTime") or ""))
    if moment is None:
        raise ActionTrailError("Unreadable", f"event time {raw.get('eventTime')!r}")
    return moment


def read_stop_event(raw: Mapping[str, Any], name: str) -> StopEvent | None:
    """A successful stop from one ActionTrail event; None for a failed call.

    Per-instance failures of a StopInstances call (`responseElements.InstanceResponses`, when
    the record carries them) leave those instances out.

    Raises:
        ActionTrailError: the event is not what was asked for, or cannot be read; every record
            of the run is then doubted.
    """
    moment = _successful_call_time(raw, name)
    if moment is None:
        return None
    ids = _requested_ids(raw.get("requestParameters"))
    if not ids:
        referenced = raw.get("referencedResources")
        listed = referenced.get("ACS::ECS::Instance") if isinstance(referenced, Mapping) else None
        ids = _id_list(listed)
    if not ids:
        raise ActionTrailError("Unreadable", f"a {name} event names no instance")
    failed = _failed_ids(raw.get("responseElements"))
    return StopEvent(moment, tuple(i for i in ids if i not in failed))


def read_tag_write(raw: Mapping[str, Any], name: str) -> tuple[datetime, tuple[str, ...]] | None:
    """When one tag-call record wrote tags, and on which instances; None for a failed call or one
    on another resource. The instances are read as the EventBridge event of the same call is
    (events.tag_call_instances), so the run the event triggered and a later run agree.

    Raises:
        ActionTrailError: the record is not what was asked for, or cannot be read; every record
            of the run is then doubted.
    """
    moment = _successful_call_time(raw, name)
    if moment is None:
        return None
    try:
        ids = tag_call_instances(dict(raw))
    except InvalidInputError as error:
        raise ActionTrailError("Unreadable", f"a {name} event: {error.problem}") from None
    return (moment, ids) if ids else None


def _requested_ids(parameters: Any) -> list[str]:
    """`InstanceId` in any shape a record uses: a string, a list, a JSON array, `InstanceId.N`."""
    if isinstance(parameters, str):
        try:
            parameters = json.loads(parameters)
        except ValueError:
            return []
    if not isinstance(parameters, Mapping):
        return []
    ids = _id_list(parameters.get("InstanceId"))
    numbered = [key for key in parameters if str(key).startswith("InstanceId.")]
    return ids + [str(parameters[key]) for key in numbered if isinstance(parameters[key], str)]


def _id_list(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                return _id_list(json.loads(text))
            except ValueError:
                return []
        return [text] if text else []
    if isinstance(value, list):
        return [str(item) for item in value if isinstance(item, str) and item]
    return []


def _failed_ids(response: Any) -> set[str]:
    """Instances a StopInstances record answers with a code other than 200."""
    if isinstance(response, str):
        try:
            response = json.loads(response)
        except ValueError:
            return set()
    if not isinstance(response, Mapping):
        return set()
    wrapper = response.get("InstanceResponses")
    items = wrapper.get("InstanceResponse") if isinstance(wrapper, Mapping) else wrapper
    if not isinstance(items, list):
        return set()
    return {
        str(item.get("InstanceId"))
        for item in items
        if isinstance(item, Mapping) and str(item.get("Code", "200")) != "200"
    }


def make_stop_trail(
    settings: Settings,
    clock: Clock,
    deadline: datetime | None = None,
    stop_requested: Callable[[], bool] | None = None,
    *,
    credential: Any = None,
) -> StopTrail:
    """The ActionTrail reader for a run: credentials from the default chain, as for ECS, unless
    `credential` is given (a run in a named account: the spoke role's, the same the ECS calls
    sign with, since ActionTrail answers for the account whose credentials sign the call).

    `stop_requested`: a local run's Ctrl-C; once true, no look-up starts.
    """
    if credential is None:
        credential = CredentialClient()

    def client_for_region(region: str) -> TrailClient:
        endpoint, protocol = settings.actiontrail_endpoint, settings.actiontrail_protocol
        return TrailClient(client_config(credential, region, endpoint, protocol))

    return StopTrail(
        client_for_region, clock=clock, deadline=deadline, stop_requested=stop_requested
    )
