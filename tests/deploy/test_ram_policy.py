"""The execution role's policy grants what the functions call, and nothing broader.

What they call is read two ways: from the emulator's call log after running the three handlers
(with s.yaml's environment) on events that exercise every path, and from a static scan of the
gateway modules, so a new SDK call fails here before it fails in a real account with Forbidden.RAM.
ECS actions are checked one by one; ActionTrail gets LookupEvents, read only, and nothing more.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Final

import pytest

from ecs_emulator import EcsEmulator, FakeClock
from ecs_emulator.services.actiontrail import OPERATIONS as TRAIL_OPERATIONS
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import SAMPLES

from .checks import REPO_ROOT

POLICY: Final = REPO_ROOT / "deploy" / "ram-policy.json"
TRUST: Final = REPO_ROOT / "deploy" / "trust-policy.json"
RENDER_TOOL: Final = REPO_ROOT / "tools" / "render_policy.py"
GATEWAY: Final = REPO_ROOT / "shared" / "ecs_lifecycle" / "ecs"
TRAIL_GATEWAY: Final = REPO_ROOT / "shared" / "ecs_lifecycle" / "actiontrail.py"
SERVICES: Final = frozenset({"ecs", "actiontrail"})
EVENTS: Final = SAMPLES
ACCOUNT: Final = "1234567890123456"
REGION: Final = "cn-hangzhou"

# Ways to widen the functions' own scope, or to turn deletion protection off: always denied.
DENIED: Final = frozenset(
    {
        "TagResources",
        "UntagResources",
        "AddTags",
        "RemoveTags",
        "CreateTags",
        "DeleteTags",
        "ModifyInstanceAttribute",
    }
)
# CreateSnapshot authorises on the disk and the new snapshot, which carry no instance tags.
UNTAGGED_WRITES: Final = frozenset({"CreateSnapshot"})
_STATEMENT_KEYS: Final = frozenset({"Effect", "Action", "Resource", "Condition"})

Policy = dict[str, Any]


def _is_read(action: str) -> bool:
    return action.startswith(("Describe", "List"))


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _pascal(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


# --- what the code calls ---------------------------------------------------------------------


def statically_called() -> set[str]:
    """ECS actions named in the gateway: SDK methods (snake_case) and the operation labels."""
    source = "\n".join(path.read_text() for path in sorted(GATEWAY.glob("*.py")))
    methods = set(re.findall(r"""\bsender\(\s*["']([a-z_]+)["']""", source))
    methods |= set(re.findall(r"\bclient\.([a-z][a-z_]+)\(", source))
    labels = set(
        re.findall(r"""\b(?:call|pages)\(\s*(?:caller,\s*)?["']([A-Z][A-Za-z]+)["']""", source)
    )
    return {_pascal(method) for method in methods} | labels


@pytest.fixture(scope="module")
def fake_emulator() -> Iterator[EcsEmulator]:
    with EcsEmulator(clock=FakeClock(), stop_delay=30) as emulator:
        yield emulator


def _run(
    emulator: EcsEmulator,
    props: dict[str, Any],
    function: Function,
    event: bytes,
    **extra: str,
) -> dict[str, Any]:
    environ = {
        **props["environmentVariables"],
        "FC_REGION": REGION,
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        **extra,
    }
    services = Services(clock=emulator.clock, environ=environ, gateway_factory=make_gateway)
    return handle(function, event, make_context(function, environ), services)


@pytest.fixture(scope="module")
def called_in_emulator(fake_emulator: EcsEmulator, props: dict[str, dict[str, Any]]) -> set[str]:
    """Every operation the three handlers call, on events that take each one down every path."""
    emulator = fake_emulator
    dev = {"env": "dev"}
    stop, release, auto = (props[name] for name in ("ecs-stop", "ecs-release", "ecs-auto-release"))

    emulator.add_instance(tags=dev)
    _run(emulator, stop, Function.STOP, b'{"tags": {"env": "dev"}, "dry_run": false}')

    emulator.add_instance(tags=dev)  # running: release stops it first, then deletes it
    emulator.add_instance(status="Stopped", tags=dev)
    _run(emulator, release, Function.RELEASE, (EVENTS / "timer-nightly-release.json").read_bytes())

    emulator.add_instance(status="Stopped", tags=dev)  # released only once its disks are saved
    _run(
        emulator,
        release,
        Function.RELEASE,
        b'{"tags": {"env": "dev"}, "dry_run": false, "snapshot": true}',
    )

    # Released once ActionTrail proves it has been Stopped for a week (stopped_for).
    created = emulator.now() - timedelta(days=30)
    proven = emulator.add_instance(status="Stopped", tags=dev, creation_time=created)
    emulator.trail.add("StopInstance", [proven.instance_id], emulator.now() - timedelta(days=8))
    _run(
        emulator,
        release,
        Function.RELEASE,
        b'{"tags": {"env": "dev"}, "dry_run": false, "stopped_for": "7d"}',
        ACTIONTRAIL_ENDPOINT=emulator.endpoint,
        ACTIONTRAIL_PROTOCOL="http",
    )
    assert emulator.instance(proven.instance_id) is None

    # The instances the EventBridge samples name; the first one's tag sets a time, the second
    # one's removed tag cancels the time it has.
    emulator.add_instance(
        instance_id="i-bp1dev000000000001",
        tags={**dev, "auto-release": "72h"},
        creation_time=emulator.now(),
    )
    emulator.add_instance(
        instance_id="i-bp1dev000000000002",
        tags=dev,
        auto_release_time=emulator.now() + timedelta(days=2),
    )
    for sample in (
        "eventbridge-ecs-tagresources.json",
        "eventbridge-ecs-untagresources.json",
        "timer-empty-payload.json",
    ):
        _run(emulator, auto, Function.AUTO_RELEASE, (EVENTS / sample).read_bytes())
    return {call.operation for call in emulator.calls}


# --- the policy ------------------------------------------------------------------------------


def render(fleet_tag: str) -> Policy:
    completed = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [
            sys.executable,
            str(RENDER_TOOL),
            "--account-id",
            ACCOUNT,
            "--region",
            REGION,
            "--fleet-tag",
            fleet_tag,
        ],
        check=False,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    rendered: Policy = json.loads(completed.stdout)
    return rendered


@pytest.fixture(scope="module")
def fleet_tag(spec: dict[str, Any]) -> tuple[str, str]:
    """The dev-fleet tag s.yaml scopes the functions to (one key=value)."""
    key, _, value = str(spec["vars"]["fleet_tags"]).partition("=")
    return key, value


@pytest.fixture(scope="module")
def policy(fleet_tag: tuple[str, str]) -> Policy:
    return render("=".join(fleet_tag))


def _actions(policy: Policy, effect: str, service: str = "ecs") -> dict[str, list[Policy]]:
    """`service`'s action name -> the statements with `effect` that name it."""
    found: dict[str, list[Policy]] = {}
    for statement in policy["Statement"]:
        if statement["Effect"] != effect:
            continue
        for action in _as_list(statement["Action"]):
            named, _, name = action.partition(":")
            assert named in SERVICES, f"{action}: the functions need ECS and ActionTrail only"
            if named == service:
                found.setdefault(name, []).append(statement)
    return found


def test_the_policy_files_are_valid_ram_policies() -> None:
    for path in (POLICY, TRUST):
        document = json.loads(path.read_text())
        assert document["Version"] == "1"
        for statement in document["Statement"]:
            assert statement["Effect"] in ("Allow", "Deny")
            # RAM knows no Sid and no NotAction/NotResource here: those would widen or be refused.
            assert set(statement) <= _STATEMENT_KEYS | {"Principal"}, statement


def test_no_account_id_is_committed() -> None:
    assert not re.search(r"[0-9]{10,}", POLICY.read_text())
    assert set(re.findall(r"\$\{([A-Z_]+)\}", POLICY.read_text())) == {
        "ACCOUNT_ID",
        "REGION",
        "FLEET_TAG_KEY",
        "FLEET_TAG_VALUE",
    }


def test_the_emulator_saw_only_what_the_gateway_calls(called_in_emulator: set[str]) -> None:
    assert called_in_emulator >= {
        "DescribeInstances",
        "StopInstances",
        "DeleteInstances",
        "ModifyInstanceAutoReleaseTime",
        "DescribeDisks",
        "CreateSnapshot",
        "DescribeSnapshots",
        "LookupEvents",
    }
    assert called_in_emulator - set(TRAIL_OPERATIONS) <= statically_called()


def test_every_called_action_is_allowed_and_not_denied(
    policy: Policy, called_in_emulator: set[str]
) -> None:
    allowed = _actions(policy, "Allow")
    denied = _actions(policy, "Deny")
    for action in sorted((called_in_emulator - set(TRAIL_OPERATIONS)) | statically_called()):
        assert action in allowed, f"ecs:{action} is called but not granted"
        assert action not in denied, f"ecs:{action} is called but denied"


def test_nothing_is_granted_beyond_what_is_called(
    policy: Policy, called_in_emulator: set[str]
) -> None:
    for statement in policy["Statement"]:
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{action}: no wildcard actions"
    extra = set(_actions(policy, "Allow")) - called_in_emulator - statically_called()
    assert not extra, f"granted but never called: {sorted(extra)}"


def test_actiontrail_grants_lookup_events_only_read_only_and_nothing_more(
    policy: Policy, called_in_emulator: set[str]
) -> None:
    assert called_in_emulator & set(TRAIL_OPERATIONS) == {"LookupEvents"}
    source = TRAIL_GATEWAY.read_text()
    assert set(re.findall(r"\bclient\.([a-z][a-z_]+)\(", source)) == {"lookup_events"}
    trail_statements = [
        statement
        for statement in policy["Statement"]
        if any(a.startswith("actiontrail:") for a in _as_list(statement["Action"]))
    ]
    # LookupEvents authorises on no resource type ("All Resources"), so "*" is its only form.
    assert trail_statements == [
        {"Effect": "Allow", "Action": ["actiontrail:LookupEvents"], "Resource": "*"}
    ]


def test_reads_are_unconditioned_and_writes_are_limited_to_the_dev_fleet(
    policy: Policy, fleet_tag: tuple[str, str]
) -> None:
    key, value = fleet_tag
    instances = f"acs:ecs:{REGION}:{ACCOUNT}:instance/*"
    for action, statements in _actions(policy, "Allow").items():
        for statement in statements:
            resources = _as_list(statement["Resource"])
            if _is_read(action):
                assert "Condition" not in statement, f"ecs:{action}: reads filter by tag in code"
                # A read never shares a statement (and so a condition) with a write.
                assert all(_is_read(a.partition(":")[2]) for a in _as_list(statement["Action"]))
            elif action in UNTAGGED_WRITES:
                assert sorted(resources) == [
                    f"acs:ecs:{REGION}:{ACCOUNT}:disk/*",
                    f"acs:ecs:{REGION}:{ACCOUNT}:snapshot/*",
                ]
            else:
                assert resources == [instances], f"ecs:{action} must act on instances only"
                assert statement.get("Condition") == {
                    "StringEquals": {f"acs:ResourceTag/{key}": [value]}
                }, f"ecs:{action} must be limited to instances tagged {key}={value}"


def test_tagging_and_turning_protection_off_are_denied(policy: Policy) -> None:
    denied = _actions(policy, "Deny")
    assert set(denied) >= DENIED
    for statements in denied.values():
        for statement in statements:
            assert statement["Resource"] == "*"
            assert "Condition" not in statement


def test_the_trust_policy_lets_only_function_compute_assume_the_role() -> None:
    (statement,) = json.loads(TRUST.read_text())["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Principal"] == {"Service": ["fc.aliyuncs.com"]}


@pytest.mark.parametrize(
    "arguments",
    [
        ["--account-id", ACCOUNT, "--region", REGION, "--fleet-tag", "env="],
        ["--account-id", ACCOUNT, "--region", REGION, "--fleet-tag", "env=*"],
        ["--account-id", "acme", "--region", REGION, "--fleet-tag", "env=dev"],
        ["--account-id", ACCOUNT, "--region", "Hangzhou", "--fleet-tag", "env=dev"],
    ],
)
def test_rendering_refuses_values_that_would_void_the_policy(arguments: list[str]) -> None:
    completed = subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [sys.executable, str(RENDER_TOOL), *arguments],
        check=False,
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert completed.stdout == ""


def test_the_docs_show_how_to_render_the_policy_and_create_the_role() -> None:
    docs = (REPO_ROOT / "docs" / "deploy.md").read_text()
    assert "tools/render_policy.py" in docs
    assert "deploy/trust-policy.json" in docs
    assert "aliyun ram CreateRole" in docs
    assert "aliyun ram AttachPolicyToRole" in docs
