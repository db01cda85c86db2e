"""One contract for the hub's seams: the real gateways over the emulator, and the in-memory twins.

The hub's unit tests (tests/unit/test_fanout_hub.py) run on the twins of tests/twin_accounts.py;
this suite runs the same scenarios on the real Resource Directory and FC 3.0 gateways
(ecs_lifecycle.accounts.gateways) speaking through the real SDKs to the emulator
(ecs_emulator.hub_cloud), so a twin that answers otherwise than the real gateway fails here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import pytest

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import FakeClock
from ecs_emulator.hub_cloud import HubCloudEmulator
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.gateways import HubEndpoints, make_account_directory, make_async_invoker
from ecs_lifecycle.accounts.ports import Account, AccountDirectory, AsyncInvocation, AsyncInvoker
from ecs_lifecycle.accounts.sdk_calls import AccountsApiError
from tests.twin_accounts import DirectoryTwin, InvokerTwin

DEV = "fd-dev0000001"
PROD = "fd-prd0000001"
MANAGEMENT = "1000000000000001"
SETTINGS = AccountSettings(target_folder=DEV, spoke_role_name="ecs-lifecycle-spoke")


class Accounts(Protocol):
    @property
    def directory(self) -> AccountDirectory: ...

    @property
    def invoker(self) -> AsyncInvoker: ...

    def add_folder(self, folder_id: str) -> None: ...

    def add(
        self, account_id: str, folder_id: str, *, status: str = ..., account_type: str = ...
    ) -> None: ...

    def add_function(self, name: str) -> None: ...

    def queued(self) -> list[tuple[str, str, bytes]]: ...


@dataclass
class EmulatorAccounts:
    emulator: HubCloudEmulator
    directory: AccountDirectory
    invoker: AsyncInvoker

    def add_folder(self, folder_id: str) -> None:
        self.emulator.directory.add_folder(folder_id)

    def add(
        self,
        account_id: str,
        folder_id: str,
        *,
        status: str = "CreateSuccess",
        account_type: str = "ResourceAccount",
    ) -> None:
        self.emulator.directory.add_account(
            account_id, folder_id, status=status, account_type=account_type
        )

    def add_function(self, name: str) -> None:
        self.emulator.fc.add_function(name)

    def queued(self) -> list[tuple[str, str, bytes]]:
        return [(t.function_name, t.task_id, t.payload) for t in self.emulator.fc.queued()]


@dataclass
class TwinAccounts:
    directory: DirectoryTwin
    invoker: InvokerTwin

    def add_folder(self, folder_id: str) -> None:
        self.directory.folders.setdefault(folder_id, [])

    def add(
        self,
        account_id: str,
        folder_id: str,
        *,
        status: str = "CreateSuccess",
        account_type: str = "ResourceAccount",
    ) -> None:
        self.directory.folders[folder_id].append(
            Account(
                account_id,
                f"member-{account_id[-4:]}",
                status,
                folder_id,
                account_id == MANAGEMENT,
                account_type=account_type,
            )
        )

    def add_function(self, name: str) -> None:
        if self.invoker.functions is None:
            self.invoker.functions = set()
        self.invoker.functions.add(name)

    def queued(self) -> list[tuple[str, str, bytes]]:
        return [(i.function_name, i.task_id, i.payload) for i in self.invoker.queued]


@pytest.fixture(scope="module")
def hub_cloud_server() -> Iterator[HubCloudEmulator]:
    with HubCloudEmulator(clock=FakeClock(DEFAULT_START)) as emulator:
        yield emulator


@pytest.fixture
def emulator_accounts(hub_cloud_server: HubCloudEmulator) -> Iterator[EmulatorAccounts]:
    """The real gateways, built by the hub's own factories, on a fresh emulator."""
    clock = FakeClock(DEFAULT_START)
    hub_cloud_server.reset(clock=clock)
    endpoint = hub_cloud_server.endpoint
    endpoints = HubEndpoints("cn-hangzhou", endpoint, "http", endpoint, "http")
    yield EmulatorAccounts(
        hub_cloud_server,
        # A small page, so that a folder of a few accounts is read over several pages.
        make_account_directory(SETTINGS, endpoints, clock, page_size=3),
        make_async_invoker(SETTINGS, endpoints, clock),
    )
    errors = list(hub_cloud_server.internal_errors)
    hub_cloud_server.reset()
    if errors:
        raise errors[0]


@pytest.fixture(params=["emulator", "twin"])
def accounts(request: pytest.FixtureRequest) -> Accounts:
    if request.param == "twin":
        return TwinAccounts(DirectoryTwin(management=MANAGEMENT), InvokerTwin(functions=set()))
    world: EmulatorAccounts = request.getfixturevalue("emulator_accounts")
    return world


def account(number: int) -> str:
    return f"{2000000000000000 + number:016d}"


# ----- the directory ----------------------------------------------------------------------------
def test_a_folder_lists_its_members_with_their_status_over_every_page(accounts: Accounts) -> None:
    accounts.add_folder(DEV)
    accounts.add_folder(PROD)
    for number in range(1, 8):
        accounts.add(account(number), DEV)
    accounts.add(account(8), DEV, status="InviteSuccess", account_type="CloudAccount")
    accounts.add(account(9), DEV, status="PromoteVerifying")
    accounts.add(account(50), PROD)
    members = list(accounts.directory.accounts_under(DEV))
    assert [m.account_id for m in members] == [account(n) for n in range(1, 10)]
    by_id = {m.account_id: m for m in members}
    assert by_id[account(8)].status == "InviteSuccess"
    assert by_id[account(8)].account_type == "CloudAccount"
    assert by_id[account(9)].status == "PromoteVerifying"
    assert {m.folder_id for m in members} == {DEV}
    assert not any(m.is_management for m in members)
    assert by_id[account(1)].display_name == "member-0001"


def test_an_empty_folder_lists_nothing_and_an_unknown_one_fails_the_read(
    accounts: Accounts,
) -> None:
    accounts.add_folder(DEV)
    assert list(accounts.directory.accounts_under(DEV)) == []
    with pytest.raises(AccountsApiError) as raised:
        list(accounts.directory.accounts_under(PROD))
    assert raised.value.code == "EntityNotExists.Folder"
    assert raised.value.status == 404


def test_the_management_account_is_marked(accounts: Accounts) -> None:
    accounts.add_folder(DEV)
    accounts.add(MANAGEMENT, DEV, account_type="CloudAccount")
    accounts.add(account(1), DEV)
    assert accounts.directory.management_account_id() == MANAGEMENT
    marked = {m.account_id: m.is_management for m in accounts.directory.accounts_under(DEV)}
    assert marked == {MANAGEMENT: True, account(1): False}


# ----- FC's async invocations --------------------------------------------------------------------
def invocation(task_id: str, function: str = "ecs-stop", size: int = 0) -> AsyncInvocation:
    payload = json.dumps({"task": task_id, "pad": "x" * size}).encode()
    return AsyncInvocation(function, None, payload, task_id)


def test_an_async_invocation_is_queued_once_and_a_repeated_task_id_is_a_duplicate(
    accounts: Accounts,
) -> None:
    accounts.add_function("ecs-stop")
    first = accounts.invoker.invoke_async(invocation("ecs-stop-a"))
    again = accounts.invoker.invoke_async(invocation("ecs-stop-a"))
    other = accounts.invoker.invoke_async(invocation("ecs-stop-b"))
    assert (first.duplicate, again.duplicate, other.duplicate) == (False, True, False)
    assert first.task_id == again.task_id == "ecs-stop-a"
    assert first.request_id
    assert [(f, t) for f, t, _ in accounts.queued()] == [
        ("ecs-stop", "ecs-stop-a"),
        ("ecs-stop", "ecs-stop-b"),
    ]
    assert accounts.queued()[0][2] == invocation("ecs-stop-a").payload  # the bytes, unchanged


def test_an_unknown_function_is_refused_and_nothing_is_queued(accounts: Accounts) -> None:
    accounts.add_function("ecs-stop")
    with pytest.raises(AccountsApiError) as raised:
        accounts.invoker.invoke_async(invocation("t-1", function="ecs-nothing"))
    assert raised.value.code == "FunctionNotFound"
    assert raised.value.status == 404
    assert accounts.queued() == []


def test_an_async_payload_over_fcs_limit_is_refused(accounts: Accounts) -> None:
    accounts.add_function("ecs-stop")
    with pytest.raises(AccountsApiError) as raised:
        accounts.invoker.invoke_async(invocation("t-big", size=128 * 1024))
    assert raised.value.code == "EntityTooLarge"
    assert accounts.queued() == []
    assert not accounts.invoker.invoke_async(invocation("t-small", size=100 * 1024)).duplicate


# ----- the real gateways only: retries -----------------------------------------------------------
def test_throttled_calls_are_retried_on_the_runs_clock(emulator_accounts: EmulatorAccounts) -> None:
    emulator = emulator_accounts.emulator
    clock = emulator.clock
    assert isinstance(clock, FakeClock)
    emulator.directory.add_folder(DEV)
    emulator.directory.add_account(account(1), DEV)
    emulator.fc.add_function("ecs-stop")
    emulator.throttle("ListAccountsForParent", 2)
    emulator.throttle("InvokeFunction", 1)
    assert [m.account_id for m in emulator_accounts.directory.accounts_under(DEV)] == [account(1)]
    assert not emulator_accounts.invoker.invoke_async(invocation("t-1")).duplicate
    statuses = [
        (c.operation, c.status) for c in emulator.calls if c.operation != "GetResourceDirectory"
    ]
    assert statuses == [
        ("ListAccountsForParent", 400),
        ("ListAccountsForParent", 400),
        ("ListAccountsForParent", 200),
        ("InvokeFunction", 429),
        ("InvokeFunction", 202),
    ]
    assert (clock.now() - DEFAULT_START).total_seconds() >= 0.5 + 1.0 + 0.5  # backed off


def test_a_throttle_that_lasts_surfaces_as_the_error(emulator_accounts: EmulatorAccounts) -> None:
    emulator = emulator_accounts.emulator
    emulator.fc.add_function("ecs-stop")
    emulator.throttle("InvokeFunction", 10)
    with pytest.raises(AccountsApiError) as raised:
        emulator_accounts.invoker.invoke_async(invocation("t-1"))
    assert raised.value.status == 429
    assert len(emulator.calls_to("InvokeFunction")) == 4
    assert emulator.fc.queued() == []


def test_a_lost_answer_retried_with_the_same_task_id_is_a_duplicate_not_a_second_task(
    emulator_accounts: EmulatorAccounts,
) -> None:
    """FC queued the task but its 202 never arrived: the retry's 409 says it is already there."""
    emulator = emulator_accounts.emulator
    emulator.fc.add_function("ecs-stop")
    emulator.fc.invoke(
        "ecs-stop",
        qualifier=None,
        headers={"x-fc-invocation-type": "Async", "x-fc-async-task-id": "t-1"},
        body=b"{}",
        now=emulator.clock.now(),
    )
    assert emulator_accounts.invoker.invoke_async(invocation("t-1")).duplicate
    assert len(emulator.fc.queued()) == 1


def test_a_signature_the_emulator_does_not_accept_is_an_error_not_a_duplicate(
    emulator_accounts: EmulatorAccounts,
) -> None:
    """The gateway signs with the default credential chain; a wrong key is refused outright."""
    emulator = emulator_accounts.emulator
    emulator.fc.add_function("ecs-stop")
    emulator.set_credentials(EmulatorCredentials.default_sts())  # not the chain's key
    with pytest.raises(AccountsApiError) as raised:
        emulator_accounts.invoker.invoke_async(invocation("t-1"))
    assert raised.value.code == "InvalidAccessKeyId.NotFound"
    assert emulator.fc.queued() == []
