"""Issue #23's "Done when", end to end: a nightly release for a Resource Directory folder.

The hub's FC entry point (functions/fanout/index.py) reads the folder from the emulated Resource
Directory and queues one FC 3.0 async task per account and region (ecs_emulator.hub_cloud); FC
then runs each task through the release worker's handler, which acts in the task's account on
the spoke role: the real `spoke_credentials` (accounts/credentials.py) assumes it through the
emulator's STS, and ECS and ActionTrail answer with that account's own fleet only.

Each member account's releases are compared with a single-account run (today's worker, no
account named) of the same fleet on a fresh emulator: the fan-out must release exactly what
that run releases, region by region, and keep the rest for the same reasons. A fourth account's
role does not trust the worker: its targets fail naming the account, the region and STS's
refusal, and the other accounts finish.

The one seam: the worker's builder is `spoke_credentials` with the emulator's STS over HTTP
(`sts_endpoint`, as tests/functional/test_worker_spoke_role.py does; FC runs use the SDK's own
HTTPS endpoint) on the emulator's clock, which starts at the real present because the provider
checks a session's Expiration against the machine's time.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FakeClock
from ecs_emulator.hub_cloud import HubCloudEmulator
from ecs_emulator.iam import HOME_ACCOUNT
from ecs_emulator.services.fc import AsyncTask
from ecs_lifecycle.accounts.credentials import spoke_credentials
from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.fanout.plan import HUB_KEY
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import Runner

REPO = Path(__file__).resolve().parents[2]
FOLDER = "fd-nightly001"
MEMBERS = ("2000000000000001", "2000000000000002", "2000000000000003")
UNTRUSTING = "2000000000000004"  # its spoke role trusts another account, not the worker's
STRANGER = "3" * 16
REGIONS = ("cn-hangzhou", "cn-shanghai")
OUTSIDE_REGION = "cn-beijing"  # not in TARGET_REGIONS
ROLE = "ecs-lifecycle-spoke"
EXTERNAL_ID = "ext-nightly"
WORKER_ENV = {
    "TARGET_REGIONS": ",".join(REGIONS),
    "TARGET_TAGS": "env=dev",
    "TARGET_ACCOUNT_FOLDER": FOLDER,
    "SPOKE_ROLE_NAME": ROLE,
    "EXTERNAL_ID": EXTERNAL_ID,
    "DRY_RUN": "false",
}


@dataclass(frozen=True)
class _Function:
    timeout = 300


@dataclass(frozen=True)
class _Context:
    request_id: str = "hub-nightly"
    function: _Function = _Function()


def load_hub_entry_point() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fanout_index_e2e", REPO / "functions" / "fanout" / "index.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start() -> datetime:
    """The real present (see the module docstring), on a whole minute like a timer's."""
    return datetime.now(timezone.utc).replace(second=0, microsecond=0)


def nightly(at: datetime) -> bytes:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"triggerName": "nightly", "triggerTime": stamp, "payload": ""}).encode()


def fleet(number: int, at: datetime) -> list[dict[str, Any]]:
    """One account's fleet (differing by `number`): add_instance's arguments, ids included."""
    specs: list[dict[str, Any]] = []
    for r, region in enumerate(REGIONS):
        prefix = f"i-a{number}r{r}"
        dev = {"region": region, "status": "Stopped"}
        specs += [
            *(
                {**dev, "instance_id": f"{prefix}stopped{n}", "tags": {"env": "dev"}}
                for n in range(1 + (number + r) % 2)
            ),
            {**dev, "instance_id": f"{prefix}running", "status": "Running",
             "tags": {"env": "dev"}},
            {**dev, "instance_id": f"{prefix}protecttag",
             "tags": {"env": "dev", "protected": "true"}},
            {**dev, "instance_id": f"{prefix}deletionprotected", "tags": {"env": "dev"},
             "deletion_protection": True},
            {**dev, "instance_id": f"{prefix}subscription", "tags": {"env": "dev"},
             "charge_type": "PrePaid"},
            {**dev, "instance_id": f"{prefix}lifetimeahead",
             "tags": {"env": "dev", "auto-release": "30d"}},
            {**dev, "instance_id": f"{prefix}lifetimepassed", "tags": {"env": "dev",
             "auto-release": "72h"}, "creation_time": at - timedelta(days=14)},
            {**dev, "instance_id": f"{prefix}keepuntil",
             "tags": {"env": "dev", "keep-until": (at + timedelta(days=3)).date().isoformat()}},
            {**dev, "instance_id": f"{prefix}prod", "tags": {"env": "prod"}},
        ]  # fmt: skip
    specs.append(
        {"region": OUTSIDE_REGION, "status": "Stopped", "instance_id": f"i-a{number}outside",
         "tags": {"env": "dev"}}
    )  # fmt: skip
    return specs


def fresh(emu: EcsEmulator, at: datetime) -> None:
    emu.reset(clock=FakeClock(at))
    emu.settings.stop_delay = 0


def worker_services(emu: EcsEmulator) -> Services:
    return Services(
        clock=emu.clock,
        environ=Runner(emu).environ(**WORKER_ENV),
        gateway_factory=make_gateway,
        spoke_credentials=partial(
            spoke_credentials, sts_endpoint=f"http://{emu.endpoint}", clock=emu.clock
        ),
    )


def outcomes(summary: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {e["instance_id"]: (e["outcome"], e["reason"]) for e in summary["instances"]}


@pytest.fixture
def cloud() -> Iterator[HubCloudEmulator]:
    with HubCloudEmulator(clock=FakeClock(start())) as emulator:
        yield emulator
        assert emulator.internal_errors == []


@dataclass
class FanOut:
    at: datetime  # the fleets' present: the single-account runs start there too
    summary: dict[str, Any]
    tasks: list[AsyncTask]
    remaining: dict[str, set[str]]  # account -> the ids still alive afterwards
    calls: list[Any]  # the ECS emulator's calls (ECS, ActionTrail, STS)

    def reports(self) -> dict[tuple[str, str], AsyncTask]:
        found: dict[tuple[str, str], AsyncTask] = {}
        for task in self.tasks:
            envelope = json.loads(task.payload)[HUB_KEY]
            found[(envelope["account"], envelope["region"])] = task
        return found


@pytest.fixture
def fanout(
    cloud: HubCloudEmulator, ecs_emulator: EcsEmulator, monkeypatch: pytest.MonkeyPatch
) -> FanOut:
    at = start()
    fresh(ecs_emulator, at)
    for number, account in enumerate((*MEMBERS, UNTRUSTING), start=1):
        for spec in fleet(number, at):
            ecs_emulator.add_instance(**spec, account=account)
        trusted = (STRANGER,) if account == UNTRUSTING else (HOME_ACCOUNT,)
        ecs_emulator.add_role(account, ROLE, trusted_accounts=trusted, external_id=EXTERNAL_ID)
    cloud.directory.add_folder(FOLDER, "dev")
    for account in (*MEMBERS, UNTRUSTING):
        cloud.directory.add_account(account, FOLDER)

    def release_worker(event: bytes, context: Any) -> str:
        return json.dumps(handle(Function.RELEASE, event, context, worker_services(ecs_emulator)))

    cloud.fc.add_function("ecs-release", release_worker, max_async_retry_attempts=1)
    hub_env = {
        **WORKER_ENV,
        "FC_REGION": "cn-hangzhou",
        "FC_FUNCTION_NAME": "ecs-fanout",
        "WORKER_FUNCTIONS": "ecs-release",
        "FANOUT_INVOKES_PER_SECOND": "1000",
        "RESOURCEMANAGER_ENDPOINT": cloud.endpoint,
        "RESOURCEMANAGER_PROTOCOL": "http",
        "FUNCTION_COMPUTE_ENDPOINT": cloud.endpoint,
        "FUNCTION_COMPUTE_PROTOCOL": "http",
    }
    for name, value in hub_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FANOUT_PAUSED", raising=False)
    summary = json.loads(load_hub_entry_point().handler(nightly(at), _Context()))
    tasks = cloud.fc.run_queued()
    remaining = {
        account: {view.instance_id for view in ecs_emulator.instances(account=account)}
        for account in (*MEMBERS, UNTRUSTING)
    }
    return FanOut(at, summary, tasks, remaining, ecs_emulator.calls)


def single_account_run(
    emu: EcsEmulator, number: int, at: datetime
) -> tuple[dict[str, Any], set[str]]:
    """Today's worker on the same fleet in its own account, on a fresh emulator at `at`."""
    fresh(emu, at)
    for spec in fleet(number, at):
        emu.add_instance(**spec)
    services = worker_services(emu)
    summary = handle(
        Function.RELEASE,
        nightly(at),
        make_context(Function.RELEASE, dict(services.environ)),
        services,
    )
    return summary, {view.instance_id for view in emu.instances()}


def test_a_nightly_release_fans_out_to_every_member_and_releases_what_each_alone_would(
    fanout: FanOut, ecs_emulator: EcsEmulator
) -> None:
    counts = fanout.summary["counts"]
    assert counts["dispatched"] == 8  # 4 accounts x 2 regions
    assert counts["failed"] == 0
    assert counts["skipped"] == 0
    reports = fanout.reports()
    assert set(reports) == {(a, r) for a in (*MEMBERS, UNTRUSTING) for r in REGIONS}
    assert all(task.status in ("Succeeded", "Failed") for task in fanout.tasks)  # every one ran

    # STS is asked by the runtime role; everything else went out in the member's own account.
    assumed = [call for call in fanout.calls if call.operation == "AssumeRole"]
    assert {call.account for call in assumed} == {HOME_ACCOUNT}
    others = [call for call in fanout.calls if call.operation != "AssumeRole"]
    assert {call.account for call in others} == set(MEMBERS)
    assert "LookupEvents" in {call.operation for call in others}  # the lifetime's anchor
    fanned = {key: json.loads(task.result) for key, task in reports.items() if key[0] in MEMBERS}
    remaining = dict(fanout.remaining)
    for number, account in enumerate(MEMBERS, start=1):
        alone, alive_alone = single_account_run(ecs_emulator, number, fanout.at)
        assert alone["counts"]["done"] >= 4  # the fleet has releasable instances in each region
        assert alone["counts"].get("failed", 0) == 0
        assert remaining[account] == alive_alone  # exactly what the single run released
        in_account: dict[str, tuple[str, str]] = {}
        for region in REGIONS:
            report = fanned[(account, region)]
            assert reports[(account, region)].status == "Succeeded"
            assert report["regions"] == [region]  # each task narrowed to its region
            assert report["counts"].get("failed", 0) == 0
            in_account.update(outcomes(report))
        # Every instance the single run saw, with the same outcome and reason.
        assert in_account == outcomes(alone)
        assert f"i-a{number}outside" in remaining[account]  # the region fence held
        assert {f"i-a{number}r0prod", f"i-a{number}r1prod"} <= remaining[account]  # tag fence


def test_a_target_whose_role_does_not_trust_the_worker_fails_naming_it_and_the_others_finish(
    fanout: FanOut,
) -> None:
    reports = fanout.reports()
    for region in REGIONS:
        task = reports[(UNTRUSTING, region)]
        assert task.status == "Failed"
        assert task.error is not None
        assert "AssumeRole" in task.error
        assert "NoPermission" in task.error
        assert f"account {UNTRUSTING}" in task.error
        assert json.loads(task.payload)[HUB_KEY]["region"] == region
    assert fanout.remaining[UNTRUSTING] == {spec["instance_id"] for spec in fleet(4, fanout.at)}
    finished = [task for key, task in reports.items() if key[0] in MEMBERS]
    assert [task.status for task in finished] == ["Succeeded"] * 6
