"""Run options: the manual event, or the JSON in a timer payload, one pydantic model a function."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from ecs_lifecycle.defaults import StoppedMode
from ecs_lifecycle.errors import InvalidInputError, refusal_from
from ecs_lifecycle.model import Function

MAX_INSTANCE_IDS: Final = 1000

_InstanceIds = Annotated[list[str], Field(max_length=MAX_INSTANCE_IDS)]


class RunOptions(BaseModel):
    """The options every function takes; each function's model adds its own."""

    # extra="forbid": a typo such as `dryrun` must fail loudly, not fall back to a default.
    # defer_build: each function builds only its own options schema, on first use.
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    regions: str | list[str] | None = None
    instance_ids: _InstanceIds | None = None
    tags: str | dict[str, str] | None = None
    dry_run: StrictBool | None = None
    max_instances: Annotated[StrictInt, Field(ge=0)] | None = None
    # A duration: this run is the notice for the real run that long after the trigger's time.
    notice: str | None = None


class StopOptions(RunOptions):
    force: StrictBool | None = None
    stopped_mode: StoppedMode | None = None


class ReleaseOptions(RunOptions):
    force: StrictBool | None = None
    stopped_mode: StoppedMode | None = None
    snapshot: StrictBool | None = None
    # With explicit instance_ids only: release even what an owner's lifetime tag still keeps.
    override_lifetime: StrictBool | None = None
    # Only instances Stopped at least this long (`7d`); at least RELEASE_IF_STOPPED_FOR.
    stopped_for: str | None = None


class AutoReleaseOptions(RunOptions):
    release_at: str | None = None
    release_after: str | None = None
    cancel: StrictBool | None = None
    # A duration: also list the instances ECS itself auto-releases within it, per owner.
    digest: str | None = None


OPTIONS_MODEL: Final[dict[Function, type[RunOptions]]] = {
    Function.STOP: StopOptions,
    Function.RELEASE: ReleaseOptions,
    Function.AUTO_RELEASE: AutoReleaseOptions,
}


def parse_options(function: Function, raw: Mapping[str, Any]) -> RunOptions:
    """Validate run options for `function`.

    Raises:
        InvalidInputError: naming the first bad option (unknown names included).
    """
    try:
        return OPTIONS_MODEL[function].model_validate(dict(raw))
    except ValidationError as exc:
        refusal = refusal_from(exc)
        if exc.errors()[0]["type"] == "extra_forbidden":
            known = ", ".join(sorted(OPTIONS_MODEL[function].model_fields))
            problem = f"unknown option for {function.value} (known: {known})"
            raise InvalidInputError(refusal.field, problem) from None
        raise refusal from None
