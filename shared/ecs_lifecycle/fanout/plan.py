"""The hub's pure fan-out plan: which accounts, which targets (account x region), which task ids.

No I/O: the accounts read, the regions, the worker names and the trigger's scheduled time are
passed in; every account left out gets a reason. Rules (tests/unit/test_fanout_plan.py):

- the accounts are the allow-list (TARGET_ACCOUNTS) plus the members of the folder
  (TARGET_ACCOUNT_FOLDER); never "every account" by default;
- the deny-list (EXCLUDE_ACCOUNTS) always wins;
- the Resource Directory's management account only when the allow-list names it;
- a folder member not in a joined state is skipped with its status;
- a target's task id is a pure function of (function, account, region, scheduled time), so a
  retried hub run asks FC for the same tasks and FC drops the duplicates;
- the kill switch (FANOUT_PAUSED) plans nothing, and a run over the cap (FANOUT_MAX_TARGETS) is
  refused whole: a fan-out half dispatched by a cap is harder to reason about than none.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Final

from ecs_lifecycle.account_settings import ACCOUNT_ID, AccountSettings
from ecs_lifecycle.accounts.ports import Account
from ecs_lifecycle.errors import InvalidInputError

# Resource Directory's statuses of a member account that has joined. ListAccounts documents
# CreateSuccess (created in the directory) and InviteSuccess (invited and accepted); any other
# status (creating, failed, being removed) is skipped. The full list: UNCONFIRMED.
JOINED_STATUSES: Final = frozenset({"CreateSuccess", "InviteSuccess"})
# FC's task id: starts with a letter or _, then letters, digits, _ and -, at most 128 characters
# (InvokeFunction, X-Fc-Stateful-Async-Invocation-Id / X-Fc-Async-Task-Id; that FC 3.0 keeps the
# same rule for x-fc-async-task-id is UNCONFIRMED).
TASK_ID: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
MAX_TASK_ID: Final = 128
# The hub's payload stays far under FC's async payload limit (128 KB for async: UNCONFIRMED).
MAX_PAYLOAD_BYTES: Final = 16 * 1024
HUB_KEY: Final = "ecs_lifecycle_hub"  # the key that marks a worker event as the hub's


@dataclass(frozen=True, slots=True)
class Skipped:
    """An account the run leaves out, and why (one result and one log line each)."""

    account_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Target:
    """One async invocation: `function` in `account_id`, narrowed to `region`."""

    function: str
    account_id: str
    region: str
    task_id: str


@dataclass(frozen=True, slots=True)
class AccountChoice:
    """The accounts a run acts in (in a stable order) and the ones it leaves out."""

    admitted: tuple[str, ...]
    skipped: tuple[Skipped, ...]


def choose_accounts(
    settings: AccountSettings,
    folder_members: Iterable[Account],
    management_account_id: str | None,
) -> AccountChoice:
    """The accounts to act in: the folder's joined members and the allow-list, less the deny-list.

    `folder_members` is read once, lazily; only ids are kept (memory flat in the fleet's size).
    """
    admitted: dict[str, None] = {}
    skipped: dict[str, Skipped] = {}
    explicit = settings.target_accounts
    for account in folder_members:
        account_id = account.account_id
        if account_id in admitted or account_id in skipped:
            continue
        reason = _left_out(settings, account_id)
        if reason is None and account.status not in JOINED_STATUSES:
            reason = f"not joined to the resource directory (status {account.status})"
        if reason is None and not ACCOUNT_ID.match(account_id):
            reason = f"{account_id!r} is not a 16-digit account id"
        is_management = account.is_management or account_id == management_account_id
        if reason is None and is_management and account_id not in explicit:
            reason = "the management account is acted in only when TARGET_ACCOUNTS names it"
        if reason is None:
            admitted[account_id] = None
        else:
            skipped[account_id] = Skipped(account_id, reason)
    for account_id in sorted(explicit):
        if account_id in admitted or account_id in skipped:
            continue
        reason = _left_out(settings, account_id)
        if reason is None:
            admitted[account_id] = None
        else:
            skipped[account_id] = Skipped(account_id, reason)
    return AccountChoice(tuple(admitted), tuple(skipped.values()))


def _left_out(settings: AccountSettings, account_id: str) -> str | None:
    if account_id in settings.exclude_accounts:
        return "named by EXCLUDE_ACCOUNTS"
    return None


def account_refusal(settings: AccountSettings, account_id: str) -> str | None:
    """Why a worker must not act in `account_id` (None: it may). The worker's own check, held
    to the same lists as the hub: the deny-list wins, then the allow-list; a folder member the
    allow-list does not name is admitted only by the hub's reading of the folder."""
    if not ACCOUNT_ID.match(account_id):
        return f"{account_id!r} is not a 16-digit account id"
    if not settings.configured:
        return "no accounts are configured (TARGET_ACCOUNTS / TARGET_ACCOUNT_FOLDER)"
    if account_id in settings.exclude_accounts:
        return f"account {account_id} is named by EXCLUDE_ACCOUNTS"
    if account_id not in settings.target_accounts and settings.target_folder is None:
        return f"account {account_id} is not in TARGET_ACCOUNTS"
    return None


def check_workers(settings: AccountSettings, functions: Sequence[str]) -> tuple[str, ...]:
    """The worker functions a hub run may invoke: named in WORKER_FUNCTIONS, never the hub.

    Raises:
        InvalidInputError: a function the settings do not name, or the hub's own name.
    """
    own = settings.own_function_name
    if own is not None and own in settings.worker_functions:
        raise InvalidInputError(
            "WORKER_FUNCTIONS", f"names the hub itself ({own}); the hub never invokes itself"
        )
    chosen = tuple(functions) or settings.worker_functions
    if not chosen:
        raise InvalidInputError("WORKER_FUNCTIONS", "names no worker function to invoke")
    for name in chosen:
        if own is not None and name == own:
            raise InvalidInputError("functions", f"{name} is the hub; the hub never invokes itself")
        if name not in settings.worker_functions:
            raise InvalidInputError("functions", f"{name} is not named by WORKER_FUNCTIONS")
    return chosen


def task_id(function: str, account_id: str, region: str, scheduled_at: datetime) -> str:
    """The target's FC task id: the same inputs always give the same id, inside FC's charset."""
    stamp = scheduled_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    raw = f"{function}-{account_id}-{region}-{stamp}"
    readable = re.sub(r"[^A-Za-z0-9_-]", "_", raw)
    if not re.match(r"[A-Za-z_]", readable):
        readable = "t" + readable
    if len(readable) > MAX_TASK_ID:
        digest = hashlib.sha256(raw.encode()).hexdigest()[:24]
        readable = f"{readable[: MAX_TASK_ID - len(digest) - 1]}-{digest}"
    return readable


def check_cap(settings: AccountSettings, targets: int) -> None:
    """Raises InvalidInputError when one scheduled run would dispatch more than the cap."""
    if targets > settings.max_targets:
        raise InvalidInputError(
            "FANOUT_MAX_TARGETS",
            f"{targets} targets exceed the cap of {settings.max_targets}; nothing was dispatched",
        )


def targets(
    accounts: Sequence[str],
    regions: Sequence[str],
    functions: Sequence[str],
    scheduled_at: datetime,
) -> Iterator[Target]:
    """Every (function, account, region), lazily, in a stable order."""
    for function in functions:
        for account_id in accounts:
            for region in regions:
                yield Target(
                    function,
                    account_id,
                    region,
                    task_id(function, account_id, region, scheduled_at),
                )


def worker_payload(
    target: Target, scheduled_at: datetime, trigger_name: str, options: dict[str, Any] | None
) -> bytes:
    """What the worker is asked: a timer event as today's (so release_after still counts from the
    trigger time), narrowed to the target's region, with the hub's envelope naming the account.

    Raises:
        InvalidInputError: the payload would exceed MAX_PAYLOAD_BYTES.
    """
    asked = dict(options or {})
    asked["regions"] = [target.region]  # an event can only narrow the worker's TARGET_REGIONS
    document = {
        HUB_KEY: {
            "account": target.account_id,
            "region": target.region,
            "task_id": target.task_id,
            "scheduled_time": scheduled_at.astimezone(timezone.utc).isoformat(),
        },
        "event": {
            "triggerName": trigger_name,
            "triggerTime": scheduled_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "payload": json.dumps(asked, sort_keys=True),
        },
    }
    payload = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise InvalidInputError(
            "options", f"the worker's payload exceeds {MAX_PAYLOAD_BYTES} bytes"
        )
    return payload
