"""The Function Compute room (FC 3.0, API 2023-03-30): InvokeFunction, asynchronous tasks.

``POST /2023-03-30/functions/{functionName}/invocations`` with the event as the body, the
``qualifier`` in the query, and the headers ``x-fc-invocation-type`` (``Sync``, the default, or
``Async``), ``x-fc-async-task-id`` and ``x-fc-log-type``
(https://alibabacloud.com/help/en/functioncompute/fc-3-0/developer-reference/api-fc-2023-03-30-invokefunction).
What the room does, and where it comes from:

* an async invocation is queued and answered ``202`` with ``x-fc-request-id`` (and the task id
  in ``x-fc-async-task-id``) and an empty body (FC 2.0's InvokeFunction page and community
  answers; FC 3.0's page shows no response: UNCONFIRMED);
* the task id: starts with a letter or ``_``, then letters, digits, ``_`` and ``-``, at most 128
  (the FC 3.0 page); another is ``400 InvalidArgument`` (the code: UNCONFIRMED);
* the task id is honoured only when the function has the async task mode on (``asyncTask`` in
  its async config: the FC 3.0 page says "You must enable the asynchronous task feature in
  advance"); a repeated id is then refused ``409`` and nothing is queued ("Task deduplication",
  https://www.alibabacloud.com/help/en/fc/task-deduplication, documented for FC 2.0's
  ``X-Fc-Stateful-Async-Invocation-Id``; that FC 3.0 answers the same, and the error code
  ``AsyncTaskAlreadyExists``, are UNCONFIRMED). Without the task mode the id is not checked and
  a repeat is queued again (UNCONFIRMED: FC may also refuse it);
* an async body over 128 KB is ``400 EntityTooLarge`` (https://www.alibabacloud.com/help/doc-detail/2527064.html);
* an unknown function is ``404 FunctionNotFound``;
* error bodies are ``{"Code", "Message", "RequestId"}`` as FC 3.0's OpenAPI gateway answers the
  SDK, plus the ``errorCode``/``errorMessage`` that FC's error code page documents (which of the
  two FC 3.0 sends: UNCONFIRMED, so the emulator sends both and the gateway reads either).

``run_queued()`` then runs each queued task the way FC would: the function's handler with the
event bytes and a context (request id, function name, timeout), retried up to
``max_async_retry_attempts`` times when it raises, and records how each task ended.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from ecs_emulator.errors import ApiError

API_VERSION: Final = "2023-03-30"
INVOKE_PATH: Final = re.compile(r"^/2023-03-30/functions/(?P<name>[^/]+)/invocations$")
MAX_ASYNC_PAYLOAD: Final = 128 * 1024
MAX_SYNC_PAYLOAD: Final = 32 * 1024 * 1024
TASK_ID: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
DUPLICATE_CODE: Final = "AsyncTaskAlreadyExists"  # UNCONFIRMED code; the 409 is documented

Handler = Callable[[bytes, Any], Any]


@dataclass(frozen=True)
class FunctionMeta:
    name: str
    handler: str = "index.handler"
    memory: int = 192
    timeout: int = 900


@dataclass(frozen=True)
class InvocationContext:
    """What FC hands the handler (the fields this project reads)."""

    request_id: str
    function: FunctionMeta
    region: str
    account_id: str


@dataclass
class Function:
    """A deployed function: its handler (None: accepts invocations, never runs them)."""

    name: str
    handler: Handler | None = None
    timeout: int = 900
    max_async_retry_attempts: int = 3
    async_task: bool = True


@dataclass
class AsyncTask:
    """One queued asynchronous invocation and how it ended."""

    task_id: str
    function_name: str
    qualifier: str | None
    payload: bytes
    request_id: str
    received_at: datetime
    status: str = "Enqueued"  # Enqueued, Running, Succeeded, Failed
    attempts: int = 0
    result: Any = None
    error: str | None = None


@dataclass(frozen=True)
class Invocation:
    """Every InvokeFunction request that reached the room (duplicates and refusals too)."""

    function_name: str
    invocation_type: str
    task_id: str | None
    status: int
    request_id: str
    at: datetime


@dataclass(frozen=True)
class _Asked:
    function_name: str
    qualifier: str | None
    invocation_type: str
    task_id: str | None
    body: bytes
    now: datetime
    request_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class FunctionCompute:
    """The functions of one account and region, their async queue and their invocation log."""

    region: str = "cn-hangzhou"
    account_id: str = "1000000000000002"
    functions: dict[str, Function] = field(default_factory=dict)
    tasks: dict[str, AsyncTask] = field(default_factory=dict)
    invocations: list[Invocation] = field(default_factory=list)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def add_function(
        self,
        name: str,
        handler: Handler | None = None,
        *,
        timeout: int = 900,
        max_async_retry_attempts: int = 3,
        async_task: bool = True,
    ) -> Function:
        function = Function(name, handler, timeout, max_async_retry_attempts, async_task)
        with self._lock:
            self.functions[name] = function
        return function

    def queued(self) -> list[AsyncTask]:
        with self._lock:
            return [task for task in self.tasks.values() if task.status == "Enqueued"]

    def invoke(
        self,
        function_name: str,
        *,
        qualifier: str | None,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
    ) -> Answer:
        """One InvokeFunction request. Raises ApiError for FC's refusals (logged first)."""
        request_id = f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:12]}"
        asked = _Asked(
            function_name=function_name,
            qualifier=qualifier,
            invocation_type=headers.get("x-fc-invocation-type") or "Sync",
            task_id=headers.get("x-fc-async-task-id") or None,
            body=body,
            now=now,
            request_id=request_id,
        )
        status = 500
        try:
            answer = self._invoke(asked)
        except ApiError as error:
            status = error.status
            raise
        else:
            status = answer.status
        finally:
            with self._lock:
                self.invocations.append(
                    Invocation(
                        function_name, asked.invocation_type, asked.task_id, status, request_id, now
                    )
                )
        return answer

    def _invoke(self, asked: _Asked) -> Answer:
        function_name, invocation_type, task_id = (
            asked.function_name,
            asked.invocation_type,
            asked.task_id,
        )
        body, request_id = asked.body, asked.request_id
        if invocation_type not in ("Sync", "Async"):
            raise ApiError("InvalidArgument", 400, "x-fc-invocation-type must be Sync or Async")
        with self._lock:
            function = self.functions.get(function_name)
            if function is None:
                raise ApiError(
                    "FunctionNotFound", 404, f"function '{function_name}' does not exist"
                )
            if invocation_type == "Sync":
                return self._run_sync(function, body, request_id)
            if len(body) > MAX_ASYNC_PAYLOAD:
                raise ApiError(
                    "EntityTooLarge",
                    400,
                    f"payload size exceeds maximum allowed size ({MAX_ASYNC_PAYLOAD} bytes)",
                )
            if task_id is not None and not TASK_ID.match(task_id):
                raise ApiError("InvalidArgument", 400, f"invalid async task id '{task_id}'")
            if function.async_task and task_id is not None:
                if task_id in self.tasks:
                    raise ApiError(DUPLICATE_CODE, 409, f"async task '{task_id}' already exists")
                key = task_id
            else:
                key = f"{task_id or 'task'}#{request_id}"  # no dedup without the task mode
            self.tasks[key] = AsyncTask(
                task_id=task_id or request_id,
                function_name=function_name,
                qualifier=asked.qualifier,
                payload=body,
                request_id=request_id,
                received_at=asked.now,
            )
        headers = {"x-fc-request-id": request_id}
        if task_id is not None:
            headers["x-fc-async-task-id"] = task_id
        return Answer(202, headers, b"")

    def _run_sync(self, function: Function, body: bytes, request_id: str) -> Answer:
        if function.handler is None:
            return Answer(200, {"x-fc-request-id": request_id}, b"")
        result = function.handler(body, self._context(function, request_id))
        data = result.encode() if isinstance(result, str) else bytes(result or b"")
        return Answer(200, {"x-fc-request-id": request_id}, data)

    def run_queued(self) -> list[AsyncTask]:
        """Run every queued task as FC would (its handler, retried when it raises); the tasks
        run, in the order they were queued. A function without a handler leaves its tasks queued.
        """
        with self._lock:
            due = [
                task
                for task in self.tasks.values()
                if task.status == "Enqueued"
                and self.functions[task.function_name].handler is not None
            ]
            for task in due:
                task.status = "Running"
        for task in due:  # outside the lock: a handler may call the emulators
            function = self.functions[task.function_name]
            handler = function.handler
            if handler is None:  # pragma: no cover - filtered above
                continue
            for _ in range(1 + function.max_async_retry_attempts):
                task.attempts += 1
                try:
                    task.result = handler(task.payload, self._context(function, task.request_id))
                except Exception as failure:  # noqa: BLE001 - a function error, as FC records it
                    task.error = f"{type(failure).__name__}: {failure}"
                    continue
                task.error = None
                break
            task.status = "Failed" if task.error is not None else "Succeeded"
        return due

    def _context(self, function: Function, request_id: str) -> InvocationContext:
        return InvocationContext(
            request_id=request_id,
            function=FunctionMeta(function.name, timeout=function.timeout),
            region=self.region,
            account_id=self.account_id,
        )
