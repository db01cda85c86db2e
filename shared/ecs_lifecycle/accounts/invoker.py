"""The hub's AsyncInvoker over FC 3.0 InvokeFunction (alibabacloud-fc20230330).

`POST /2023-03-30/functions/{name}/invocations` with `x-fc-invocation-type: Async` and the
target's task id in `x-fc-async-task-id` (the SDK's InvokeFunctionHeaders). FC answers `202`
with `x-fc-request-id` once the event is queued. A repeated task id (the hub run retried, or
this gateway retrying a call whose answer was lost) is refused `409` and queues nothing (FC's
"Task deduplication"; for FC 3.0 UNCONFIRMED, docs/multi-account.md): that is `duplicate`, the
target is already queued. Throttling, 5xx and lost answers are retried by `sdk_calls.call` with
the same task id, so a retry can never queue the target twice; any other failure raises
`AccountsApiError`, which the hub records as that target's failure.
"""

from __future__ import annotations

import io
from typing import Any, Final

from alibabacloud_fc20230330 import models as fc_models
from darabonba.runtime import RuntimeOptions

from ecs_lifecycle.accounts.ports import AsyncInvocation, Dispatched
from ecs_lifecycle.accounts.sdk_calls import AccountsApiError, call
from ecs_lifecycle.clock import Clock

OPERATION: Final = "InvokeFunction"
ASYNC: Final = "Async"
DUPLICATE_STATUS: Final = 409
ACCEPTED_STATUS: Final = 202


class FcAsyncInvoker:
    """`AsyncInvoker` on an FC 3.0 SDK client (untyped: the SDK has no stubs)."""

    def __init__(self, client: Any, clock: Clock) -> None:
        self._client = client
        self._clock = clock

    def invoke_async(self, invocation: AsyncInvocation) -> Dispatched:
        """Queue `invocation` once. Raises AccountsApiError when FC did not take it."""

        def send() -> Any:
            # A fresh body for every attempt: the SDK reads the stream to sign it.
            request = fc_models.InvokeFunctionRequest(
                body=io.BytesIO(invocation.payload), qualifier=invocation.qualifier
            )
            headers = fc_models.InvokeFunctionHeaders(
                x_fc_invocation_type=ASYNC, x_fc_async_task_id=invocation.task_id
            )
            return self._client.invoke_function_with_options(
                invocation.function_name, request, headers, RuntimeOptions()
            )

        try:
            response = call(OPERATION, send, self._clock)
        except AccountsApiError as error:
            if error.status == DUPLICATE_STATUS:
                return Dispatched(invocation.task_id, error.request_id or "", duplicate=True)
            raise
        headers = {str(k).lower(): str(v) for k, v in (response.headers or {}).items()}
        request_id = headers.get("x-fc-request-id") or headers.get("x-acs-request-id") or ""
        if response.status_code != ACCEPTED_STATUS:
            raise AccountsApiError(
                OPERATION,
                "UnexpectedStatus",
                f"FC answered {response.status_code}, not {ACCEPTED_STATUS} Accepted",
                request_id or None,
                response.status_code,
            )
        return Dispatched(invocation.task_id, request_id, duplicate=False)
