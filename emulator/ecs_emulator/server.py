"""The server every emulated service shares: HTTP, then one request through the shared steps.

Built on pytest-httpserver's server base (werkzeug underneath), threaded so that concurrent
requests each see the injected latency instead of queueing. One request goes through:

1. parse (:mod:`ecs_emulator.wire`): ``POST /`` with everything in the query string; the action
   from the ``x-acs-action`` header, falling back to the ``Action`` parameter (legacy v2
   signing);
2. authenticate (:mod:`ecs_emulator.auth`);
3. route: the registry (:mod:`ecs_emulator.services`) picks the service by API version and the
   operation by action; an unknown action gets POP's ``InvalidAction.NotFound``;
4. faults (:mod:`ecs_emulator.faults`): latency, then maybe an answer that never reaches the
   operation; the test's mid-run changes (:mod:`ecs_emulator.changes`) around the operation;
5. the operation (its service's room) under the state lock, after applying every time-driven
   change that is due (:mod:`ecs_emulator.clock` gives the time);
6. record the call (business parameters only) in the call log and answer.
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
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import InitVar, dataclass, field
from typing import Final
from urllib.parse import parse_qsl

from pytest_httpserver.httpserver import HTTPServerBase
from werkzeug import Request, Response

from ecs_emulator.auth import EmulatorCredentials, RequestVerifier, SignedRequest
from ecs_emulator.changes import MidRunChanges
from ecs_emulator.clock import Clock
from ecs_emulator.errors import ApiError, api_error
from ecs_emulator.faults import FaultDecision, FaultInjector, FaultKind
from ecs_emulator.iam import HOME_ACCOUNT, Caller, Iam
from ecs_emulator.model import CallRecord
from ecs_emulator.service import Call, Handler
from ecs_emulator.services import operation
from ecs_emulator.state import FleetState
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


@dataclass
class Backend:
    """What requests act on and leave behind; the emulator's ``reset`` makes a new one.

    ``state`` is the home account's (the emulator's own keys act there); every other account a
    session acts in gets its own fleet on first use, sharing the settings (``accounts``).
    """

    clock: Clock
    state: FleetState
    credentials: InitVar[Sequence[EmulatorCredentials]]
    seed: int = 0
    iam: Iam = field(default_factory=Iam)
    verifier: RequestVerifier = field(init=False)
    faults: FaultInjector = field(default_factory=FaultInjector)
    changes: MidRunChanges = field(default_factory=MidRunChanges)
    calls: list[CallRecord] = field(default_factory=list)
    internal_errors: list[BaseException] = field(default_factory=list)
    accounts: dict[str, FleetState] = field(default_factory=dict)

    def __post_init__(self, credentials: Sequence[EmulatorCredentials]) -> None:
        self.accounts.setdefault(HOME_ACCOUNT, self.state)
        self.accept(credentials)

    def accept(self, credentials: Sequence[EmulatorCredentials]) -> None:
        """Accept these long-term keys (and, always, the sessions STS issued) from now on."""
        self.verifier = RequestVerifier(credentials, self.iam.session_credentials)

    def account(self, account: str) -> FleetState:
        """The account's fleet (hold the emulator's lock); ids never collide across accounts."""
        state = self.accounts.get(account)
        if state is None:
            seed = self.seed + zlib.crc32(account.encode())
            state = self.accounts[account] = FleetState(self.state.settings, seed)
        return state


class HttpServer(HTTPServerBase):
    """pytest-httpserver's threaded server with one handler for every request."""

    def __init__(self, host: str, port: int, dispatch: Callable[[Request], Response]) -> None:
        super().__init__(host, port, threaded=True)
        self._dispatch = dispatch

    def dispatch(self, request: Request) -> Response:
        return self._dispatch(request)

    def application(self, request: Request) -> Response:
        # The base class keeps every request and response in ``self.log``; the emulator has its
        # own call log, and a benchmark makes tens of thousands of calls.
        request.get_data()
        return self.dispatch(request)


class Listener:
    """The emulator's HTTP listener: started, stopped, and its ``host:port``."""

    def __init__(self, host: str, port: int, dispatch: Callable[[Request], Response]) -> None:
        self._host, self._port, self._dispatch = host, port, dispatch
        self._server: HttpServer | None = None

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        # werkzeug logs one INFO line per request to stderr; keep only warnings and errors.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = HttpServer(self._host, self._port, self._dispatch)
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def endpoint(self) -> str:
        """``host:port`` - what the SDK's ``Config.endpoint`` wants (no scheme)."""
        if self._server is None:
            raise RuntimeError("start the emulator first")
        return f"{self._server.format_host(self._host)}:{self._server.port}"


@dataclass
class _CallContext:
    action: str
    params: dict[str, str]
    region: str | None
    request_id: str
    account: str | None = None  # once the signature is checked


class Dispatcher:
    """One request through the shared steps (the module docstring), on the current backend."""

    def __init__(self, lock: threading.RLock, backend: Callable[[], Backend]) -> None:
        self._lock = lock
        self._backend = backend

    def handle(self, request: Request) -> Response:
        backend = self._backend()
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
            access_key_id = backend.verifier.verify(signed_request(request, query_pairs))
            caller = backend.iam.caller(access_key_id, backend.clock.now())
            context.account = caller.account
            handler = _route(action, request.headers.get("x-acs-version") or query.get("Version"))
        except ApiError as error:
            return self._answer_error(backend, context, error)

        decision = backend.faults.decide(action)
        if decision.latency > 0:
            time.sleep(decision.latency)
        if decision.kind in _PRE_EFFECT_FAULTS:
            return self._answer_fault(backend, context, decision, request)

        backend.changes.fire(action, before=True)
        try:
            body = self._operate(backend, handler, context, host_region, caller)
        except ApiError as error:
            return self._answer_error(backend, context, error)
        except Exception as error:  # noqa: BLE001 - a bug in the emulator must still answer
            backend.internal_errors.append(error)
            return self._answer_error(backend, context, api_error("InternalError"))
        finally:
            backend.changes.fire(action, before=False)

        if decision.kind is FaultKind.DROP_AFTER_EFFECT:
            self._record(backend, context, 0, None, FaultKind.DROP_AFTER_EFFECT.value)
            return _drop_connection(request)
        self._record(backend, context, 200, None, None)
        return _json_response(200, {"RequestId": request_id, **body}, request_id)

    def _operate(
        self,
        backend: Backend,
        handler: Handler,
        context: _CallContext,
        host_region: str | None,
        caller: Caller,
    ) -> dict[str, object]:
        action, business, region = context.action, context.params, context.region
        with self._lock:
            state = backend.account(caller.account)
            now = backend.clock.now()
            state.settle(now)
            call = Call(Params(business), now, host_region, caller, backend.iam)
            try:
                body = handler(state, call)
            except ApiError as error:
                state.trail.record_call(
                    action, business, at=now, region=region, error_code=error.code
                )
                raise
            state.trail.record_call(action, business, at=now, region=region, answer=body)
            return body

    def _answer_fault(
        self, backend: Backend, context: _CallContext, decision: FaultDecision, request: Request
    ) -> Response:
        rule = decision.rule
        kind = decision.kind
        if rule is None or kind is None:
            raise RuntimeError("a fault answer needs a fault")
        if kind is FaultKind.DROP:
            self._record(backend, context, 0, None, kind.value)
            return _drop_connection(request)
        if kind is FaultKind.NON_JSON:
            self._record(backend, context, 502, None, kind.value)
            return Response(_BAD_GATEWAY_PAGE, status=502, content_type="text/html")
        if kind is FaultKind.THROTTLE:
            error = api_error(rule.throttle_code, status=rule.status_for_throttle)
            headers = {}
            if rule.retry_after_ms is not None:
                headers["x-acs-retry-after"] = str(rule.retry_after_ms)
            return self._answer_error(
                backend, context, error, fault=kind.value, extra_headers=headers
            )
        code = "ServiceUnavailable" if kind is FaultKind.UNAVAILABLE else "InternalError"
        return self._answer_error(backend, context, api_error(code), fault=kind.value)

    def _answer_error(
        self,
        backend: Backend,
        context: _CallContext,
        error: ApiError,
        *,
        fault: str | None = None,
        extra_headers: dict[str, str] | None = None,
    ) -> Response:
        self._record(backend, context, error.status, error.code, fault)
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
        self,
        backend: Backend,
        context: _CallContext,
        status: int,
        code: str | None,
        fault: str | None,
    ) -> None:
        with self._lock:
            backend.calls.append(
                CallRecord(
                    operation=context.action,
                    params=context.params,
                    status=status,
                    error_code=code,
                    time=backend.clock.now(),
                    region=context.region,
                    request_id=context.request_id,
                    fault=fault,
                    account=context.account,
                )
            )


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


def signed_request(request: Request, query_pairs: list[tuple[str, str]]) -> SignedRequest:
    """What the signature check reads of an HTTP request (the hub's services' server too)."""
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
