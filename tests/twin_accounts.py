"""In-memory twins of the hub's seams (accounts/ports.py): a directory and an async invoker.

They hold state and answer as the documented services do (a repeated task id is a duplicate,
not a second task; a folder that does not exist fails the read; an unknown function or an async
payload over FC's limit is refused); tests/contract/test_accounts_contract.py runs the same
scenarios on them and on the real gateways against the emulator, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ecs_lifecycle.accounts.ports import Account, AsyncInvocation, Dispatched
from ecs_lifecycle.accounts.sdk_calls import AccountsApiError

MAX_ASYNC_PAYLOAD = 128 * 1024  # FC's async payload limit (docs/multi-account.md)


@dataclass
class DirectoryTwin:
    """Accounts by folder; `reads` counts the folder listings."""

    folders: dict[str, list[Account]] = field(default_factory=dict)
    management: str | None = None
    reads: int = 0

    def accounts_under(self, folder_id: str) -> Iterator[Account]:
        self.reads += 1
        if folder_id not in self.folders:
            raise AccountsApiError(
                "ListAccountsForParent", "EntityNotExists.Folder", "no such folder", None, 404
            )
        yield from self.folders[folder_id]

    def management_account_id(self) -> str | None:
        return self.management


@dataclass
class InvokerTwin:
    """Accepts async invocations; a task id seen before answers `duplicate` and queues nothing."""

    queued: list[AsyncInvocation] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    calls: int = 0
    functions: set[str] | None = None  # None: every function exists

    def invoke_async(self, invocation: AsyncInvocation) -> Dispatched:
        self.calls += 1
        request_id = f"req-{self.calls}"
        name = invocation.function_name
        if self.functions is not None and name not in self.functions:
            raise AccountsApiError("InvokeFunction", "FunctionNotFound", name, request_id, 404)
        if len(invocation.payload) > MAX_ASYNC_PAYLOAD:
            raise AccountsApiError("InvokeFunction", "EntityTooLarge", "payload", request_id, 400)
        if invocation.task_id in self.seen:
            return Dispatched(invocation.task_id, request_id, duplicate=True)
        self.seen.add(invocation.task_id)
        self.queued.append(invocation)
        return Dispatched(invocation.task_id, request_id, duplicate=False)


def member(
    account_id: str, *, status: str = "CreateSuccess", folder: str = "fd-dev", mgmt: bool = False
) -> Account:
    return Account(account_id, f"acct-{account_id[-4:]}", status, folder, mgmt)


def folder_of(folder: str, accounts: Iterable[Account]) -> DirectoryTwin:
    return DirectoryTwin(folders={folder: list(accounts)})
