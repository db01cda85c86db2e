"""What every emulated Alibaba service shares: one call, its answer, and a service's registration.

The server (:mod:`ecs_emulator.emulator`) does the rest once for every service: the wire format
(:mod:`ecs_emulator.wire`), the signature check (:mod:`ecs_emulator.auth`), the clock
(:mod:`ecs_emulator.clock`), the fault rules (:mod:`ecs_emulator.faults`), the call log and the
error answers. A service is an API version and its operations; each lives in its own room under
:mod:`ecs_emulator.services` and is registered there with one line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from ecs_emulator.iam import Caller, Iam
from ecs_emulator.wire import Params

if TYPE_CHECKING:
    from ecs_emulator.state import FleetState

Body = dict[str, object]


@dataclass(frozen=True)
class Call:
    """One authenticated request: its business parameters, the time, the host's region, who
    signed it, and the cloud's identities (which only STS changes)."""

    params: Params
    now: datetime
    host_region: str | None
    caller: Caller | None = None
    iam: Iam | None = None


# An operation: the account's state and one call in, the JSON body of a 200 answer out (the
# server adds ``RequestId``), or an :class:`~ecs_emulator.errors.ApiError` raised.
Handler = Callable[["FleetState", Call], Body]


@dataclass(frozen=True)
class Service:
    """One emulated Alibaba service: the API version its SDK sends, and its operations."""

    name: str  # as the SDK and ActionTrail name the product (Ecs, Actiontrail, ...)
    api_version: str  # the ``x-acs-version`` (or legacy ``Version``) its requests carry
    operations: Mapping[str, Handler]
