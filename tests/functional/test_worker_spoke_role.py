"""The worker in a named account on the real spoke credentials: the handler, then
accounts/credentials.py's `spoke_credentials` (RamRoleArnCredentialsProvider on the default
chain), then the emulator's STS, then ECS in that account only.

The STS endpoint is injected as `http://<emulator>` (the provider forces https otherwise,
credentials.py says why that works). The provider checks an answer's Expiration against the
machine's real time, so the emulator's fake clock starts at the real present here.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import partial
from typing import Any

import pytest
from alibabacloud_credentials.provider import (
    DefaultCredentialsProvider,
    RamRoleArnCredentialsProvider,
)

from ecs_emulator import EcsEmulator, FakeClock
from ecs_emulator.iam import HOME_ACCOUNT
from ecs_lifecycle.accounts.credentials import RENEW_BEFORE, spoke_credentials
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.fanout.plan import Target, task_id, worker_payload
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import Runner, alive

A, OTHER = "1" * 16, "3" * 16
ROLE = "ecs-lifecycle-spoke"
ACCOUNTS = {
    "TARGET_ACCOUNTS": A,
    "SPOKE_ROLE_NAME": ROLE,
    "EXTERNAL_ID": "ext-1234",
    "TARGET_TAGS": "env=dev",
}


@pytest.fixture
def emu(ecs_emulator: EcsEmulator) -> EcsEmulator:
    ecs_emulator.reset(clock=FakeClock(datetime.now(timezone.utc).replace(microsecond=0)))
    return ecs_emulator


def builder(emu: EcsEmulator) -> Any:
    """The real builder, pointed at the emulator's STS over HTTP and run on its clock."""
    return partial(spoke_credentials, sts_endpoint=f"http://{emu.endpoint}", clock=emu.clock)


def run_in(emu: EcsEmulator, account: str) -> dict[str, Any]:
    at = emu.clock.now().replace(second=0, microsecond=0)
    target = Target(
        "ecs-stop", account, "cn-hangzhou", task_id("ecs-stop", account, "cn-hangzhou", at)
    )
    environ = Runner(emu).environ(**ACCOUNTS)
    services = Services(
        clock=emu.clock,
        environ=environ,
        gateway_factory=make_gateway,
        spoke_credentials=builder(emu),
    )
    event = worker_payload(target, at, "nightly", None)
    return handle(Function.STOP, event, make_context(Function.STOP, environ), services)


def test_a_hub_event_runs_on_the_assumed_role_in_that_account_only(emu: EcsEmulator) -> None:
    emu.add_role(A, ROLE, trusted_accounts=[HOME_ACCOUNT], external_id="ext-1234")
    dev = emu.add_instance(region="cn-hangzhou", tags={"env": "dev"}, account=A)
    prod = emu.add_instance(region="cn-hangzhou", tags={"env": "prod"}, account=A)
    home_dev = emu.add_instance(region="cn-hangzhou", tags={"env": "dev"})

    summary = run_in(emu, A)

    assert summary["counts"]["done"] == 1
    assert [entry["instance_id"] for entry in summary["instances"]] == [dev.instance_id]
    assert alive(emu, dev.instance_id).status in ("Stopping", "Stopped")
    assert alive(emu, prod.instance_id).status == "Running"  # the tag fence held
    assert alive(emu, home_dev.instance_id).status == "Running"  # another account's fleet
    [assume] = emu.calls_to("AssumeRole")  # one session for the whole run
    assert assume.account == HOME_ACCOUNT  # signed by the runtime role (the default chain)
    assert assume.params["RoleArn"] == f"acs:ram::{A}:role/{ROLE}"
    assert assume.params["ExternalId"] == "ext-1234"
    assert assume.params["DurationSeconds"] == "900"
    assert assume.params["RoleSessionName"].startswith(f"stop.ecs-stop-{A}")
    actions = json.loads(assume.params["Policy"])["Statement"][0]["Action"]
    assert "ecs:StopInstances" in actions
    assert "ecs:DeleteInstances" not in actions
    ecs_calls = [call for call in emu.calls if call.operation != "AssumeRole"]
    assert ecs_calls
    assert {call.account for call in ecs_calls} == {A}


@pytest.mark.parametrize(
    ("trusted", "external_id"),
    [((OTHER,), "ext-1234"), ((HOME_ACCOUNT,), "another-external-id")],
)
def test_a_role_that_does_not_trust_the_worker_fails_naming_the_account_and_cause(
    emu: EcsEmulator, trusted: tuple[str, ...], external_id: str
) -> None:
    emu.add_role(A, ROLE, trusted_accounts=trusted, external_id=external_id)
    dev = emu.add_instance(region="cn-hangzhou", tags={"env": "dev"}, account=A)

    with pytest.raises(EcsApiError) as failed:
        run_in(emu, A)

    assert (failed.value.operation, failed.value.code) == ("AssumeRole", "NoPermission")
    assert failed.value.status == 403
    assert f"acs:ram::{A}:role/{ROLE}" in str(failed.value)
    assert f"account {A}" in str(failed.value)
    assert alive(emu, dev.instance_id).status == "Running"
    assert [call.operation for call in emu.calls] == ["AssumeRole"]  # no ECS call went out


def test_a_long_run_renews_its_900_second_session_before_it_expires(emu: EcsEmulator) -> None:
    arn = emu.add_role(A, ROLE)
    credential = builder(emu)(arn, None, "stop.long-run", "", 900)
    first = credential.get_credential().access_key_id
    assert credential.get_credential().access_key_id == first  # kept while fresh
    emu.advance(900 - RENEW_BEFORE.total_seconds() - 1)
    assert credential.get_credential().access_key_id == first
    emu.advance(1)
    assert credential.get_credential().access_key_id != first  # renewed before it expired
    assert len(emu.calls_to("AssumeRole")) == 2


def test_the_provider_alone_would_assume_the_role_before_every_call(emu: EcsEmulator) -> None:
    """Why credentials.py keeps the session itself: alibabacloud_credentials 1.0.12 counts a
    session as stale 15 minutes before its expiry, so a 900 s one is stale on arrival."""
    arn = emu.add_role(A, ROLE)
    provider = RamRoleArnCredentialsProvider(
        credentials_provider=DefaultCredentialsProvider(),
        role_arn=arn,
        role_session_name="stop.raw",
        duration_seconds=900,
        sts_endpoint=f"http://{emu.endpoint}",
    )
    provider.get_credentials()
    provider.get_credentials()
    assert len(emu.calls_to("AssumeRole")) == 2
