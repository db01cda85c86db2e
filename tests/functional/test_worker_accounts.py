"""The worker's account: a hub event (or a manual run) naming an account, on the emulator.

The spoke credentials are built at their one seam (Services.spoke_credentials): here a builder
that records what it was asked and answers with the default chain's credentials, as the
emulator's single fleet needs; the STS side is the emulator's (its own tests).
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.models import Config as CredentialConfig
from alibabacloud_ecs20140526 import models as ecs_models

from ecs_emulator import EcsEmulator, EmulatorCredentials
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.fanout.plan import Target, task_id, worker_payload
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, by_id

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


# ----- the anchor of the minimum notice in a named account (issue 20 x issue 23) -------------
# ActionTrail answers for the account whose credentials sign the call, at one endpoint per
# region. The emulator plays one account per server: the member account is `ecs_emulator`, which
# knows only the spoke role's key; a second server plays the tooling account, which knows only
# the runtime role's (the default chain's) key and has no record of the member's tag calls.
SPOKE = EmulatorCredentials("spoke-ak", "spoke-secret-not-real")  # pragma: allowlist secret


class SpokeBuilder(Builder):
    """The spoke role's session credentials: a key only the member account knows."""

    def __call__(
        self, role: str, external_id: str | None, session: str, policy: str, seconds: int
    ) -> CredentialClient:
        super().__call__(role, external_id, session, policy, seconds)
        return CredentialClient(
            CredentialConfig(
                type="access_key",
                access_key_id=SPOKE.access_key_id,
                access_key_secret=SPOKE.access_key_secret,
            )
        )


def _member_tags_old_instance(emulator: EcsEmulator, ecs_sdk_client: Any) -> str:
    """A 14-day-old Stopped dev instance in the member account, tagged auto-release=72h now by
    its owner (the member account's trail records the TagResources call)."""
    instance = emulator.add_instance(
        region="cn-hangzhou",
        status="Stopped",
        tags={"env": "dev"},
        creation_time=emulator.now() - timedelta(days=14),
    )
    ecs_sdk_client.tag_resources(
        ecs_models.TagResourcesRequest(
            region_id="cn-hangzhou",
            resource_type="instance",
            resource_id=[instance.instance_id],
            tag=[ecs_models.TagResourcesRequestTag(key="auto-release", value="72h")],
        )
    )
    emulator.set_credentials(SPOKE)  # from now on the member account answers the spoke role only
    return instance.instance_id


def _nightly_in(account: str, function: str, emulator: EcsEmulator) -> bytes:
    at = emulator.clock.now().replace(second=0, microsecond=0)
    target = Target(function, account, "cn-hangzhou", task_id(function, account, "cn-hangzhou", at))
    return worker_payload(target, at, "nightly-release", {"tags": {"env": "dev"}, "dry_run": False})


def _in_account(
    run: Runner, function: Function, event: bytes, builder: Builder, **env: str
) -> dict[str, Any]:
    environ = run.environ(**{**ACCOUNTS, **env})
    services = Services(
        clock=run.emulator.clock,
        environ=environ,
        gateway_factory=make_gateway,
        spoke_credentials=builder,
    )
    return handle(function, event, make_context(function, environ), services)


def test_in_a_named_account_the_tooling_accounts_trail_never_anchors_a_release(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # The owner tagged the member's instance two hours ago and was promised the minimum notice
    # (24 h from the write). The tooling account's trail has no record of that write: read with
    # the runtime role it would say "no tag call in the window", so the lifetime has passed and
    # the notice has run: released 22 h early. Read on the spoke role it is the member's trail,
    # or, where that cannot be read, doubt keeps.
    instance_id = _member_tags_old_instance(ecs_emulator, ecs_sdk_client)
    ecs_emulator.advance(2 * 3600)
    with EcsEmulator(clock=ecs_emulator.clock) as tooling:
        builder = SpokeBuilder()
        summary = _in_account(
            run,
            Function.RELEASE,
            _nightly_in(A, "ecs-release", ecs_emulator),
            builder,
            ACTIONTRAIL_ENDPOINT=tooling.endpoint,
        )
    entry = by_id(summary)[instance_id]
    assert entry["outcome"] == "skipped", entry
    assert "when its tags were written is unknown (ActionTrail:" in entry["reason"]
    assert "doubt keeps it" in entry["reason"]
    assert any("doubt keeps" in note for note in summary["notes"])
    alive(ecs_emulator, instance_id)
    assert len(builder.asked) == 1  # one AssumeRole for the ECS and the ActionTrail calls


def test_in_a_named_account_the_anchor_is_read_from_the_members_trail(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    instance_id = _member_tags_old_instance(ecs_emulator, ecs_sdk_client)
    ecs_emulator.advance(2 * 3600)
    builder = SpokeBuilder()
    summary = _in_account(
        run, Function.RELEASE, _nightly_in(A, "ecs-release", ecs_emulator), builder
    )
    entry = by_id(summary)[instance_id]
    assert entry["outcome"] == "skipped", entry
    assert "counts from when its tags were written (2026-11-26T06:00Z)" in entry["reason"]
    assert "released from 2026-11-27T06:00Z, not sooner" in entry["reason"]
    assert ecs_emulator.calls_to("LookupEvents")
    assert len(builder.asked) == 1
    # The auto-release function's reconcile in the same account: the same time, from the same
    # record (its session policy lets it read ActionTrail).
    builder = SpokeBuilder()
    summary = _in_account(
        run, Function.AUTO_RELEASE, _nightly_in(A, "ecs-auto-release", ecs_emulator), builder
    )
    entry = by_id(summary)[instance_id]
    assert entry["release_at"] == "2026-11-27T06:00:00Z", entry
    assert "from when its tags were written (2026-11-26T06:00Z)" in entry["reason"]
    [(_, _, _, policy, _)] = builder.asked
    assert "actiontrail:LookupEvents" in json.loads(policy)["Statement"][0]["Action"]
    # The nightly release at the promised time releases it, in the member account.
    ecs_emulator.advance(22 * 3600 + 60)
    summary = _in_account(
        run, Function.RELEASE, _nightly_in(A, "ecs-release", ecs_emulator), SpokeBuilder()
    )
    assert by_id(summary)[instance_id]["outcome"] == "done", by_id(summary)[instance_id]
    assert ecs_emulator.instance(instance_id) is None


def test_in_a_named_account_stopped_for_reads_the_members_stop_records(
    run: Runner, ecs_emulator: EcsEmulator, ecs_sdk_client: Any
) -> None:
    # stopped_for is proven by ActionTrail's StopInstances records: the member account's, read on
    # the spoke role. The tooling account's trail proves no stop, so nothing is released on it.
    old = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    recent = ecs_emulator.add_instance(region="cn-hangzhou", status="Running", tags={"env": "dev"})
    ecs_sdk_client.stop_instances(
        ecs_models.StopInstancesRequest(region_id="cn-hangzhou", instance_id=[old.instance_id])
    )
    ecs_emulator.advance(5 * 86400)
    ecs_sdk_client.stop_instances(
        ecs_models.StopInstancesRequest(region_id="cn-hangzhou", instance_id=[recent.instance_id])
    )
    ecs_emulator.advance(3 * 86400)
    ecs_emulator.set_credentials(SPOKE)
    event = json.dumps(
        {"account": A, "tags": {"env": "dev"}, "dry_run": False, "stopped_for": "7d"}
    )
    with EcsEmulator(clock=ecs_emulator.clock) as tooling:
        summary = _in_account(
            run,
            Function.RELEASE,
            event.encode(),
            SpokeBuilder(),
            ACTIONTRAIL_ENDPOINT=tooling.endpoint,
        )
    assert {e["outcome"] for e in summary["instances"]} == {"skipped"}
    assert any("stopped_for" in note for note in summary["notes"]), summary["notes"]
    summary = _in_account(run, Function.RELEASE, event.encode(), SpokeBuilder())
    results = by_id(summary)
    assert results[old.instance_id]["outcome"] == "done", results[old.instance_id]
    assert results[recent.instance_id]["outcome"] == "skipped"
    assert ecs_emulator.instance(old.instance_id) is None
    alive(ecs_emulator, recent.instance_id)
