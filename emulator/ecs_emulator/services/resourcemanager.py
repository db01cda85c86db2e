"""The Resource Directory room (Resource Manager API 2020-03-31): accounts in folders, read-only.

What the hub reads, as documented (sources in docs/multi-account.md):

* ``ListAccountsForParent``: the members directly in ``ParentFolderId`` (a folder ``fd-`` + 10
  letters or digits, or the root folder ``r-`` + 6), paged by ``PageNumber`` (from 1, default 1)
  and ``PageSize`` (1-100, default 10); a malformed folder id is ``400
  InvalidParameter.ParentFolderId``
  (https://help.aliyun.com/document_detail/604178.html);
* ``ListAccounts``: every member of the directory, paged the same way, each with its
  ``ResourceDirectoryPath`` (https://www.alibabacloud.com/help/en/resource-management/api-listaccounts);
* ``GetResourceDirectory``: the directory, its root folder and its management account
  (``MasterAccountId``).

Each account answers ``AccountId``, ``DisplayName``, ``FolderId``, ``JoinMethod`` (``created`` /
``invited``), ``JoinTime``, ``ModifyTime``, ``ResourceDirectoryId``, ``Status`` (``CreateSuccess``,
``InviteSuccess``, ``Promote*``, ... ; the removal statuses are UNCONFIRMED, the emulator lets a
test set any) and ``Type`` (``CloudAccount`` / ``ResourceAccount``). A directory not enabled is
``404 EntityNotExists.ResourceDirectory``. UNCONFIRMED, and chosen here: ``404
EntityNotExists.Folder`` for a well-formed folder id that does not exist, ``400 InvalidParameter``
for a page number or size out of range, the order of the members (the order they joined).

The room is self-contained: state and operations only. :mod:`ecs_emulator.hub_cloud`
serves it (and FC) over HTTP, with the emulator's signature check, wire format and clock.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Final

from ecs_emulator.errors import ApiError
from ecs_emulator.wire import Params

API_VERSION: Final = "2020-03-31"
PRODUCT: Final = "ResourceManager"
MAX_PAGE_SIZE: Final = 100
DEFAULT_PAGE_SIZE: Final = 10
_FOLDER_ID: Final = re.compile(r"^(?:r-[A-Za-z0-9]{6}|fd-[A-Za-z0-9]{10})$")
_TIME: Final = "%Y-%m-%dT%H:%M:%SZ"

Body = dict[str, object]


@dataclass(frozen=True)
class DirectoryAccount:
    """One member of the directory, as ListAccounts answers it."""

    account_id: str
    display_name: str
    folder_id: str
    status: str = "CreateSuccess"
    account_type: str = "ResourceAccount"
    join_method: str = "created"
    join_time: datetime = datetime(2026, 1, 5, 8, 0, tzinfo=timezone.utc)


@dataclass(frozen=True)
class Folder:
    folder_id: str
    name: str
    parent_id: str | None


@dataclass
class ResourceDirectory:
    """A resource directory: its root folder, folders and member accounts (in joining order)."""

    directory_id: str = "rd-emu0001"
    root_folder_id: str = "r-emu001"
    master_account_id: str = "1000000000000001"
    enabled: bool = True
    folders: dict[str, Folder] = field(default_factory=dict)
    accounts: dict[str, DirectoryAccount] = field(default_factory=dict)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def __post_init__(self) -> None:
        self.folders.setdefault(
            self.root_folder_id, Folder(self.root_folder_id, "Root", parent_id=None)
        )

    def add_folder(self, folder_id: str, name: str = "", parent_id: str | None = None) -> str:
        if not _FOLDER_ID.match(folder_id) or folder_id.startswith("r-"):
            raise ValueError(f"{folder_id!r} is not a folder id (fd- and 10 letters or digits)")
        parent = parent_id or self.root_folder_id
        with self._lock:
            if parent not in self.folders:
                raise KeyError(parent)
            self.folders[folder_id] = Folder(folder_id, name or folder_id, parent)
        return folder_id

    def add_account(
        self,
        account_id: str,
        folder_id: str | None = None,
        *,
        display_name: str | None = None,
        status: str = "CreateSuccess",
        account_type: str = "ResourceAccount",
        join_method: str | None = None,
    ) -> DirectoryAccount:
        folder = folder_id or self.root_folder_id
        with self._lock:
            if folder not in self.folders:
                raise KeyError(folder)
            account = DirectoryAccount(
                account_id=account_id,
                display_name=display_name or f"member-{account_id[-4:]}",
                folder_id=folder,
                status=status,
                account_type=account_type,
                join_method=join_method
                or ("invited" if status.startswith("Invite") else "created"),
            )
            self.accounts[account_id] = account
            return account

    def set_status(self, account_id: str, status: str) -> None:
        """What the directory does while an account is invited, promoted or removed."""
        with self._lock:
            self.accounts[account_id] = replace(self.accounts[account_id], status=status)

    def remove_account(self, account_id: str) -> None:
        """The account left the directory: no listing shows it any more."""
        with self._lock:
            del self.accounts[account_id]

    def path_of(self, folder_id: str) -> str:
        """``rd-.../r-.../fd-...``: the ResourceDirectoryPath of a folder."""
        parts: list[str] = []
        current: str | None = folder_id
        while current is not None:
            parts.append(current)
            current = self.folders[current].parent_id
        return "/".join([self.directory_id, *reversed(parts)])

    def answer(self, account: DirectoryAccount, *, with_path: bool) -> Body:
        stamp = account.join_time.astimezone(timezone.utc).strftime(_TIME)
        body: Body = {
            "AccountId": account.account_id,
            "DisplayName": account.display_name,
            "FolderId": account.folder_id,
            "JoinMethod": account.join_method,
            "JoinTime": stamp,
            "ModifyTime": stamp,
            "ResourceDirectoryId": self.directory_id,
            "Status": account.status,
            "Type": account.account_type,
        }
        if with_path:
            body["ResourceDirectoryPath"] = (
                f"{self.path_of(account.folder_id)}/{account.account_id}"
            )
        return body


def list_accounts_for_parent(directory: ResourceDirectory, params: Params) -> Body:
    """ListAccountsForParent: the members directly in the folder, one page."""
    _enabled(directory)
    folder_id = params.text("ParentFolderId") or directory.root_folder_id
    if not _FOLDER_ID.match(folder_id):
        raise ApiError("InvalidParameter.ParentFolderId", 400, "The ParentFolderId is invalid.")
    with directory._lock:
        if folder_id not in directory.folders:
            raise ApiError("EntityNotExists.Folder", 404, "The specified folder does not exist.")
        members = [a for a in directory.accounts.values() if a.folder_id == folder_id]
        return _page(directory, members, params, with_path=False)


def list_accounts(directory: ResourceDirectory, params: Params) -> Body:
    """ListAccounts: every member of the directory, one page."""
    _enabled(directory)
    with directory._lock:
        return _page(directory, list(directory.accounts.values()), params, with_path=True)


def get_resource_directory(directory: ResourceDirectory, params: Params) -> Body:
    """GetResourceDirectory: the directory, its root folder and its management account."""
    _enabled(directory)
    return {
        "ResourceDirectory": {
            "ResourceDirectoryId": directory.directory_id,
            "RootFolderId": directory.root_folder_id,
            "MasterAccountId": directory.master_account_id,
            "MasterAccountName": "management",
            "CreateTime": "2026-01-05T08:00:00Z",
        }
    }


OPERATIONS: Final[Mapping[str, Callable[[ResourceDirectory, Params], Body]]] = {
    "ListAccounts": list_accounts,
    "ListAccountsForParent": list_accounts_for_parent,
    "GetResourceDirectory": get_resource_directory,
}


def _enabled(directory: ResourceDirectory) -> None:
    if not directory.enabled:
        raise ApiError(
            "EntityNotExists.ResourceDirectory",
            404,
            "The resource directory for the account is not enabled.",
        )


def _page(
    directory: ResourceDirectory,
    members: list[DirectoryAccount],
    params: Params,
    *,
    with_path: bool,
) -> Body:
    number = _whole(params, "PageNumber", 1, 1, None)
    size = _whole(params, "PageSize", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    chosen = members[(number - 1) * size : number * size]
    return {
        "TotalCount": len(members),
        "PageNumber": number,
        "PageSize": size,
        "Accounts": {"Account": [directory.answer(a, with_path=with_path) for a in chosen]},
    }


def _whole(params: Params, name: str, default: int, low: int, high: int | None) -> int:
    raw = params.text(name)
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        raise ApiError("InvalidParameter", 400, f"The specified parameter {name} is not valid.")
    return int(raw)
