"""The ECS API emulator: an HTTP server on loopback that the unmodified Alibaba SDK talks to.

Built on pytest-httpserver's server base (werkzeug underneath), threaded so that concurrent
requests each see the injected latency instead of queueing. One request goes through:

1. parse: ``POST /`` with everything in the query string; the action from the ``x-acs-action``
   header, falling back to the ``Action`` parameter (legacy v2 signing);
2. authenticate (:mod:`ecs_emulator.auth`);
3. route: an unknown action gets POP's ``InvalidAction.NotFound``;
4. faults (:mod:`ecs_emulator.faults`): latency, then maybe an answer that never reaches the
   operation;
5. the operation (its service's room in :mod:`ecs_emulator.services`) under the state lock,
   after applying every time-driven change that is due;
6. record the call (business parameters only) and answer.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl

from pytest_httpserver.httpserver import HTTPServerBase
from werkzeug import Request, Response

from ecs_emulator.actiontrail import TrailLog
from ecs_emulator.auth import EmulatorCredentials, RequestVerifier, SignedRequest
from ecs_emulator.clock import Clock, FakeClock, SystemClock
from ecs_emulator.errors import ApiError, api_error
from ecs_emulator.faults import FaultDecision, FaultInjector, FaultKind, FaultRule, InstanceFailure
from ecs_emulator.fleet import DEFAULT_CREATION_AGE, DiskSpec, InstanceSpec, check_lock_reasons
from ecs_emulator.model import (
    POSTPAID_EXPIRED_TIME,
    CallRecord,
    Disk,
    DiskView,
    Instance,
    InstanceView,
    ReleaseRecord,
    SnapshotView,
)
from ecs_emulator.service import Call, Handler
from ecs_emulator.services import operation
from ecs_emulator.state import EmulatorSettings, FleetState
from ecs_emulator.wire import SIGNATURE_PARAMS, Params

JSON_CONTENT_TYPE: Final = "application/json;charset=utf-8"
_HOST_REGION: Final = re.compile(r"^ecs(?:-vpc)?[.-](?P<region>[a-z]+-[a-z0-9-]+)\.aliyuncs\.com")
_BAD_GATEWAY_PAGE: Final = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>Tengine</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_PRE_EFFECT_FAULTS: Final = (
    FaultKind.THROTTLE,
    FaultKind.UNAVAILABLE,
    FaultKind.INTERNAL_ERROR,
    FaultKind.DROP,
    FaultKind.NON_JSON,
)


class _EcsHttpServer(HTTPServerBase):
    """pytest-httpserver's threaded server with one handler for every request."""

    def __init__(self, host: str, port: int, emulator: EcsEmulator) -> None:
        super().__init__(host, port, threaded=True)
        self._emulator = emulator

    def dispatch(self, request: Request) -> Response:
        return self._emulator._handle(request)

    def application(self, request: Request) -> Response:
        # The base class keeps every request and response in ``self.log``; the emulator has its
        # own call log, and a benchmark makes tens of thousands of calls.
        request.get_data()
        return self.dispatch(request)


class EcsEmulator:
    """A local ECS 2014-05-26 API. See the package docstring for a tour."""

    def __init__(
        self,
        *,
        credentials: EmulatorCredentials | None = None,
        clock: Clock | None = None,
        stop_delay: float = 30.0,
        force_stop_delay: float | None = None,
        start_delay: float | None = None,
        snapshot_duration: float = 60.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._initial_credentials = credentials or EmulatorCredentials.default()
        self._initial_settings = EmulatorSettings(
            stop_delay=stop_delay,
            force_stop_delay=force_stop_delay,
            start_delay=start_delay,
            snapshot_duration=snapshot_duration,
        )
        self.seed = seed
        self._host = host
        self._port = port
        self._server: _EcsHttpServer | None = None
        self._lock = threading.RLock()
        self._clock: Clock = clock or SystemClock()
        self._credentials: list[EmulatorCredentials] = [self._initial_credentials]
        self._verifier = RequestVerifier(self._credentials)
        self._state = FleetState(replace(self._initial_settings), seed)
        self._calls: list[CallRecord] = []
        self._faults = FaultInjector()
        self._changes: list[_MidRunChange] = []
        self.internal_errors: list[BaseException] = []

    # ----- server lifecycle ------------------------------------------------------------
    def start(self) -> EcsEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        # werkzeug logs one INFO line per request to stderr; keep only warnings and errors.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = _EcsHttpServer(self._host, self._port, self)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> EcsEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint(self) -> str:
        """``host:port`` - what the SDK's ``Config.endpoint`` wants (no scheme)."""
        if self._server is None:
            raise RuntimeError("start the emulator first")
        return f"{self._server.format_host(self._host)}:{self._server.port}"

    # ----- configuration ---------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def settings(self) -> EmulatorSettings:
        """Lifecycle timings; change them between calls (``emu.settings.stop_delay = 0``)."""
        return self._state.settings

    @property
    def credentials(self) -> EmulatorCredentials:
        return self._credentials[0]

    def set_credentials(
        self, credentials: EmulatorCredentials, *others: EmulatorCredentials
    ) -> None:
        """Accept ``credentials`` (and ``others``) from now on, instead of the current ones."""
        with self._lock:
            self._credentials = [credentials, *others]
            self._verifier = RequestVerifier(self._credentials)

    def now(self) -> datetime:
        return self._clock.now()

    def advance(self, seconds: float) -> None:
        """Move a :class:`FakeClock` forward (a test convenience)."""
        if not isinstance(self._clock, FakeClock):
            raise TypeError("advance() needs the emulator to run on a FakeClock")
        self._clock.advance(seconds)

    def reset(self, *, clock: Clock | None = None) -> None:
        """Empty the fleet, the call log, faults and failures; restore constructor settings."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._state = FleetState(replace(self._initial_settings), self.seed)
            self._calls = []
            self._faults = FaultInjector()
            self._changes = []
            self._credentials = [self._initial_credentials]
            self._verifier = RequestVerifier(self._credentials)
            self.internal_errors = []

    # ----- fleet -------------------------------------------------------------------------
    def add_instance(
        self,
        *,
        region: str = "cn-hangzhou",
        instance_id: str | None = None,
        status: str = "Running",
        tags: dict[str, str] | None = None,
        charge_type: str = "PostPaid",
        spot_strategy: str = "NoSpot",
        deletion_protection: bool = False,
        auto_release_time: datetime | None = None,
        creation_time: datetime | None = None,
        name: str | None = None,
        disks: int | Sequence[DiskSpec] | None = None,
        expired: bool = False,
        resource_group_id: str = "",
        instance_type: str = "ecs.g7.large",
        zone: str | None = None,
        lock_reasons: Sequence[str] = (),
    ) -> InstanceView:
        """Add one instance (the defaults: a running, untagged pay-as-you-go instance).

        ``lock_reasons``: OperationLocks such as ``["security"]`` or ``["financial"]``, and what
        the service does with them (services/ecs/).
        """
        spec = InstanceSpec(
            region=region,
            instance_id=instance_id,
            status=status,
            tags=dict(tags or {}),
            charge_type=charge_type,
            spot_strategy=spot_strategy,
            deletion_protection=deletion_protection,
            auto_release_time=auto_release_time,
            creation_time=creation_time,
            name=name,
            disks=disks,
            expired=expired,
            resource_group_id=resource_group_id,
            instance_type=instance_type,
            zone=zone,
            lock_reasons=tuple(lock_reasons),
        )
        return self.add_fleet([spec])[0]

    def add_fleet(self, specs: Iterable[InstanceSpec]) -> list[InstanceView]:
        with self._lock:
            now = self._clock.now()
            return [self._add(spec, now).view() for spec in specs]

    def _add(self, spec: InstanceSpec, now: datetime) -> Instance:
        state = self._state
        instance_id = spec.instance_id or state.new_id("i-", spec.region)
        created = spec.creation_time or (now - DEFAULT_CREATION_AGE)
        if spec.charge_type == "PrePaid":
            expired_time = (
                now - timedelta(days=1) if spec.expired else created + timedelta(days=365)
            )
        else:
            expired_time = POSTPAID_EXPIRED_TIME
        zone = spec.zone or f"{spec.region}-h"
        instance = Instance(
            instance_id=instance_id,
            region=spec.region,
            zone=zone,
            name=spec.name or instance_id,
            status=spec.status,
            tags=dict(spec.tags),
            charge_type=spec.charge_type,
            spot_strategy=spec.spot_strategy,
            deletion_protection=spec.deletion_protection,
            auto_release_time=_to_minute(spec.auto_release_time),
            creation_time=created,
            expired_time=expired_time,
            resource_group_id=spec.resource_group_id,
            instance_type=spec.instance_type,
            seq=state.next_seq(),
            stopped_mode="KeepCharging" if spec.status == "Stopped" else "Not-applicable",
            start_time=None if spec.status == "Pending" else created,
            lock_reasons=list(dict.fromkeys(spec.lock_reasons)),
        )
        disks = self._disks_for(spec, instance, created)
        state.add_instance(instance, disks)
        # An instance added mid-transition finishes it, as one caught in flight would.
        if instance.status == "Stopping":
            state.schedule_transition(instance, state.settings.stop_delay, now)
        elif instance.status in ("Pending", "Starting") and state.settings.start_delay is not None:
            state.schedule_transition(instance, state.settings.start_delay, now)
        return instance

    def _disks_for(self, spec: InstanceSpec, instance: Instance, created: datetime) -> list[Disk]:
        disk_specs: Sequence[DiskSpec]
        if spec.disks is None:
            disk_specs = [DiskSpec(disk_type="system")]
        elif isinstance(spec.disks, int):
            if spec.disks < 1:
                raise ValueError("an instance has at least its system disk")
            disk_specs = [DiskSpec(disk_type="system")] + [
                DiskSpec() for _ in range(spec.disks - 1)
            ]
        else:
            disk_specs = spec.disks
        return [
            Disk(
                disk_id=self._state.new_id("d-", instance.region),
                region=instance.region,
                zone=instance.zone,
                instance_id=instance.instance_id,
                disk_type=disk_spec.disk_type,
                category=disk_spec.category,
                size_gib=disk_spec.size_gib,
                device=f"/dev/xvd{chr(ord('a') + position)}",
                creation_time=created,
                seq=self._state.next_seq(),
                delete_with_instance=disk_spec.delete_with_instance,
            )
            for position, disk_spec in enumerate(disk_specs)
        ]

    def update_instance(
        self,
        instance_id: str,
        *,
        status: str | None = None,
        tags: dict[str, str] | None = None,
        deletion_protection: bool | None = None,
        auto_release_time: datetime | None = None,
        cancel_auto_release: bool = False,
        lock_reasons: Sequence[str] | None = None,
    ) -> InstanceView:
        """Change an instance behind the API's back (what a console user or another tool does).

        ``lock_reasons`` replaces the instance's OperationLocks (``[]`` lifts them all), as ECS
        does when it locks an instance for security or overdue payment.
        """
        if lock_reasons is not None:
            check_lock_reasons(lock_reasons)
        with self._lock:
            self._settle()
            instance = self._state.instances.get(instance_id)
            if instance is None:
                raise KeyError(instance_id)
            if status is not None:
                instance.status = status
                instance.transition_done_at = None
            if tags is not None:
                instance.tags = dict(tags)
            if deletion_protection is not None:
                instance.deletion_protection = deletion_protection
            if lock_reasons is not None:
                instance.lock_reasons = list(dict.fromkeys(lock_reasons))
            if cancel_auto_release:
                instance.auto_release_time = None
            elif auto_release_time is not None:
                release_at = auto_release_time.astimezone(timezone.utc).replace(
                    second=0, microsecond=0
                )
                instance.auto_release_time = release_at
                self._state.schedule(release_at, "auto-release", instance_id)
            return instance.view()

    def attach_disk(self, instance_id: str, spec: DiskSpec | None = None) -> DiskView:
        """Attach a new data disk to an instance (what AttachDisk does), behind the API's back."""
        with self._lock:
            self._settle()
            instance = self._state.instances.get(instance_id)
            if instance is None:
                raise KeyError(instance_id)
            disk_spec = spec or DiskSpec()
            position = len(self._state.disks_by_instance.get(instance_id, []))
            disk = Disk(
                disk_id=self._state.new_id("d-", instance.region),
                region=instance.region,
                zone=instance.zone,
                instance_id=instance_id,
                disk_type=disk_spec.disk_type,
                category=disk_spec.category,
                size_gib=disk_spec.size_gib,
                device=f"/dev/xvd{chr(ord('a') + position)}",
                creation_time=self._clock.now(),
                seq=self._state.next_seq(),
                delete_with_instance=disk_spec.delete_with_instance,
            )
            self._state.add_disk(disk)
            return disk.view()

    def release_now(self, instance_id: str) -> None:
        """Release an instance outside the API (someone else did it, e.g. in the console)."""
        with self._lock:
            self._settle()
            instance = self._state.instances.get(instance_id)
            if instance is None:
                raise KeyError(instance_id)
            self._state.release(instance, self._clock.now(), "external")

    def _settle(self) -> None:
        self._state.settle(self._clock.now())

    def instance(self, instance_id: str, *, include_released: bool = False) -> InstanceView | None:
        """The instance as of now, or None once it is released (or if it never existed)."""
        with self._lock:
            self._settle()
            instance = self._state.instances.get(instance_id)
            if instance is None and include_released:
                instance = self._state.released.get(instance_id)
            return instance.view() if instance else None

    def instances(self, region: str | None = None) -> list[InstanceView]:
        """Live instances in creation order (of one region, or all)."""
        with self._lock:
            self._settle()
            return [
                i.view()
                for i in self._state.instances.values()
                if region is None or i.region == region
            ]

    @property
    def released_ids(self) -> dict[str, ReleaseRecord]:
        """Released instance ids, in release order, with when and how (call or auto-release)."""
        with self._lock:
            self._settle()
            return {record.instance_id: record for record in self._state.release_log}

    def disks(self, instance_id: str | None = None) -> list[DiskView]:
        with self._lock:
            self._settle()
            return [
                d.view()
                for d in self._state.disks.values()
                if instance_id is None or d.instance_id == instance_id
            ]

    def snapshots(
        self, *, instance_id: str | None = None, disk_id: str | None = None
    ) -> list[SnapshotView]:
        with self._lock:
            now = self._clock.now()
            return [
                s.view(now)
                for s in self._state.snapshots.values()
                if (instance_id is None or s.instance_id == instance_id)
                and (disk_id is None or s.disk_id == disk_id)
            ]

    # ----- ActionTrail ---------------------------------------------------------------------
    @property
    def trail(self) -> TrailLog:
        """ActionTrail's records: the stop calls made here; ``trail.add(...)`` adds others."""
        with self._lock:
            return self._state.trail

    # ----- call log ----------------------------------------------------------------------
    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, operation: str) -> list[CallRecord]:
        with self._lock:
            return [c for c in self._calls if c.operation == operation]

    def clear_calls(self) -> None:
        with self._lock:
            self._calls = []

    # ----- faults ------------------------------------------------------------------------
    def set_faults(self, rules: Sequence[FaultRule], seed: int | None = None) -> None:
        """Replace the fault rules; ``seed`` (default: the emulator's) makes them reproducible."""
        with self._lock:
            self._faults = FaultInjector(
                list(rules), self.seed if seed is None else seed, clock=self._clock
            )

    def clear_faults(self) -> None:
        self.set_faults([])

    @property
    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far: by kind (``"throttle"``) and by ``"Operation:kind"``."""
        with self._lock:
            return dict(self._faults.counts)

    def fail_instance(
        self,
        instance_id: str,
        *,
        operation: str,
        code: str = "IncorrectInstanceStatus",
        status: int = 403,
        message: str | None = None,
        times: int | None = None,
    ) -> None:
        """Make ``operation`` fail for this one resource with ``code`` (``times`` None = always).

        In an all-or-nothing batch (DeleteInstances, StopInstances AllTogether) the whole call
        fails; with StopInstances SuccessFirst only this instance's result carries the code.
        Works for disk ids too (``operation="CreateSnapshot", code="QuotaExceed.Snapshot"``).
        """
        known = api_error(code)
        with self._lock:
            self._state.failures.append(
                InstanceFailure(
                    resource_id=instance_id,
                    operation=operation,
                    code=code,
                    status=status,
                    message=message or known.message,
                    times=times,
                )
            )

    fail_resource = fail_instance

    def fail_snapshots(self, disk_id: str | None = None) -> None:
        """Snapshots created from now on (of ``disk_id``, or of every disk) end up ``failed``."""
        with self._lock:
            if disk_id is None:
                self._state.fail_all_snapshots = True
            else:
                self._state.failing_snapshot_disks.add(disk_id)

    def refuse_tagged_snapshots(self, refuse: bool = True) -> None:
        """CreateSnapshot with any Tag.N answers Forbidden.RAM, as RAM would if it authorised
        tags on create as ecs:TagResources (which the role's policy denies); untagged passes."""
        with self._lock:
            self._state.refuse_tagged_snapshots = refuse

    # ----- the world changing mid-run -------------------------------------------------------
    def on_call(
        self,
        operation: str,
        change: Callable[[], object],
        *,
        nth: int = 1,
        before: bool = False,
    ) -> None:
        """Change the world while a run is under way: someone tags, starts or protects an instance.

        ``change`` runs once, when the ``nth`` request for ``operation`` reaches the emulator:
        right after that operation took effect (before its answer is sent), or, with ``before``,
        just before it. It may call any of the emulator's own methods (``update_instance``,
        ``attach_disk``, ...), as a console user or another tool would act meanwhile.
        """
        if nth < 1:
            raise ValueError("nth counts requests from 1")
        with self._lock:
            self._changes.append(_MidRunChange(operation, change, nth, before))

    def _fire_changes(self, operation: str, *, before: bool) -> None:
        with self._lock:
            due = []
            for change in self._changes:
                if change.operation != operation or change.before is not before:
                    continue
                change.seen += 1
                if change.seen == change.nth:
                    due.append(change)
        for change in due:  # outside the lock: a change calls the emulator's own methods
            change.change()

    # ----- request handling ----------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4()).upper()
        query_pairs = parse_qsl(
            request.query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8"
        )
        query = dict(query_pairs)
        business = {k: v for k, v in query_pairs if k not in SIGNATURE_PARAMS}
        action = request.headers.get("x-acs-action") or query.get("Action") or ""
        host_region = _region_from_host(request.host)
        region = business.get("RegionId") or host_region
        context = _CallContext(action, business, region, request_id)
        try:
            self._verifier.verify(_signed_request(request, query_pairs))
            handler = _route(action, request.headers.get("x-acs-version") or query.get("Version"))
        except ApiError as error:
            return self._answer_error(context, error)

        decision = self._faults.decide(action)
        if decision.latency > 0:
            time.sleep(decision.latency)
        if decision.kind in _PRE_EFFECT_FAULTS:
            return self._answer_fault(context, decision, request)

        self._fire_changes(action, before=True)
        try:
            with self._lock:
                now = self._clock.now()
                self._state.settle(now)
                try:
                    body = handler(self._state, Call(Params(business), now, host_region))
                except ApiError as error:
                    self._state.trail.record_call(
                        action, business, at=now, region=region, error_code=error.code
                    )
                    raise
                self._state.trail.record_call(action, business, at=now, region=region, answer=body)
        except ApiError as error:
            return self._answer_error(context, error)
        except Exception as error:  # noqa: BLE001 - a bug in the emulator must still answer
            self.internal_errors.append(error)
            return self._answer_error(context, api_error("InternalError"))
        finally:
            self._fire_changes(action, before=False)

        if decision.kind is FaultKind.DROP_AFTER_EFFECT:
            self._record(context, 0, None, FaultKind.DROP_AFTER_EFFECT.value)
            return _drop_connection(request)
        self._record(context, 200, None, None)
        return _json_response(200, {"RequestId": request_id, **body}, request_id)

    def _answer_fault(
        self, context: _CallContext, decision: FaultDecision, request: Request
    ) -> Response:
        rule = decision.rule
        kind = decision.kind
        if rule is None or kind is None:
            raise RuntimeError("a fault answer needs a fault")
        if kind is FaultKind.DROP:
            self._record(context, 0, None, kind.value)
            return _drop_connection(request)
        if kind is FaultKind.NON_JSON:
            self._record(context, 502, None, kind.value)
            return Response(_BAD_GATEWAY_PAGE, status=502, content_type="text/html")
        if kind is FaultKind.THROTTLE:
            error = api_error(rule.throttle_code, status=rule.status_for_throttle)
            headers = {}
            if rule.retry_after_ms is not None:
                headers["x-acs-retry-after"] = str(rule.retry_after_ms)
            return self._answer_error(context, error, fault=kind.value, extra_headers=headers)
        code = "ServiceUnavailable" if kind is FaultKind.UNAVAILABLE else "InternalError"
        return self._answer_error(context, api_error(code), fault=kind.value)

    def _answer_error(
        self,
        context: _CallContext,
        error: ApiError,
        *,
        fault: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        self._record(context, error.status, error.code, fault)
        host_id = f"ecs.{context.region}.aliyuncs.com" if context.region else "ecs.aliyuncs.com"
        body = {
            "RequestId": context.request_id,
            "HostId": host_id,
            "Code": error.code,
            "Message": error.message,
            "Recommend": (
                f"https://api.aliyun.com/troubleshoot?q={error.code}&product=Ecs"
                f"&requestId={context.request_id}"
            ),
        }
        return _json_response(error.status, body, context.request_id, extra_headers)

    def _record(
        self, context: _CallContext, status: int, code: str | None, fault: str | None
    ) -> None:
        with self._lock:
            self._calls.append(
                CallRecord(
                    operation=context.action,
                    params=context.params,
                    status=status,
                    error_code=code,
                    time=self._clock.now(),
                    region=context.region,
                    request_id=context.request_id,
                    fault=fault,
                )
            )


class _MidRunChange:
    __slots__ = ("before", "change", "nth", "operation", "seen")

    def __init__(
        self, operation: str, change: Callable[[], object], nth: int, before: bool
    ) -> None:
        self.operation = operation
        self.change = change
        self.nth = nth
        self.before = before
        self.seen = 0


class _CallContext:
    __slots__ = ("action", "params", "region", "request_id")

    def __init__(
        self, action: str, params: dict[str, str], region: str | None, request_id: str
    ) -> None:
        self.action = action
        self.params = params
        self.region = region
        self.request_id = request_id


def _route(action: str, version: str | None) -> Handler:
    if not action:
        raise ApiError(
            "MissingParameter",
            400,
            'The input parameter "Action" that is mandatory for processing this request '
            "is not supplied.",
        )
    handler = operation(action, version)
    if handler is None:
        raise api_error("InvalidAction.NotFound")
    return handler


def _signed_request(request: Request, query_pairs: list[tuple[str, str]]) -> SignedRequest:
    headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    return SignedRequest(
        method=request.method,
        path=request.path,
        query_pairs=query_pairs,
        headers=headers,
        body=request.get_data(),
    )


def _region_from_host(host: str) -> str | None:
    match = _HOST_REGION.match(host)
    return match["region"] if match else None


def _to_minute(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _json_response(
    status: int,
    body: Mapping[str, object],
    request_id: str,
    extra_headers: dict[str, str] | None = None,
) -> Response:
    response = Response(json.dumps(body), status=status, content_type=JSON_CONTENT_TYPE)
    response.headers["x-acs-request-id"] = request_id
    for name, value in (extra_headers or {}).items():
        response.headers[name] = value
    return response


def _drop_connection(request: Request) -> Response:
    """Close the client's connection without sending a byte of response.

    Shutting the socket down makes the client see the server hang up before the status line
    (a connection error in the SDK). werkzeug then fails to write the response it is given
    and treats that as a dropped connection, quietly.
    """
    connection = request.environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    return Response(b"", status=500)
