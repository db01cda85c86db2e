"""A run in a named account: its ECS and ActionTrail calls on one spoke-role session.

Both readers of a member account must sign with the member's session: ECS, and ActionTrail,
which answers for the account whose credentials sign the call (the stop records of
`stopped_for`, the tag records that anchor the minimum notice). Read with the runtime role it
would be the tooling account's trail, with no record of the member's tag calls, and "no tag call
in the window" would count the minimum notice as run. One session serves both: one AssumeRole a
run.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ecs_lifecycle import defaults
from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.spoke import (
    CredentialsBuilder,
    role_arn,
    session_name,
    session_policy,
    spoke_gateway_factory,
)
from ecs_lifecycle.clock import Clock
from ecs_lifecycle.ecs import GatewayFactory
from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import Settings

if TYPE_CHECKING:
    from ecs_lifecycle.actiontrail import StopTrail

# How a run gets its ActionTrail reader (the SDK is imported only then): the handler's default
# and the spoke one below. Its arguments: the settings, the run's clock, its deadline, and its
# Ctrl-C.
StopTrailFactory = Callable[
    [Settings, Clock, "datetime | None", "Callable[[], bool] | None"], "StopTrail"
]


def account_factories(
    function: Function,
    account_id: str,
    task_id: str | None,
    accounts: AccountSettings,
    builder: CredentialsBuilder,
) -> tuple[GatewayFactory, StopTrailFactory]:
    """The ECS gateway and ActionTrail reader factories of a run in `account_id`."""
    assert accounts.spoke_role_name is not None  # noqa: S101 - configured implies it
    builder = one_session(builder)
    gateways = spoke_gateway_factory(
        builder,
        function=function,
        account_id=account_id,
        role_name=accounts.spoke_role_name,
        external_id=accounts.external_id,
        task_id=task_id,
    )
    trails = spoke_trail_factory(
        builder,
        role=role_arn(account_id, accounts.spoke_role_name),
        external_id=accounts.external_id,
        session=session_name(function, account_id, task_id),
        policy=session_policy(function),
    )
    return gateways, trails


def one_session(builder: CredentialsBuilder) -> CredentialsBuilder:
    """`builder`, asked once per run for the same session (one AssumeRole a run)."""
    built: dict[tuple[Any, ...], Any] = {}
    lock = threading.Lock()

    def build(role: str, external_id: str | None, session: str, policy: str, seconds: int) -> Any:
        key = (role, external_id, session, policy, seconds)
        with lock:
            if key not in built:
                built[key] = builder(role, external_id, session, policy, seconds)
            return built[key]

    return build


def spoke_trail_factory(
    builder: CredentialsBuilder, *, role: str, external_id: str | None, session: str, policy: str
) -> StopTrailFactory:
    """The ActionTrail reader of a run in a named account: on the spoke role, as its ECS calls.

    Where the member's trail cannot be read (denied, down), the reader's `problem` keeps (doubt
    keeps).
    """

    def factory(
        settings: Settings,
        clock: Clock,
        deadline: datetime | None,
        stop_requested: Callable[[], bool] | None,
    ) -> StopTrail:
        from ecs_lifecycle.actiontrail import make_stop_trail  # noqa: PLC0415 - only when needed

        credential = builder(role, external_id, session, policy, defaults.SPOKE_SESSION_SECONDS)
        return make_stop_trail(settings, clock, deadline, stop_requested, credential=credential)

    return factory
