"""The spoke role's credentials for a run in a named account (the `CredentialsBuilder` of
accounts/spoke.py): STS AssumeRole on top of the runtime role, through alibabacloud_credentials.

- **Chained on the runtime role.** `RamRoleArnCredentialsProvider` signs its AssumeRole with the
  default credential chain (`DefaultCredentialsProvider`: on FC, the function role's
  `ALIBABA_CLOUD_*` variables). No key is ever read or passed by us.
- **ExternalId, session policy, session name** go into AssumeRole as the provider's
  `external_id`, `policy` and `role_session_name` (spoke.py builds them from the function and the
  run).
- **900 s sessions, refreshed on long runs.** The provider treats a session as stale 15 minutes
  before it expires (`RefreshCachedSupplier.STALE_TIME`, `_get_stale_time` in
  alibabacloud_credentials/provider/ram_role_arn.py, 1.0.12): a 900 s session is stale the moment
  it arrives, so on its own the provider would call AssumeRole before every ECS request. The
  `_SpokeSession` below keeps each session until `RENEW_BEFORE` its expiry, on the run's clock,
  then asks the provider again: one AssumeRole per ~12 minutes of run, however many calls.
- **Where STS is.** The provider always builds `https://<sts_endpoint>`
  (`tea_request.protocol = 'https'`, nothing to configure), except that Tea's `compose_url`
  (alibabacloud-tea, Tea/core.py) drops the scheme it adds when the host already carries one.
  `sts_endpoint` left None is the SDK's own choice, always over HTTPS: `sts.aliyuncs.com`, or
  the region's (and VPC) endpoint from `ALIBABA_CLOUD_STS_REGION` and
  `ALIBABA_CLOUD_VPC_ENDPOINT_ENABLED`. The tests inject `http://127.0.0.1:<port>` to reach
  the emulator over plain HTTP (docs/multi-account.md).
- **A refusal names the account, before any ECS call.** The first session is fetched when the
  builder is called (spoke.py's factory, as the run builds its gateway). STS's refusal (the role
  does not trust us, the ExternalId is wrong, the role does not exist) becomes an `EcsApiError`
  for operation `AssumeRole` with STS's code and a message naming the role and the account, and
  fails the run there. Left lazy, it would surface inside the ECS SDK, which wraps any
  exception of its credential as an unparsed one (darabonba): the gateway would read it as a
  network error, retry AssumeRole with every attempt and lose STS's words. A renewal that fails
  mid-run still takes that path: retried within the call's budget, then that ECS call fails.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Final

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_credentials.exceptions import CredentialException
from alibabacloud_credentials.provider import (
    DefaultCredentialsProvider,
    RamRoleArnCredentialsProvider,
)

from ecs_lifecycle.clock import Clock, SystemClock
from ecs_lifecycle.errors import EcsApiError

RENEW_BEFORE: Final = timedelta(minutes=3)
ASSUME_ROLE: Final = "AssumeRole"
_ACCOUNT_OF_ARN: Final = re.compile(r"^acs:ram::(?P<account>[^:]+):role/")
_RESULT: Final = re.compile(r"http_code: (?P<status>\d+), result: (?P<body>.*)$", re.DOTALL)


def spoke_credentials(
    role_arn: str,
    external_id: str | None,
    session_name: str,
    policy: str,
    duration_seconds: int,
    *,
    sts_endpoint: str | None = None,
    base: Any = None,
    clock: Clock | None = None,
) -> CredentialClient:
    """Credentials acting as `role_arn`, for the ECS SDK's `Config(credential=...)`.

    `sts_endpoint`, `base` (the provider AssumeRole signs with; default: the default chain) and
    `clock` (when a session is due for renewal) are for tests; FC runs use the defaults.

    Raises:
        EcsApiError: operation AssumeRole, STS's code: the role could not be assumed.
    """
    provider = RamRoleArnCredentialsProvider(
        credentials_provider=base if base is not None else DefaultCredentialsProvider(),
        role_arn=role_arn,
        role_session_name=session_name,
        duration_seconds=duration_seconds,
        policy=policy,
        external_id=external_id,
        sts_endpoint=sts_endpoint,
    )
    session = _SpokeSession(provider, role_arn, clock or SystemClock())
    session.get_credentials()  # the refusal now, naming the account (see the module docstring)
    return CredentialClient(provider=session)


class _SpokeSession:
    """The provider's sessions, each kept until RENEW_BEFORE its expiry (see the module's
    docstring). Shaped as an alibabacloud_credentials provider (get_credentials,
    get_credentials_async, get_provider_name), which is all CredentialClient calls."""

    def __init__(
        self, provider: RamRoleArnCredentialsProvider, role_arn: str, clock: Clock
    ) -> None:
        self._provider = provider
        self._role_arn = role_arn
        self._clock = clock
        self._lock = threading.Lock()
        self._current: Any = None
        self._renew_at: datetime | None = None

    def get_credentials(self) -> Any:
        with self._lock:
            if self._renew_at is None or self._clock.now() >= self._renew_at:
                try:
                    credentials = self._provider.get_credentials()
                except CredentialException as refused:
                    raise _refusal(self._role_arn, refused) from None
                self._current = credentials
                self._renew_at = _renew_at(credentials.get_expiration(), self._clock.now())
            return self._current

    async def get_credentials_async(self) -> Any:
        # The ECS SDK's synchronous calls are the only users; one path keeps one cache.
        return self.get_credentials()

    def get_provider_name(self) -> str:
        return f"spoke/{self._provider.get_provider_name()}"


def _renew_at(expiration: int | None, now: datetime) -> datetime:
    if expiration is None:
        return now  # no expiry given: ask again next time rather than trust it forever
    return datetime.fromtimestamp(expiration, tz=timezone.utc) - RENEW_BEFORE


def _refusal(role_arn: str, refused: CredentialException) -> EcsApiError:
    """STS's refusal as our error: its code and message, the role and the account named."""
    match = _ACCOUNT_OF_ARN.match(role_arn)
    account = match["account"] if match else "?"
    code, message, request_id, status = "CredentialsUnavailable", str(refused.message), None, None
    result = _RESULT.search(str(refused.message))
    if result is not None:
        status = int(result["status"])
        try:
            body = json.loads(result["body"])
        except ValueError:
            body = {}
        if isinstance(body, dict):
            code = str(body.get("Code") or code)
            message = str(body.get("Message") or message)
            request_id = body.get("RequestId")
    return EcsApiError(
        ASSUME_ROLE,
        code,
        f"could not assume {role_arn} in account {account}: {message}",
        request_id=str(request_id) if request_id else None,
        status=status,
    )
