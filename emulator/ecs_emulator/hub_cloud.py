"""The hub's side of the cloud on loopback: Resource Directory and FC 3.0, for the real SDKs.

A small pytest-httpserver server of its own, beside :class:`~ecs_emulator.emulator.EcsEmulator`
rather than inside it: FC 3.0 is a ROA API (``POST /2023-03-30/functions/{name}/invocations``,
the event as the body, the answer in headers and status ``202``), which the ECS server's
RPC-shaped request path (everything in the query, a JSON ``RequestId`` body) does not carry.
It shares the rest: the ACS3 signature check (:mod:`ecs_emulator.auth`; both SDKs sign ACS3,
ROA requests included, with the path as the canonical URI and every header signed), the wire
format (:mod:`ecs_emulator.wire`), the clock and the error type.

* ``POST /`` with ``x-acs-version: 2020-03-31``: the Resource Directory room
  (:mod:`ecs_emulator.services.resourcemanager`);
* ``POST /2023-03-30/functions/{name}/invocations``: the FC room (:mod:`ecs_emulator.services.fc`).

``throttle(operation, times)`` answers the next ``times`` calls of an operation throttled, as
the services do under their quotas (Resource Directory: ``400 Throttling.User``; FC: ``429
ResourceExhausted``; FC's code for an invocation over its rate: UNCONFIRMED).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Final
from urllib.parse import parse_qsl, unquote

from pytest_httpserver.httpserver import HTTPServerBase
from werkzeug import Request, Response

from ecs_emulator.auth import EmulatorCredentials, RequestVerifier
from ecs_emulator.clock import Clock, SystemClock
from ecs_emulator.errors import ApiError
from ecs_emulator.server import signed_request
from ecs_emulator.services import fc as fc_room
from ecs_emulator.services import resourcemanager as rd_room
from ecs_emulator.wire import SIGNATURE_PARAMS, Params

_JSON: Final = "application/json;charset=utf-8"
_THROTTLES: Final[Mapping[str, tuple[str, int]]] = {
    "InvokeFunction": ("ResourceExhausted", 429),
}
_RD_THROTTLE: Final = ("Throttling.User", 400)


@dataclass(frozen=True)
class HubCall:
    """One request the server answered: which operation, with what, and how."""

    operation: str
    params: Mapping[str, str]
    status: int
    error_code: str | None
    at: datetime


class _Server(HTTPServerBase):
    def __init__(self, host: str, port: int, owner: HubCloudEmulator) -> None:
        super().__init__(host, port, threaded=True)
        self._owner = owner

    def dispatch(self, request: Request) -> Response:
        return self._owner._handle(request)

    def application(self, request: Request) -> Response:
        request.get_data()
        return self.dispatch(request)


class HubCloudEmulator:
    """Resource Directory and FC 3.0 InvokeFunction for the hub, on one loopback port."""

    def __init__(
        self,
        *,
        credentials: EmulatorCredentials | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._host = host
        self._port = port
        self._server: _Server | None = None
        self._lock = threading.RLock()
        self._clock: Clock = clock or SystemClock()
        self._credentials = credentials or EmulatorCredentials.default()
        self._verifier = RequestVerifier([self._credentials])
        self.directory = rd_room.ResourceDirectory()
        self.fc = fc_room.FunctionCompute()
        self._calls: list[HubCall] = []
        self._throttled: dict[str, int] = {}
        self.internal_errors: list[BaseException] = []

    # ----- lifecycle ------------------------------------------------------------------------
    def start(self) -> HubCloudEmulator:
        if self._server is not None:
            raise RuntimeError("the emulator is already running")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = _Server(self._host, self._port, self)
        server.start()
        self._server = server
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> HubCloudEmulator:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        """``host:port``, what the SDKs' ``Config.endpoint`` wants (no scheme)."""
        if self._server is None:
            raise RuntimeError("start the emulator first")
        return f"{self._server.format_host(self._host)}:{self._server.port}"

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def credentials(self) -> EmulatorCredentials:
        return self._credentials

    def set_credentials(self, credentials: EmulatorCredentials) -> None:
        """Accept `credentials` from now on, instead of the current ones (until `reset`)."""
        with self._lock:
            self._verifier = RequestVerifier([credentials])

    def reset(self, *, clock: Clock | None = None) -> None:
        """An empty directory and FC, no calls, no throttling; the default credentials."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self.directory = rd_room.ResourceDirectory()
            self.fc = fc_room.FunctionCompute()
            self._calls = []
            self._throttled = {}
            self._verifier = RequestVerifier([self._credentials])
            self.internal_errors = []

    # ----- what happened --------------------------------------------------------------------
    @property
    def calls(self) -> list[HubCall]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, operation: str) -> list[HubCall]:
        return [call for call in self.calls if call.operation == operation]

    def throttle(self, operation: str, times: int = 1) -> None:
        """Answer the next `times` calls of `operation` throttled, before they take effect."""
        with self._lock:
            self._throttled[operation] = self._throttled.get(operation, 0) + times

    # ----- requests -------------------------------------------------------------------------
    def _handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4()).upper()
        pairs = parse_qsl(
            request.query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8"
        )
        business = {k: v for k, v in pairs if k not in SIGNATURE_PARAMS}
        invoke = fc_room.INVOKE_PATH.match(request.path)
        operation = "InvokeFunction" if invoke else request.headers.get("x-acs-action", "")
        try:
            self._verifier.verify(signed_request(request, pairs))
            self._refuse_throttled(operation)
            if invoke:
                _require_post(request)
                answer = self._invoke(unquote(invoke["name"]), request, business)
                self._record(operation, business, answer.status, None)
                response = Response(answer.body, status=answer.status)
                for name, value in answer.headers.items():
                    response.headers[name] = value
                return response
            body = self._rpc(request, operation, business)
        except ApiError as error:
            self._record(operation, business, error.status, error.code)
            return _error(error, request_id, fc_style=invoke is not None)
        except Exception as failure:  # noqa: BLE001 - a bug in the emulator must still answer
            self.internal_errors.append(failure)
            internal = ApiError("InternalError", 500, "The request processing has failed.")
            self._record(operation, business, 500, internal.code)
            return _error(internal, request_id, fc_style=invoke is not None)
        self._record(operation, business, 200, None)
        response = Response(json.dumps({"RequestId": request_id, **body}), content_type=_JSON)
        response.headers["x-acs-request-id"] = request_id
        return response

    def _rpc(self, request: Request, operation: str, business: dict[str, str]) -> rd_room.Body:
        version = request.headers.get("x-acs-version")
        handler = rd_room.OPERATIONS.get(operation)
        if version != rd_room.API_VERSION or handler is None:
            raise ApiError(
                "InvalidAction.NotFound",
                404,
                "Specified api is not found, please check your url and method.",
            )
        with self._lock:
            directory = self.directory
        return handler(directory, Params(business))

    def _invoke(self, name: str, request: Request, business: dict[str, str]) -> fc_room.Answer:
        headers = {key.lower(): value for key, value in request.headers.items()}
        with self._lock:
            room = self.fc
        return room.invoke(
            name,
            qualifier=business.get("qualifier"),
            headers=headers,
            body=request.get_data(),
            now=self._clock.now(),
        )

    def _refuse_throttled(self, operation: str) -> None:
        with self._lock:
            left = self._throttled.get(operation, 0)
            if left <= 0:
                return
            self._throttled[operation] = left - 1
        code, status = _THROTTLES.get(operation, _RD_THROTTLE)
        raise ApiError(code, status, "Request was denied due to request throttling.")

    def _record(
        self, operation: str, params: Mapping[str, str], status: int, code: str | None
    ) -> None:
        with self._lock:
            self._calls.append(HubCall(operation, dict(params), status, code, self._clock.now()))


def _require_post(request: Request) -> None:
    if request.method != "POST":
        raise ApiError("PathNotSupported", 400, f"{request.method} is not supported")


def _error(error: ApiError, request_id: str, *, fc_style: bool) -> Response:
    body: dict[str, str] = {"RequestId": request_id, "Code": error.code, "Message": error.message}
    if fc_style:
        body.update(errorCode=error.code, errorMessage=error.message)
    else:
        body["HostId"] = "resourcemanager.aliyuncs.com"
    response = Response(json.dumps(body), status=error.status, content_type=_JSON)
    response.headers["x-acs-request-id"] = request_id
    if fc_style:
        response.headers["x-fc-request-id"] = request_id
    return response


__all__ = ["HubCall", "HubCloudEmulator"]
