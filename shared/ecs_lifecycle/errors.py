"""The project's error hierarchy.

Two kinds of failure matter to a caller. A refusal (`InvalidInputError` and its subclasses) happens
before any change is made: the event, the options or the settings ask for something we will not
do. A run failure (`RunFailedError`) happens after work started: some instances could not be
handled, and the invocation must fail so that Function Compute records and retries it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pydantic import ValidationError


_SHOWN_FAILURES: Final = 20  # the error message carries the first failures; the summary has all


class EcsLifecycleError(Exception):
    """Base of every error this project raises on purpose."""


class InvalidInputError(EcsLifecycleError):
    """The event, an option or a setting is not acceptable; nothing was changed."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


def refusal_from(exc: ValidationError, where: str = "") -> InvalidInputError:
    """A pydantic validation failure as our refusal, naming the first bad field."""
    error = exc.errors()[0]
    field = ".".join(str(part) for part in error["loc"])
    return InvalidInputError(f"{where} {field}".strip() or "event", error["msg"])


class ConfigError(InvalidInputError):
    """An environment setting is missing or malformed."""


class SelectorRequiredError(InvalidInputError):
    """A stop or release run named neither instance ids nor tags."""

    def __init__(self, function: str) -> None:
        super().__init__(
            "instance_ids/tags",
            f"{function} refuses to run without a selector: give instance_ids or tags "
            "(in the event, or TARGET_TAGS in the environment); no setting means every instance",
        )


class BlastRadiusExceededError(InvalidInputError):
    """A run would change more instances than max_instances allows; it changed none."""

    def __init__(self, limit: int, matched: int) -> None:
        self.limit = limit
        self.matched = matched
        super().__init__(
            "max_instances",
            f"this run would change {matched} instances, more than max_instances={limit}; "
            "it changed none (narrow the selector or raise MAX_INSTANCES deliberately)",
        )


class EcsApiError(EcsLifecycleError):
    """An ECS call failed with an error that retrying will not fix (or retries ran out)."""

    def __init__(
        self,
        operation: str,
        code: str,
        message: str,
        request_id: str | None = None,
        status: int | None = None,
    ) -> None:
        self.operation = operation
        self.code = code
        self.message = message
        self.request_id = request_id
        self.status = status
        where = f" (request id {request_id})" if request_id else ""
        super().__init__(f"{operation} failed: {code}: {message}{where}")


class RunFailedError(EcsLifecycleError):
    """Some instances failed; the summary of the whole run is attached."""

    def __init__(self, failed: int, summary: Mapping[str, Any]) -> None:
        self.failed = failed
        self.summary = summary
        failures = [
            entry for entry in summary.get("instances", []) if entry.get("outcome") == "failed"
        ]
        shown = json.dumps({"counts": summary.get("counts"), "failed": failures[:_SHOWN_FAILURES]})
        super().__init__(f"{failed} instance(s) failed: {shown}")
