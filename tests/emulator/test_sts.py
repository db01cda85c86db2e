"""STS AssumeRole, driven by the real alibabacloud_credentials provider, and the sessions it
issues accepted by the ECS room, in the role's account only.

The provider checks an answer's Expiration against the machine's real time, so these tests run
the emulator on a fake clock set to the real present (never sleeping: the clock is advanced).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import (
    RamRoleArnCredentialsProvider,
    StaticAKCredentialsProvider,
)

from ecs_emulator import EcsEmulator, EmulatorCredentials, FakeClock, make_sdk_client
from ecs_emulator.iam import HOME_ACCOUNT

from .conftest import SdkError

SPOKE = "2" * 16
OTHER = "3" * 16


@pytest.fixture
def emu(ecs_emulator: EcsEmulator) -> EcsEmulator:
    ecs_emulator.reset(clock=FakeClock(datetime.now(timezone.utc).replace(microsecond=0)))
    return ecs_emulator


def provider(emu: EcsEmulator, arn: str, **options: Any) -> RamRoleArnCredentialsProvider:
    keys = emu.credentials
    base = StaticAKCredentialsProvider(
        access_key_id=keys.access_key_id, access_key_secret=keys.access_key_secret
    )
    options.setdefault("role_session_name", "stop.run-1")
    options.setdefault("duration_seconds", 900)
    return RamRoleArnCredentialsProvider(
        credentials_provider=base,
        role_arn=arn,
        sts_endpoint=f"http://{emu.endpoint}",  # the provider forces https unless given a scheme
        **options,
    )


def session_client(emu: EcsEmulator, credentials: Any) -> Any:
    keys = EmulatorCredentials(
        credentials.get_access_key_id(),
        credentials.get_access_key_secret(),
        credentials.get_security_token(),
    )
    return make_sdk_client(emu, credentials=keys)


def listed(client: Any) -> set[str]:
    answer = client.describe_instances(ecs.DescribeInstancesRequest(region_id="cn-hangzhou"))
    return {instance.instance_id for instance in answer.body.instances.instance}


def refusal(call: Any) -> dict[str, Any]:
    with pytest.raises(CredentialException) as caught:
        call()
    body: dict[str, Any] = json.loads(str(caught.value.message).split("result: ", 1)[1])
    return body


def test_a_session_acts_in_the_roles_account_and_sees_only_its_fleet(emu: EcsEmulator) -> None:
    arn = emu.add_role(SPOKE, "ecs-lifecycle-spoke", external_id="ext-1")
    home = emu.add_instance(region="cn-hangzhou")
    spoke = emu.add_instance(region="cn-hangzhou", account=SPOKE)

    credentials = provider(emu, arn, external_id="ext-1").get_credentials()
    assert credentials.get_access_key_id().startswith("STS.")
    assert credentials.get_expiration() == int(emu.now().timestamp()) + 900
    assert listed(session_client(emu, credentials)) == {spoke.instance_id}
    assert listed(make_sdk_client(emu)) == {home.instance_id}

    [assume] = emu.calls_to("AssumeRole")
    assert assume.account == HOME_ACCOUNT
    assert assume.params["RoleSessionName"] == "stop.run-1"
    assert assume.params["ExternalId"] == "ext-1"
    assert [c.account for c in emu.calls_to("DescribeInstances")] == [SPOKE, HOME_ACCOUNT]
    assert emu.instances(account=SPOKE)[0].instance_id == spoke.instance_id
    assert emu.instance(spoke.instance_id) is not None  # ids are unique across accounts


def test_the_session_policy_is_passed_and_kept(emu: EcsEmulator) -> None:
    arn = emu.add_role(SPOKE, "spoke")
    # Compact, as accounts/spoke.py writes it: the provider signs with quote_plus (a space as
    # "+"), where the documented RPC signature (and the emulator) encodes a space as %20.
    statement = {"Effect": "Allow", "Action": ["ecs:*"], "Resource": "*"}
    policy = json.dumps({"Version": "1", "Statement": [statement]}, separators=(",", ":"))
    provider(emu, arn, policy=policy).get_credentials()
    assert emu.calls_to("AssumeRole")[0].params["Policy"] == policy


@pytest.mark.parametrize(
    ("trusted", "role_external_id", "sent_external_id"),
    [
        ((OTHER,), None, None),  # the trust policy names another account
        ((HOME_ACCOUNT,), "ext-1", "ext-2"),  # the wrong ExternalId
        ((HOME_ACCOUNT,), "ext-1", None),  # no ExternalId where the role demands one
    ],
)
def test_a_role_that_does_not_trust_the_caller_is_refused(
    emu: EcsEmulator,
    trusted: tuple[str, ...],
    role_external_id: str | None,
    sent_external_id: str | None,
) -> None:
    arn = emu.add_role(SPOKE, "spoke", trusted_accounts=trusted, external_id=role_external_id)
    body = refusal(provider(emu, arn, external_id=sent_external_id).get_credentials)
    assert body["Code"] == "NoPermission"
    assert emu.calls_to("AssumeRole")[0].status == 403


def test_an_unknown_role_and_bad_parameters_are_refused(emu: EcsEmulator) -> None:
    arn = emu.add_role(SPOKE, "spoke")
    missing = f"acs:ram::{SPOKE}:role/nobody"
    assert refusal(provider(emu, missing).get_credentials)["Code"] == "EntityNotExist.Role"
    too_long = provider(emu, arn, duration_seconds=3601).get_credentials
    assert refusal(too_long)["Code"] == "InvalidParameter.DurationSeconds"
    bad_name = provider(emu, arn, role_session_name="a*b").get_credentials
    assert refusal(bad_name)["Code"] == "InvalidParameter.RoleSessionName"
    bad_policy = provider(emu, arn, policy="{not-json").get_credentials
    assert refusal(bad_policy)["Code"] == "InvalidParameter.PolicyGrammar"
    assert refusal(provider(emu, "arn:nope").get_credentials)["Code"] == "InvalidParameter.RoleArn"


def test_an_expired_session_is_refused(emu: EcsEmulator, sdk_error: SdkError) -> None:
    arn = emu.add_role(SPOKE, "spoke")
    client = session_client(emu, provider(emu, arn).get_credentials())
    assert listed(client) == set()
    emu.advance(900)
    error = sdk_error(lambda: listed(client))
    assert (error.code, error.status_code) == ("InvalidSecurityToken.Expired", 400)


def test_add_role_checks_account_ids(emu: EcsEmulator) -> None:
    with pytest.raises(ValueError, match="16 digits"):
        emu.add_role("123", "spoke")
    with pytest.raises(ValueError, match="16 digits"):
        emu.add_instance(account="not-an-account")


def test_the_test_hooks_reach_an_instance_in_its_own_account(
    emu: EcsEmulator, sdk_error: SdkError
) -> None:
    arn = emu.add_role(SPOKE, "spoke")
    instance = emu.add_instance(region="cn-hangzhou", account=SPOKE, disks=2)
    assert len(emu.disks(instance.instance_id)) == 2
    emu.update_instance(instance.instance_id, tags={"owner": "ana"})
    emu.fail_instance(instance.instance_id, operation="StopInstance")
    client = session_client(emu, provider(emu, arn).get_credentials())
    request = ecs.StopInstanceRequest(instance_id=instance.instance_id)
    error = sdk_error(lambda: client.stop_instance(request))
    assert error.code == "IncorrectInstanceStatus"
    found = emu.instance(instance.instance_id)
    assert found is not None
    assert found.tags == {"owner": "ana"}
    assert found.status == "Running"
