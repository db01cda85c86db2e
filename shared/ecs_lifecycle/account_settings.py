"""Which accounts a deployment may act in, and how the hub dispatches: parsed once from the env.

With none of TARGET_ACCOUNTS / TARGET_ACCOUNT_FOLDER set, `configured` is false and every function
runs exactly as before, in the account of its runtime role. Never "every account" by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import ConfigError

ACCOUNT_ID: Final = re.compile(r"^\d{16}$")
# FC function names: letters, digits, _ and -, starting with a letter or _, at most 64 (FC docs).
_FUNCTION_NAME: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_ROLE_NAME: Final = re.compile(r"^[A-Za-z0-9.-]{1,64}$")
_FOLDER_ID: Final = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True, slots=True)
class AccountSettings:
    """The account fence (allow-list, folder, deny-list) and the hub's dispatch settings."""

    target_accounts: frozenset[str] = frozenset()
    target_folder: str | None = None
    exclude_accounts: frozenset[str] = frozenset()
    # FANOUT_PAUSED: the kill switch. The hub dispatches nothing; workers refuse hub events.
    paused: bool = False
    spoke_role_name: str | None = None
    external_id: str | None = None
    worker_functions: tuple[str, ...] = ()
    own_function_name: str | None = None  # FC_FUNCTION_NAME, set by the FC runtime
    max_targets: int = defaults.FANOUT_MAX_TARGETS
    invokes_per_second: float = defaults.FANOUT_INVOKES_PER_SECOND

    @property
    def configured(self) -> bool:
        """Whether this deployment acts in named accounts at all (else: today's one account)."""
        return bool(self.target_accounts) or self.target_folder is not None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AccountSettings:
        """Raises ConfigError naming the variable that is malformed."""
        folder = environ.get("TARGET_ACCOUNT_FOLDER", "").strip() or None
        if folder is not None and not _FOLDER_ID.match(folder):
            raise ConfigError("TARGET_ACCOUNT_FOLDER", f"{folder!r} is not a folder id")
        role = environ.get("SPOKE_ROLE_NAME", "").strip() or None
        if role is not None and not _ROLE_NAME.match(role):
            raise ConfigError("SPOKE_ROLE_NAME", f"{role!r} is not a RAM role name")
        workers = _names(environ.get("WORKER_FUNCTIONS", ""))
        own = environ.get("FC_FUNCTION_NAME", "").strip() or None
        settings = cls(
            target_accounts=_accounts("TARGET_ACCOUNTS", environ),
            target_folder=folder,
            exclude_accounts=_accounts("EXCLUDE_ACCOUNTS", environ),
            paused=_flag("FANOUT_PAUSED", environ),
            spoke_role_name=role,
            external_id=environ.get("EXTERNAL_ID", "").strip() or None,
            worker_functions=workers,
            own_function_name=own,
            max_targets=_whole("FANOUT_MAX_TARGETS", environ, defaults.FANOUT_MAX_TARGETS),
            invokes_per_second=_rate(environ),
        )
        if settings.configured and settings.spoke_role_name is None:
            raise ConfigError("SPOKE_ROLE_NAME", "required when accounts are configured")
        return settings


def _accounts(name: str, environ: Mapping[str, str]) -> frozenset[str]:
    ids = _names(environ.get(name, ""))
    for account_id in ids:
        if not ACCOUNT_ID.match(account_id):
            raise ConfigError(name, f"{account_id!r} is not a 16-digit account id")
    return frozenset(ids)


def _names(raw: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    return names


def _flag(name: str, environ: Mapping[str, str]) -> bool:
    value = environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(name, f"{value!r} is not true or false")


def _whole(name: str, environ: Mapping[str, str], default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(name, f"{raw!r} is not a whole number of at least 1")
    return int(raw)


def _rate(environ: Mapping[str, str]) -> float:
    raw = environ.get("FANOUT_INVOKES_PER_SECOND", "").strip()
    if not raw:
        return defaults.FANOUT_INVOKES_PER_SECOND
    try:
        rate = float(raw)
    except ValueError:
        raise ConfigError("FANOUT_INVOKES_PER_SECOND", f"{raw!r} is not a number") from None
    if not 0 < rate <= 1000:
        raise ConfigError("FANOUT_INVOKES_PER_SECOND", f"{rate} must be in (0, 1000]")
    return rate


def valid_function_name(name: str) -> bool:
    return bool(_FUNCTION_NAME.match(name))
