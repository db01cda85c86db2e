"""One hub-side SDK call (Resource Directory, FC), retried while it may pass, then our error.

The hub's gateways (accounts/directory.py, accounts/invoker.py) send every call through `call`:
throttling (Resource Directory's `Throttling*`, FC's `429 ResourceExhausted` / `503
ResourceThrottled`), a 5xx and a connection that gave no answer are retried a few times with
tenacity, sleeping on the run's clock; anything else, and the last transient failure, surfaces as
`AccountsApiError` (an `EcsApiError`: the project's one type for a cloud call that failed, with
its operation, code, message, request id and HTTP status).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, TypeVar

from Tea.exceptions import TeaException
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from ecs_lifecycle.clock import Clock
from ecs_lifecycle.errors import EcsApiError

_T = TypeVar("_T")
ATTEMPTS: Final = 4
BASE_DELAY: Final = 0.5  # seconds; doubling: 0.5, 1, 2 between the four attempts
MAX_DELAY: Final = 4.0
THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "Throttling.User",
        "Throttling.Api",
        "Throttling.Resource",
        "ResourceExhausted",
        "ResourceThrottled",
        "TooManyRequests",
    }
)
NETWORK_CODE: Final = "NetworkError"


class AccountsApiError(EcsApiError):
    """A Resource Directory or FC call failed with an error that retrying did not fix."""


def is_transient(error: EcsApiError) -> bool:
    """Whether `error` may pass with time: throttling, a 5xx, or no answer at all."""
    status = error.status
    return (
        error.code in THROTTLING_CODES
        or error.code == NETWORK_CODE
        or status == 429
        or (isinstance(status, int) and status >= 500)
    )


def translate(operation: str, exc: TeaException) -> AccountsApiError:
    """Our error for an SDK exception. FC's error body may carry `errorCode`/`errorMessage`
    instead of `Code`/`Message` (docs/multi-account.md), so both are read."""
    data = getattr(exc, "data", None)
    body: dict[str, Any] = data if isinstance(data, dict) else {}
    status = getattr(exc, "status_code", None) or body.get("statusCode")
    code = getattr(exc, "code", None)
    if not code or code == "None":
        code = body.get("Code") or body.get("errorCode") or body.get("ErrorCode")
    message = str(body.get("Message") or body.get("errorMessage") or "")
    request_id = body.get("RequestId") or getattr(exc, "request_id", None)
    if request_id == "None":
        request_id = None
    if not code:
        inner = getattr(exc, "inner_exception", None)
        detail = type(inner).__name__ if inner is not None else type(exc).__name__
        return AccountsApiError(
            operation, NETWORK_CODE, f"no usable answer ({detail})", None, status
        )
    return AccountsApiError(operation, str(code), message or "no message", request_id, status)


def call(operation: str, send: Callable[[], _T], clock: Clock, attempts: int = ATTEMPTS) -> _T:
    """`send()`, retried while its failure is transient.

    Raises:
        AccountsApiError: a final error, or the last transient one after `attempts` tries.
    """
    retrying = Retrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=BASE_DELAY, max=MAX_DELAY),
        retry=retry_if_exception(lambda e: isinstance(e, EcsApiError) and is_transient(e)),
        sleep=clock.sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            try:
                return send()
            except TeaException as exc:
                raise translate(operation, exc) from None
    raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover
