"""Authentication: the SDK's signatures are verified, and every refusal has POP's real code."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest
from alibabacloud_tea_openapi import utils_models as openapi_models
from darabonba.runtime import RuntimeOptions

from ecs_emulator import EcsEmulator, EmulatorCredentials, make_sdk_client
from ecs_emulator.auth import SignedRequest, acs3_signature, acs3_string_to_sign

from .conftest import SdkError

STS = EmulatorCredentials.default_sts()


def list_instances(client: Any) -> Any:
    return client.describe_instances(ecs.DescribeInstancesRequest(region_id="cn-hangzhou"))


def test_the_sdk_default_signature_is_accepted(ecs_emulator: EcsEmulator, client: Any) -> None:
    ecs_emulator.add_instance(tags={"note": "spaces and / slashes + plus"})
    tag = ecs.DescribeInstancesRequestTag(key="note", value="spaces and / slashes + plus")
    request = ecs.DescribeInstancesRequest(region_id="cn-hangzhou", tag=[tag])
    # Values with spaces, '+' and '/' exercise the query's percent-encoding rules.
    assert len(client.describe_instances(request).body.instances.instance) == 1


def test_unknown_access_key(ecs_emulator: EcsEmulator, sdk_error: SdkError) -> None:
    stranger = make_sdk_client(ecs_emulator, credentials=EmulatorCredentials("LTAI-nobody", "x"))
    error = sdk_error(lambda: list_instances(stranger))
    assert (error.code, error.status_code) == ("InvalidAccessKeyId.NotFound", 404)
    assert error.data["Message"] == "Specified access key is not found."


def test_wrong_secret(ecs_emulator: EcsEmulator, sdk_error: SdkError) -> None:
    wrong = EmulatorCredentials(ecs_emulator.credentials.access_key_id, "not-the-secret")
    error = sdk_error(lambda: list_instances(make_sdk_client(ecs_emulator, credentials=wrong)))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
    message = error.data["Message"]
    # The ACS3 service's wording (UNCONFIRMED in Alibaba's docs, quoted by public code), its
    # string to sign in brackets.
    assert message.startswith(
        "Specified signature does not match our calculation. "
        "server StringToSign is [ACS3-HMAC-SHA256\n"
    )
    assert message.endswith("]")
    assert ecs_emulator.credentials.access_key_secret not in message
    assert "not-the-secret" not in message


def test_sts_token_accepted_when_right(ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.set_credentials(STS)
    assert list_instances(make_sdk_client(ecs_emulator, credentials=STS)).status_code == 200


def test_sts_token_missing(ecs_emulator: EcsEmulator, sdk_error: SdkError) -> None:
    ecs_emulator.set_credentials(STS)
    no_token = EmulatorCredentials(STS.access_key_id, STS.access_key_secret)
    error = sdk_error(lambda: list_instances(make_sdk_client(ecs_emulator, credentials=no_token)))
    assert (error.code, error.status_code) == ("MissingSecurityToken", 400)
    assert error.data["Message"] == "SecurityToken is mandatory for this action."


def test_sts_token_wrong(ecs_emulator: EcsEmulator, sdk_error: SdkError) -> None:
    other = EmulatorCredentials("STS.other", "other-secret", "other-token")
    ecs_emulator.set_credentials(STS, other)
    garbage = EmulatorCredentials(STS.access_key_id, STS.access_key_secret, "garbage-token")
    error = sdk_error(lambda: list_instances(make_sdk_client(ecs_emulator, credentials=garbage)))
    assert (error.code, error.status_code) == ("InvalidSecurityToken.Malformed", 400)
    assert "garbage-token" not in json.dumps(error.data)

    borrowed = EmulatorCredentials(STS.access_key_id, STS.access_key_secret, "other-token")
    error = sdk_error(lambda: list_instances(make_sdk_client(ecs_emulator, credentials=borrowed)))
    assert (error.code, error.status_code) == ("InvalidSecurityToken.MismatchWithAccessKey", 400)


def test_token_with_a_long_term_key_is_refused(
    ecs_emulator: EcsEmulator, sdk_error: SdkError
) -> None:
    base = ecs_emulator.credentials
    with_token = EmulatorCredentials(base.access_key_id, base.access_key_secret, "some-token")
    error = sdk_error(lambda: list_instances(make_sdk_client(ecs_emulator, credentials=with_token)))
    assert error.code == "InvalidSecurityToken.MismatchWithAccessKey"


def test_legacy_v2_signature(ecs_emulator: EcsEmulator, sdk_error: SdkError) -> None:
    ecs_emulator.set_credentials(STS)
    v2 = make_sdk_client(ecs_emulator, credentials=STS, signature_algorithm="v2")
    assert list_instances(v2).status_code == 200
    wrong = EmulatorCredentials(STS.access_key_id, "wrong", STS.security_token)
    v2_wrong = make_sdk_client(ecs_emulator, credentials=wrong, signature_algorithm="v2")
    error = sdk_error(lambda: list_instances(v2_wrong))
    assert (error.code, error.status_code) == ("SignatureDoesNotMatch", 400)
    # The v2 string to sign holds the token, so it is not echoed.
    assert (STS.security_token or "?") not in json.dumps(error.data)


def test_call_log_never_holds_credentials(ecs_emulator: EcsEmulator) -> None:
    ecs_emulator.set_credentials(STS)
    list_instances(make_sdk_client(ecs_emulator, credentials=STS, signature_algorithm="v2"))
    list_instances(make_sdk_client(ecs_emulator, credentials=STS))
    logged = json.dumps([call.params for call in ecs_emulator.calls])
    for secret in (STS.access_key_id, STS.access_key_secret, STS.security_token or "?"):
        assert secret not in logged
    assert all(call.params == {"RegionId": "cn-hangzhou"} for call in ecs_emulator.calls)
    assert "emulator-sts-secret" not in repr(STS)


def raw_post(
    emulator: EcsEmulator, query: str, headers: dict[str, str]
) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://{emulator.endpoint}/?{query}", data=b"", headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def signed_headers(emulator: EcsEmulator, query: str, nonce: str) -> dict[str, str]:
    headers = {
        "host": emulator.endpoint,
        "x-acs-action": "DescribeInstances",
        "x-acs-version": "2014-05-26",
        "x-acs-date": "2026-11-26T06:00:00Z",
        "x-acs-signature-nonce": nonce,
        "x-acs-content-sha256": hashlib.sha256(b"").hexdigest(),
    }
    names = sorted(headers)
    pairs = [tuple(p.split("=", 1)) for p in query.split("&")]
    signed = SignedRequest(
        method="POST",
        path="/",
        query_pairs=[(k, v) for k, v in pairs],
        headers={k: [v] for k, v in headers.items()},
        body=b"",
    )
    credentials = emulator.credentials
    signature = acs3_signature(credentials.access_key_secret, acs3_string_to_sign(signed, names))
    headers["Authorization"] = (
        f"ACS3-HMAC-SHA256 Credential={credentials.access_key_id},"
        f"SignedHeaders={';'.join(names)},Signature={signature}"
    )
    return headers


def test_unsigned_request(ecs_emulator: EcsEmulator) -> None:
    status, body = raw_post(
        ecs_emulator, "RegionId=cn-hangzhou", {"x-acs-action": "DescribeInstances"}
    )
    assert (status, body["Code"]) == (400, "MissingAccessKeyId")


def test_a_replayed_nonce_is_refused(ecs_emulator: EcsEmulator) -> None:
    headers = signed_headers(ecs_emulator, "RegionId=cn-hangzhou", nonce="nonce-1")
    assert raw_post(ecs_emulator, "RegionId=cn-hangzhou", headers)[0] == 200
    status, body = raw_post(ecs_emulator, "RegionId=cn-hangzhou", headers)
    assert (status, body["Code"]) == (400, "SignatureNonceUsed")


def test_a_tampered_query_breaks_the_signature(ecs_emulator: EcsEmulator) -> None:
    headers = signed_headers(ecs_emulator, "RegionId=cn-hangzhou", nonce="nonce-2")
    status, body = raw_post(ecs_emulator, "RegionId=cn-shanghai", headers)
    assert (status, body["Code"]) == (400, "SignatureDoesNotMatch")


def test_an_unsigned_acs_header_is_refused(ecs_emulator: EcsEmulator) -> None:
    headers = signed_headers(ecs_emulator, "RegionId=cn-hangzhou", nonce="nonce-3")
    headers["x-acs-resource-group"] = "slipped-in"
    status, body = raw_post(ecs_emulator, "RegionId=cn-hangzhou", headers)
    assert (status, body["Code"]) == (400, "IncompleteSignature")


def test_an_unknown_action(client: Any, sdk_error: SdkError) -> None:
    params = openapi_models.Params(
        action="DescribeUnicorns",
        version="2014-05-26",
        protocol="HTTPS",
        pathname="/",
        method="POST",
        auth_type="AK",
        style="RPC",
        req_body_type="formData",
        body_type="json",
    )
    request = openapi_models.OpenApiRequest(query={"RegionId": "cn-hangzhou"})
    error = sdk_error(lambda: client.call_api(params, request, RuntimeOptions()))
    assert (error.code, error.status_code) == ("InvalidAction.NotFound", 404)
    assert error.data["Message"] == "Specified api is not found, please check your url and method."


@pytest.mark.parametrize("action", ["StopInstances", "DeleteInstances"])
def test_auth_failures_are_logged_without_acting(
    ecs_emulator: EcsEmulator, sdk_error: SdkError, action: str
) -> None:
    instance = ecs_emulator.add_instance(status="Stopped")
    wrong = make_sdk_client(ecs_emulator, credentials=EmulatorCredentials("emulator-ak", "bad"))
    model = getattr(ecs, f"{action}Request")(
        region_id="cn-hangzhou", instance_id=[instance.instance_id]
    )
    method = "stop_instances" if action == "StopInstances" else "delete_instances"
    sdk_error(lambda: getattr(wrong, method)(model))
    assert ecs_emulator.instance(instance.instance_id) is not None
    assert [(c.operation, c.error_code) for c in ecs_emulator.calls] == [
        (action, "SignatureDoesNotMatch")
    ]
