"""The multi-account deployment, offline: s.multi-account.yaml against the fc3 schema, the hub's
and the spoke's policies, and the ROS template that rolls the spoke role out."""

from __future__ import annotations

import json
from typing import Any, Final

import yaml

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.fanout.plan import check_workers
from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import Settings, parse_options

from .checks import (
    REPO_ROOT,
    TEST_ENV,
    environment_problems,
    load_spec,
    resolved_props,
    schema_problems,
    unknown_prop_problems,
)

MULTI: Final = REPO_ROOT / "s.multi-account.yaml"
DEPLOY: Final = REPO_ROOT / "deploy" / "multi-account"
ENV: Final = {
    **TEST_ENV,
    "ECS_LIFECYCLE_HUB_ROLE_ARN": "acs:ram::1234567890123456:role/ecs-lifecycle-hub",
    "ECS_LIFECYCLE_TARGET_ACCOUNTS": "1111111111111111",
    "ECS_LIFECYCLE_EXTERNAL_ID": "ext-test",
    "ECS_LIFECYCLE_FAILURE_DESTINATION": "acs:mns:cn-hangzhou:1234567890123456:/queues/f/messages",
}
WORKERS: Final = {
    "ecs-stop": Function.STOP,
    "ecs-release": Function.RELEASE,
    "ecs-auto-release": Function.AUTO_RELEASE,
}


def props() -> dict[str, dict[str, Any]]:
    return resolved_props(load_spec(MULTI), ENV)


def test_every_resource_passes_the_fc3_schema(schema: dict[str, Any]) -> None:
    for name, resource in props().items():
        problems = (
            schema_problems(resource, schema)
            + unknown_prop_problems(resource, schema)
            + environment_problems(resource)
        )
        assert problems == [], name


def test_the_hub_and_the_workers_read_the_same_account_fence() -> None:
    resolved = props()
    hub = AccountSettings.from_env(resolved["ecs-fanout"]["environmentVariables"])
    assert hub.configured
    assert check_workers(hub, []) == tuple(WORKERS)
    for name, function in WORKERS.items():
        env = resolved[name]["environmentVariables"]
        worker = AccountSettings.from_env(env)
        assert worker.target_accounts == hub.target_accounts
        assert worker.exclude_accounts == hub.exclude_accounts
        assert worker.target_folder == hub.target_folder
        assert worker.external_id
        Settings.from_env(function, {**env, "FC_REGION": "cn-hangzhou"})
        config = resolved[name]["asyncInvokeConfig"]
        assert config["destinationConfig"]["onFailure"]["destination"]
        assert config["asyncTask"] is True, "without the task mode FC ignores the task ids"
        assert "triggers" not in resolved[name], "the hub's timers replace the workers'"


def test_the_hubs_timer_payloads_ask_only_for_named_workers_with_valid_options() -> None:
    hub = props()["ecs-fanout"]
    for trigger in hub["triggers"]:
        payload = json.loads(trigger["triggerConfig"]["payload"])
        for name in payload["functions"]:
            parse_options(WORKERS[name], payload.get("options") or {})


def test_without_accounts_the_hub_is_refused_by_its_settings() -> None:
    resolved = resolved_props(load_spec(MULTI), {**ENV, "ECS_LIFECYCLE_TARGET_ACCOUNTS": ""})
    assert not AccountSettings.from_env(resolved["ecs-fanout"]["environmentVariables"]).configured


def _policy(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEPLOY / name).read_text())
    return loaded


def test_the_spoke_trust_names_the_worker_role_with_an_external_id() -> None:
    (statement,) = _policy("spoke-trust-policy.json")["Statement"]
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"]["RAM"] == [
        "acs:ram::${TOOLING_ACCOUNT_ID}:role/${WORKER_ROLE_NAME}"
    ]
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"]
    assert "Service" not in statement["Principal"]


def test_the_hub_policy_grants_no_ecs_and_invokes_only_the_workers() -> None:
    statements = _policy("hub-ram-policy.json")["Statement"]
    actions = [a for s in statements for a in s["Action"]]
    assert not [a for a in actions if a.startswith("ecs:") or a == "*"]
    (invoke,) = [s for s in statements if "fc:InvokeFunction" in s["Action"]]
    assert sorted(r.rsplit("/", 1)[1] for r in invoke["Resource"]) == sorted(WORKERS)
    assert _policy("worker-assume-spoke-policy.json")["Statement"][0]["Action"] == "sts:AssumeRole"


def test_the_ros_template_makes_the_spoke_role_with_the_trust_condition() -> None:
    template = yaml.safe_load((DEPLOY / "ros-spoke-role.yaml").read_text())
    role = template["Resources"]["SpokeRole"]
    assert role["Type"] == "ALIYUN::RAM::Role"
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == {"Ref": "ExternalId"}
    assert template["Parameters"]["ExternalId"]["NoEcho"] is True
    assert role["Properties"]["Policies"][0]["PolicyDocument"] == {"Ref": "SpokePolicyDocument"}
