"""Who is calling: the accounts, the RAM roles tests configure in them, and the STS sessions
issued for those roles (by the STS room, :mod:`ecs_emulator.services.sts`).

The emulator's own access keys (``EcsEmulator(credentials=...)``, ``set_credentials``) belong to
:data:`HOME_ACCOUNT`, the account every test used before there were many. A session's keys
belong to the account that owns the assumed role: a request signed with them acts in that
account (its own fleet), and is recorded with it.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.errors import ApiError

HOME_ACCOUNT: Final = "1000000000000001"
DEFAULT_MAX_SESSION_SECONDS: Final = 3600
_ROLE_ARN: Final = re.compile(
    r"^acs:ram::(?P<account>\d{16}):role/(?P<name>[A-Za-z0-9.@_-]{1,64})$"
)
_ACCOUNT: Final = re.compile(r"^\d{16}$")


def check_account(account: str) -> str:
    if not _ACCOUNT.match(account):
        raise ValueError(f"an Alibaba Cloud account id is 16 digits, not {account!r}")
    return account


def parse_role_arn(arn: str) -> tuple[str, str] | None:
    """``acs:ram::<account>:role/<name>`` -> (account, name); None if it is not one."""
    match = _ROLE_ARN.match(arn)
    return (match["account"], match["name"]) if match else None


@dataclass(frozen=True)
class Role:
    """A RAM role and its trust policy, reduced to what AssumeRole checks: which accounts may
    assume it, and the ExternalId its condition demands (``sts:ExternalId``), if any."""

    account: str
    name: str
    trusted_accounts: frozenset[str]
    external_id: str | None = field(default=None, repr=False)
    max_session_seconds: int = DEFAULT_MAX_SESSION_SECONDS

    @property
    def arn(self) -> str:
        return f"acs:ram::{self.account}:role/{self.name}"


@dataclass(frozen=True)
class Session:
    """One AssumeRole answer: temporary keys acting as ``role`` until ``expires``."""

    credentials: EmulatorCredentials
    role: Role
    session_name: str
    expires: datetime
    policy: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the account it acts in, and the role session, if it is one."""

    account: str
    access_key_id: str
    session: Session | None = None


class Iam:
    """The roles of every account and the sessions issued. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._roles: dict[str, Role] = {}
        self._sessions: dict[str, Session] = {}

    def add_role(self, role: Role) -> None:
        with self._lock:
            self._roles[role.arn] = role

    def role(self, arn: str) -> Role | None:
        with self._lock:
            return self._roles.get(arn)

    def issue(
        self, role: Role, session_name: str, seconds: int, policy: str | None, now: datetime
    ) -> Session:
        """New temporary keys for ``role``, valid ``seconds`` from ``now``."""
        credentials = EmulatorCredentials(
            access_key_id=f"STS.{secrets.token_hex(12)}",
            access_key_secret=secrets.token_urlsafe(24),
            security_token=f"emulator-session-{secrets.token_urlsafe(32)}",
        )
        session = Session(credentials, role, session_name, now + timedelta(seconds=seconds), policy)
        with self._lock:
            self._sessions[credentials.access_key_id] = session
        return session

    def session_credentials(self, access_key_id: str) -> EmulatorCredentials | None:
        """The keys of a session issued here (the verifier's second source of keys)."""
        with self._lock:
            session = self._sessions.get(access_key_id)
        return session.credentials if session else None

    def caller(self, access_key_id: str, now: datetime) -> Caller:
        """The verified signer of a request, as of ``now``.

        Raises:
            ApiError: ``InvalidSecurityToken.Expired`` for a session past its expiry (the
                code is POP's public one; its message is UNCONFIRMED).
        """
        with self._lock:
            session = self._sessions.get(access_key_id)
        if session is None:
            return Caller(HOME_ACCOUNT, access_key_id)
        if now >= session.expires:
            message = "Specified SecurityToken is expired."
            raise ApiError("InvalidSecurityToken.Expired", 400, message)
        return Caller(session.role.account, access_key_id, session)
