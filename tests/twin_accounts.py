"""In-memory twins of the hub's seams (accounts/ports.py): a directory and an async invoker.

They hold state and answer as the documented services do (a repeated task id is a duplicate,
not a second task); the contract test against the real gateways is on the emulator's side.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from ecs_lifecycle.accounts.ports import Account, AsyncInvocation, Dispatched


@dataclass
class DirectoryTwin:
    """Accounts by folder; `reads` counts the folder listings."""

    folders: dict[str, list[Account]] = field(default_factory=dict)
    management: str | None = None
    reads: int = 0

    def accounts_under(self, folder_id: str) -> Iterator[Account]:
        self.reads += 1
        yield from self.folders.get(folder_id, [])

    def management_account_id(self) -> str | None:
        return self.management


@dataclass
class InvokerTwin:
    """Accepts async invocations; a task id seen before answers `duplicate` and queues nothing."""

    queued: list[AsyncInvocation] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    calls: int = 0

    def invoke_async(self, invocation: AsyncInvocation) -> Dispatched:
        self.calls += 1
        request_id = f"req-{self.calls}"
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
