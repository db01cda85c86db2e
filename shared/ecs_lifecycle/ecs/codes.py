"""ECS's error codes and what they mean to us: an SDK exception becomes our `EcsApiError`, and
that error is either transient (retried: throttling, 5xx, the network) or a verdict (never).

Errors that will not change with time (IncorrectInstanceStatus, ChargeTypeViolation,
InvalidOperation.DeletionProtection, Forbidden.RAM, InvalidParameter, ...) are never retried.
"""

from __future__ import annotations

from typing import Final

from Tea.exceptions import TeaException

from ecs_lifecycle.errors import EcsApiError

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


class TransientError(Exception):
    """A failure that may pass: retried, then surfaced as its EcsApiError."""

    def __init__(self, error: EcsApiError, retry_after: float | None, *, throttled: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.retry_after = retry_after
        self.throttled = throttled


def translate(operation: str, exc: TeaException) -> Exception:
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
        return TransientError(error, None, throttled=False)
    error = EcsApiError(operation, str(code), message or "no message", request_id, status)
    if is_transient(error):
        retry_after = (
            retry_after_ms / 1000.0
            if isinstance(retry_after_ms, int) and retry_after_ms > 0
            else None
        )
        return TransientError(error, retry_after, throttled=is_throttling(error))
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
