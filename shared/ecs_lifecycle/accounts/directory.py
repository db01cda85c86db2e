"""The hub's AccountDirectory over Resource Directory (alibabacloud-resourcemanager20200331).

Read-only: ListAccountsForParent (a folder's members), ListAccounts (every member of the
directory) and GetResourceDirectory (its management account), each paged at the largest page the
API allows (100) and read lazily, one page at a time, so the hub's memory stays flat in the
number of accounts. Each member becomes a `ports.Account` with its status (the join state the
plan checks), its type and how it joined; the management account is marked from
GetResourceDirectory's MasterAccountId. Every call goes through `sdk_calls.call` (throttling and
5xx retried); a failure that remains raises `AccountsApiError`, and the hub's run fails before it
dispatches anything: a folder read in part would leave accounts out without a reason.

A folder's members are the accounts directly in it (ListAccountsForParent); the accounts of its
sub-folders are not included (name each folder's accounts, or the folder itself, explicitly).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any, Final

from alibabacloud_resourcemanager20200331 import models as rd_models
from darabonba.runtime import RuntimeOptions

from ecs_lifecycle.accounts.ports import Account
from ecs_lifecycle.accounts.sdk_calls import AccountsApiError, call
from ecs_lifecycle.clock import Clock

PAGE_SIZE: Final = 100  # ListAccounts / ListAccountsForParent: 1 to 100
MAX_PAGES: Final = 1000  # 100,000 accounts; a directory that never ends paging is refused


class ResourceDirectoryGateway:
    """`AccountDirectory` on a Resource Manager SDK client (untyped: the SDK has no stubs)."""

    def __init__(self, client: Any, clock: Clock, *, page_size: int = PAGE_SIZE) -> None:
        self._client = client
        self._clock = clock
        self._page_size = page_size
        self._management: str | None = None
        self._management_read = False

    def accounts_under(self, folder_id: str) -> Iterator[Account]:
        """The members directly in `folder_id`, page by page."""
        management = self.management_account_id()

        def page(number: int) -> Any:
            request = rd_models.ListAccountsForParentRequest(
                parent_folder_id=folder_id, page_number=number, page_size=self._page_size
            )
            return self._client.list_accounts_for_parent_with_options(request, RuntimeOptions())

        yield from self._paged("ListAccountsForParent", page, management)

    def all_accounts(self) -> Iterator[Account]:
        """Every member of the directory, page by page (ListAccounts)."""
        management = self.management_account_id()

        def page(number: int) -> Any:
            request = rd_models.ListAccountsRequest(page_number=number, page_size=self._page_size)
            return self._client.list_accounts_with_options(request, RuntimeOptions())

        yield from self._paged("ListAccounts", page, management)

    def management_account_id(self) -> str | None:
        """The directory's management account (read once per gateway)."""
        if not self._management_read:
            response = call(
                "GetResourceDirectory",
                lambda: self._client.get_resource_directory_with_options(RuntimeOptions()),
                self._clock,
            )
            directory = response.body.resource_directory
            self._management = (directory.master_account_id or None) if directory else None
            self._management_read = True
        return self._management

    def _paged(
        self, operation: str, page: Callable[[int], Any], management: str | None
    ) -> Iterator[Account]:
        seen = 0
        for number in range(1, MAX_PAGES + 1):
            body = call(operation, functools.partial(page, number), self._clock).body
            members = (body.accounts.account if body.accounts else None) or []
            for member in members:
                yield _account(member, management)
            seen += len(members)
            total = body.total_count or 0
            if not members or seen >= total:
                return
        raise AccountsApiError(
            operation, "TooManyPages", f"more than {MAX_PAGES} pages of accounts"
        )


def _account(member: Any, management: str | None) -> Account:
    account_id = str(member.account_id or "")
    return Account(
        account_id=account_id,
        display_name=str(member.display_name or ""),
        status=str(member.status or ""),
        folder_id=member.folder_id or None,
        is_management=management is not None and account_id == management,
        account_type=str(member.type or ""),
        join_method=str(member.join_method or ""),
    )
