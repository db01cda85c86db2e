"""The hub's FC entry point (functions/fanout/index.py) on the emulator, through the real SDKs.

Resource Directory and FC 3.0 are ecs_emulator.hub_cloud; the hub builds its real gateways from
the environment, as on FC (credentials from the default chain). A folder holds a joined member,
one being removed, one on the deny-list and the management account; the hub plans from it and
queues one FC async task per worker x account x region, each with its deterministic task id.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alibabacloud_credentials.client import Client as CredentialClient

from ecs_emulator import EcsEmulator
from ecs_emulator.clock import FakeClock
from ecs_emulator.hub_cloud import HubCloudEmulator
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.accounts.sdk_calls import AccountsApiError
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.fanout.plan import HUB_KEY, task_id
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import alive

REPO = Path(__file__).resolve().parents[2]
FOLDER = "fd-dev0000001"
JOINED, REMOVING, DENIED, EXPLICIT = "2" * 16, "3" * 16, "4" * 16, "5" * 16
MANAGEMENT = "1000000000000001"  # the emulated directory's management account
REGIONS = ("cn-hangzhou", "cn-shanghai")
WORKERS = ("ecs-stop", "ecs-release")
SCHEDULED = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)
TIMER = json.dumps(
    {"triggerName": "nightly", "triggerTime": "2026-11-26T06:00:00Z", "payload": ""}
).encode()


@dataclass(frozen=True)
class _Function:
    timeout = 300


@dataclass(frozen=True)
class _Context:
    request_id: str = "hub-request"
    function: _Function = _Function()


def load_entry_point() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "fanout_index", REPO / "functions" / "fanout" / "index.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hub_cloud_server() -> Iterator[HubCloudEmulator]:
    with HubCloudEmulator(clock=FakeClock(DEFAULT_START)) as emulator:
        yield emulator


@pytest.fixture
def cloud(hub_cloud_server: HubCloudEmulator) -> Iterator[HubCloudEmulator]:
    hub_cloud_server.reset(clock=FakeClock(DEFAULT_START))
    directory = hub_cloud_server.directory
    directory.add_folder(FOLDER, "dev")
    directory.add_account(JOINED, FOLDER)
    directory.add_account(REMOVING, FOLDER, status="PromoteVerifying")
    directory.add_account(DENIED, FOLDER)
    directory.add_account(MANAGEMENT, FOLDER, account_type="CloudAccount")
    for worker in WORKERS:
        hub_cloud_server.fc.add_function(worker)
    yield hub_cloud_server
    errors = list(hub_cloud_server.internal_errors)
    hub_cloud_server.reset()
    if errors:
        raise errors[0]


Hub = Callable[..., dict[str, Any]]


@pytest.fixture
def hub(cloud: HubCloudEmulator, monkeypatch: pytest.MonkeyPatch) -> Hub:
    """The entry point, as FC calls it, with the hub's environment (`**env` overrides it)."""
    entry = load_entry_point()
    base = {
        "FC_REGION": "cn-hangzhou",
        "FC_FUNCTION_NAME": "ecs-fanout",
        "TARGET_ACCOUNT_FOLDER": FOLDER,
        "TARGET_ACCOUNTS": EXPLICIT,
        "EXCLUDE_ACCOUNTS": DENIED,
        "TARGET_REGIONS": ",".join(REGIONS),
        "WORKER_FUNCTIONS": ",".join(WORKERS),
        "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
        "FANOUT_INVOKES_PER_SECOND": "1000",
        "RESOURCEMANAGER_ENDPOINT": cloud.endpoint,
        "RESOURCEMANAGER_PROTOCOL": "http",
        "FUNCTION_COMPUTE_ENDPOINT": cloud.endpoint,
        "FUNCTION_COMPUTE_PROTOCOL": "http",
    }
    monkeypatch.delenv("DRY_RUN", raising=False)
    monkeypatch.delenv("FANOUT_PAUSED", raising=False)

    def call(event: bytes = TIMER, **env: str) -> dict[str, Any]:
        for name, value in {**base, **env}.items():
            monkeypatch.setenv(name, value)
        answer = entry.handler(event, _Context())
        summary: dict[str, Any] = json.loads(answer)
        return summary

    return call


def expected_task_ids(accounts: tuple[str, ...]) -> set[str]:
    return {
        task_id(worker, account, region, SCHEDULED)
        for worker in WORKERS
        for account in accounts
        for region in REGIONS
    }


def test_the_hub_plans_from_the_folder_and_queues_one_task_per_worker_account_and_region(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    summary = hub()
    assert summary["counts"] == {
        "dispatched": 8, "duplicate": 0, "planned": 0, "failed": 0, "skipped": 3,
    }  # fmt: skip
    skipped = {s["account"]: s["reason"] for s in summary["skipped_accounts"]}
    assert "EXCLUDE_ACCOUNTS" in skipped[DENIED]
    assert "PromoteVerifying" in skipped[REMOVING]
    assert "management account" in skipped[MANAGEMENT]
    tasks = cloud.fc.queued()
    assert {t.task_id for t in tasks} == expected_task_ids((JOINED, EXPLICIT))
    for task in tasks:
        envelope = json.loads(task.payload)[HUB_KEY]
        assert task.task_id == task_id(
            task.function_name, envelope["account"], envelope["region"], SCHEDULED
        )
        assert len(task.payload) < 1024  # far under FC's 128 KB async limit
    # Read-only on the directory: only the listing calls, each one page.
    assert {c.operation for c in cloud.calls} == {
        "GetResourceDirectory",
        "ListAccountsForParent",
        "InvokeFunction",
    }


def test_a_retried_hub_run_dispatches_no_duplicate(cloud: HubCloudEmulator, hub: Hub) -> None:
    hub()
    again = hub()
    assert again["counts"]["duplicate"] == 8
    assert again["counts"]["dispatched"] == 0
    assert len(cloud.fc.queued()) == 8
    assert [c.status for c in cloud.calls_to("InvokeFunction")] == [202] * 8 + [409] * 8


def test_the_management_account_is_acted_in_when_the_allow_list_names_it(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    summary = hub(TARGET_ACCOUNTS=f"{EXPLICIT},{MANAGEMENT}")
    assert summary["counts"]["dispatched"] == 12
    assert {t.task_id for t in cloud.fc.queued()} == expected_task_ids(
        (JOINED, EXPLICIT, MANAGEMENT)
    )


def test_throttled_invocations_are_retried_and_all_are_queued(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    cloud.throttle("InvokeFunction", 3)
    cloud.throttle("ListAccountsForParent", 1)
    summary = hub()
    assert summary["counts"]["dispatched"] == 8
    assert summary["counts"]["failed"] == 0
    assert len(cloud.fc.queued()) == 8
    assert [c.status for c in cloud.calls_to("InvokeFunction")].count(429) == 3


def test_a_hub_dry_run_reads_the_accounts_and_invokes_nothing(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    summary = hub(DRY_RUN="true")
    assert summary["counts"]["planned"] == 8
    assert cloud.calls_to("InvokeFunction") == []
    assert cloud.fc.queued() == []


def test_the_kill_switch_makes_no_call_at_all(cloud: HubCloudEmulator, hub: Hub) -> None:
    summary = hub(FANOUT_PAUSED="true")
    assert "FANOUT_PAUSED" in summary["notes"][0]
    assert cloud.calls == []


def test_a_folder_that_does_not_exist_fails_the_run_before_any_dispatch(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    with pytest.raises(AccountsApiError, match=r"EntityNotExists\.Folder"):
        hub(TARGET_ACCOUNT_FOLDER="fd-nowhere001")
    assert cloud.calls_to("InvokeFunction") == []


def test_the_hub_never_invokes_itself(cloud: HubCloudEmulator, hub: Hub) -> None:
    with pytest.raises(InvalidInputError, match="never invokes itself"):
        hub(json.dumps({"functions": ["ecs-fanout"]}).encode())
    assert cloud.calls == []


def test_a_worker_without_the_async_task_mode_would_run_a_retried_hub_twice(
    cloud: HubCloudEmulator, hub: Hub
) -> None:
    """Why s.multi-account.yaml's workers need `asyncTask: true` (docs/multi-account.md): FC 3.0
    honours x-fc-async-task-id only in the task mode; without it the emulator, like FC
    (UNCONFIRMED), queues a retried hub run's targets again."""
    for worker in WORKERS:
        cloud.fc.add_function(worker, async_task=False)
    hub()
    hub()
    assert len(cloud.fc.queued()) == 16


# ----- FC runs the queued tasks: the worker in the named account ---------------------------------
class _SpokeCredentials:
    """The spoke role's seam (accounts.credentials is another branch's): records what the worker
    asked and signs with the default chain's key, which the single ECS fleet accepts."""

    def __init__(self) -> None:
        self.sessions: list[str] = []

    def __call__(
        self, role: str, external_id: str | None, session: str, policy: str, seconds: int
    ) -> CredentialClient:
        self.sessions.append(session)
        return CredentialClient()


def test_fc_runs_each_queued_task_through_the_worker_in_its_account_and_region(
    cloud: HubCloudEmulator, hub: Hub, ecs_emulator: EcsEmulator
) -> None:
    ecs_emulator.settings.stop_delay = 0
    in_each = {region: ecs_emulator.add_instance(region=region, tags={"env": "dev"}).instance_id
               for region in REGIONS}  # fmt: skip
    kept = ecs_emulator.add_instance(tags={"env": "prod"}).instance_id
    credentials = _SpokeCredentials()
    worker_env = {
        "FC_REGION": "cn-hangzhou",
        "TARGET_REGIONS": ",".join(REGIONS),
        "TARGET_TAGS": "env=dev",
        "TARGET_ACCOUNTS": JOINED,
        "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
        "EXTERNAL_ID": "ext-1234",
        "ECS_ENDPOINT": ecs_emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "DRY_RUN": "false",
    }

    def stop_worker(event: bytes, context: Any) -> str:
        services = Services(
            clock=ecs_emulator.clock,
            environ=worker_env,
            gateway_factory=make_gateway,
            spoke_credentials=credentials,
        )
        return json.dumps(handle(Function.STOP, event, context, services))

    cloud.fc.add_function("ecs-stop", stop_worker)
    summary = hub(TARGET_ACCOUNTS="", WORKER_FUNCTIONS="ecs-stop", EXCLUDE_ACCOUNTS=DENIED)
    assert summary["counts"]["dispatched"] == 2  # JOINED in two regions
    ran = cloud.fc.run_queued()
    assert [task.status for task in ran] == ["Succeeded", "Succeeded"]
    assert all(alive(ecs_emulator, i).status == "Stopped" for i in in_each.values())
    assert alive(ecs_emulator, kept).status == "Running"
    # One spoke session per task, named by the run (its task id).
    assert sorted(credentials.sessions) == sorted(f"stop.{t.task_id}" for t in ran)
    reports = [json.loads(t.result) for t in ran]
    assert sorted(r["regions"][0] for r in reports) == sorted(REGIONS)  # each narrowed to one
    assert all(r["counts"]["done"] == 1 for r in reports)
