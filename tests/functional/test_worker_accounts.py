"""The worker's account: a hub event (or a manual run) naming an account, on the emulator.

The spoke credentials are built at their one seam (Services.spoke_credentials): here a builder
that records what it was asked and answers with the default chain's credentials, as the
emulator's single fleet needs; the STS side is the emulator's (its own tests).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.fanout.plan import Target, task_id, worker_payload
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import Runner, alive

A, B = "1" * 16, "2" * 16
ACCOUNTS = {
    "TARGET_ACCOUNTS": A,
    "EXCLUDE_ACCOUNTS": B,
    "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
    "EXTERNAL_ID": "ext-1234",
    "TARGET_TAGS": "env=dev",
}


class Builder:
    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    def __call__(
        self, role: str, external_id: str | None, session: str, policy: str, seconds: int
    ) -> CredentialClient:
        self.asked.append((role, external_id, session, policy, seconds))
        return CredentialClient()


def hub_event(account: str, emulator: EcsEmulator) -> bytes:
    at = emulator.clock.now().replace(second=0, microsecond=0)
    target = Target(
        "ecs-stop", account, "cn-hangzhou", task_id("ecs-stop", account, "cn-hangzhou", at)
    )
    return worker_payload(target, at, "nightly", None)


def call(run: Runner, event: bytes | str, builder: Builder, **env: str) -> dict[str, Any]:
    environ = run.environ(**env)
    services = Services(
        clock=run.emulator.clock,
        environ=environ,
        gateway_factory=make_gateway,
        spoke_credentials=builder,
    )
    return handle(Function.STOP, event, make_context(Function.STOP, environ), services)


def test_a_hub_event_runs_in_the_named_account_on_the_spoke_role(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    dev = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    prod = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "prod"})
    builder = Builder()
    summary = call(run, hub_event(A, ecs_emulator), builder, **ACCOUNTS)
    assert summary["counts"]["done"] == 1
    assert alive(ecs_emulator, prod.instance_id).status == "Running"  # the fence held
    assert alive(ecs_emulator, dev.instance_id).status in ("Stopping", "Stopped")
    [(role, external_id, session, policy, seconds)] = builder.asked  # one AssumeRole a run
    assert role == f"acs:ram::{A}:role/ecs-lifecycle-spoke"
    assert external_id == "ext-1234"
    assert seconds == 900
    assert session.startswith("stop.ecs-stop-" + A)
    actions = json.loads(policy)["Statement"][0]["Action"]
    assert "ecs:StopInstances" in actions
    assert "ecs:DeleteInstances" not in actions


@pytest.mark.parametrize(
    ("account", "env", "reason"),
    [
        (B, ACCOUNTS, "EXCLUDE_ACCOUNTS"),
        ("3" * 16, ACCOUNTS, "not in TARGET_ACCOUNTS"),
        (A, {**ACCOUNTS, "FANOUT_PAUSED": "true"}, "FANOUT_PAUSED"),
        (A, {"TARGET_TAGS": "env=dev"}, "no accounts are configured"),
    ],
)
def test_a_hub_event_outside_the_lists_or_while_paused_is_refused_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator, account: str, env: dict[str, str], reason: str
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    builder = Builder()
    with pytest.raises(InvalidInputError, match=reason):
        call(run, hub_event(account, ecs_emulator), builder, **env)
    assert builder.asked == []
    assert not ecs_emulator.calls


def test_a_manual_run_can_name_one_listed_account(run: Runner, ecs_emulator: EcsEmulator) -> None:
    dev = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    builder = Builder()
    event = json.dumps({"account": A, "tags": {"env": "dev"}})
    summary = call(run, event, builder, **ACCOUNTS)
    assert summary["counts"]["done"] == 1
    assert alive(ecs_emulator, dev.instance_id).status in ("Stopping", "Stopped")
    assert len(builder.asked) == 1
    with pytest.raises(InvalidInputError, match="not in TARGET_ACCOUNTS"):
        call(run, json.dumps({"account": "4" * 16, "tags": {"env": "dev"}}), builder, **ACCOUNTS)


def test_with_no_accounts_configured_a_run_is_as_today(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    builder = Builder()
    summary = call(run, json.dumps({"tags": {"env": "dev"}}), builder)
    assert summary["counts"]["done"] == 1
    assert builder.asked == []
