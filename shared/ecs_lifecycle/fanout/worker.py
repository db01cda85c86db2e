"""The worker's account (rules, no I/O): which account an event asks a function to act in.

A hub event wraps today's timer event in an envelope naming the account (plan.worker_payload);
a manual run may name one account with "account". Either is held to the same lists as the hub
(plan.account_refusal) and refused, with the reason, before any cloud call; a hub event is refused
while the kill switch (FANOUT_PAUSED) is set. An event naming no account runs exactly as today.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.fanout.plan import HUB_KEY, account_refusal


@dataclass(frozen=True, slots=True)
class WorkerTarget:
    """The account to act in (None: the runtime role's own) and the event as today's handlers
    read it."""

    account_id: str | None
    event: bytes | str
    from_hub: bool = False
    task_id: str | None = None


def worker_target(event: bytes | str, settings: AccountSettings) -> WorkerTarget:
    """Raises InvalidInputError: an account outside the lists, or a hub event while paused."""
    text = event.decode(errors="replace") if isinstance(event, (bytes, bytearray)) else event
    if not text.lstrip().startswith("{") or (HUB_KEY not in text and '"account"' not in text):
        return WorkerTarget(None, event)
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return WorkerTarget(None, event)  # today's parser refuses it with its own reason
    if not isinstance(document, dict):
        return WorkerTarget(None, event)
    if HUB_KEY in document:
        return _from_hub(document, settings)
    if "account" not in document:
        return WorkerTarget(None, event)
    account = document.pop("account")
    _admit(settings, account)
    return WorkerTarget(account, json.dumps(document))


def _from_hub(document: dict[str, Any], settings: AccountSettings) -> WorkerTarget:
    if settings.paused:
        raise InvalidInputError("FANOUT_PAUSED", "is set: hub events are refused")
    envelope = document.get(HUB_KEY)
    inner = document.get("event")
    if not isinstance(envelope, dict) or not isinstance(inner, dict):
        raise InvalidInputError(HUB_KEY, "a hub event carries its envelope and its event")
    account = envelope.get("account")
    _admit(settings, account)
    assert isinstance(account, str)  # noqa: S101 - _admit refused anything else
    task = envelope.get("task_id")
    return WorkerTarget(account, json.dumps(inner), True, task if isinstance(task, str) else None)


def _admit(settings: AccountSettings, account: object) -> None:
    if not isinstance(account, str):
        raise InvalidInputError("account", "must be a 16-digit account id")
    refusal = account_refusal(settings, account)
    if refusal is not None:
        raise InvalidInputError("account", refusal)
