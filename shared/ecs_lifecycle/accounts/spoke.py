"""The worker's ECS gateway in a spoke account: today's gateway on the spoke role's credentials.

The credentials come from a builder (accounts/credentials.py's `spoke_credentials`:
RamRoleArnCredentialsProvider chained on the runtime role, ExternalId, a session policy, 900 s
sessions refreshed by the provider on long runs). The session policy narrows the spoke role to
the calls of the one function that runs; the session name names the run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, Final

from alibabacloud_ecs20140526.client import Client as EcsClient

from ecs_lifecycle import defaults
from ecs_lifecycle.clock import Clock
from ecs_lifecycle.ecs import EcsGateway, GatewayFactory, client_config
from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import Settings

# (role_arn, external_id, session_name, policy, duration_seconds) -> an alibabacloud_credentials
# Client: the signature of accounts.credentials.spoke_credentials.
CredentialsBuilder = Callable[[str, "str | None", str, str, int], Any]

_READS: Final = ("ecs:DescribeRegions", "ecs:DescribeInstances")
# What each function calls (ram-policy.json holds the union, with its tag conditions; a session
# policy can only narrow the role's, so the tag conditions still hold).
SESSION_ACTIONS: Final = {
    Function.STOP: (*_READS, "ecs:StopInstances"),
    Function.RELEASE: (
        *_READS,
        "ecs:StopInstances",
        "ecs:DeleteInstances",
        "ecs:DescribeDisks",
        "ecs:DescribeSnapshots",
        "ecs:CreateSnapshot",
        "actiontrail:LookupEvents",
    ),
    # ActionTrail's tag records anchor the minimum notice (handler._tag_writes), for the
    # auto-release function as for the release.
    Function.AUTO_RELEASE: (
        *_READS,
        "ecs:ModifyInstanceAutoReleaseTime",
        "actiontrail:LookupEvents",
    ),
}
_SESSION_CHARS: Final = re.compile(r"[^A-Za-z0-9._@-]")


def role_arn(account_id: str, role_name: str) -> str:
    return f"acs:ram::{account_id}:role/{role_name}"


def session_policy(function: Function) -> str:
    statement = {"Effect": "Allow", "Action": list(SESSION_ACTIONS[function]), "Resource": "*"}
    return json.dumps({"Version": "1", "Statement": [statement]}, separators=(",", ":"))


def session_name(function: Function, account_id: str, task_id: str | None) -> str:
    """RoleSessionName: 2-64 of letters, digits, . @ - _ (STS AssumeRole); names the run."""
    raw = f"{function.value}.{task_id or account_id}"
    return _SESSION_CHARS.sub("-", raw)[-64:]


def spoke_gateway_factory(
    builder: CredentialsBuilder,
    *,
    function: Function,
    account_id: str,
    role_name: str,
    external_id: str | None,
    task_id: str | None,
) -> GatewayFactory:
    """A GatewayFactory like ecs.make_gateway, on the spoke role's credentials (one AssumeRole
    per run: the provider refreshes the session itself)."""

    def factory(settings: Settings, clock: Clock, deadline: datetime | None) -> EcsGateway:
        credential = builder(
            role_arn(account_id, role_name),
            external_id,
            session_name(function, account_id, task_id),
            session_policy(function),
            defaults.SPOKE_SESSION_SECONDS,
        )

        def client_for_region(region: str) -> EcsClient:
            config = client_config(credential, region, settings.endpoint, settings.protocol)
            return EcsClient(config)

        return EcsGateway(
            client_for_region,
            clock=clock,
            calls_per_second=settings.calls_per_second,
            deadline=deadline,
        )

    return factory
