"""Building a real Alibaba SDK client that talks to an emulator.

The only module of the emulator that imports the SDK, and only when asked for a client, so the
emulator itself starts without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ecs_emulator.auth import EmulatorCredentials

if TYPE_CHECKING:
    from ecs_emulator.emulator import EcsEmulator


def make_sdk_client(
    emulator: EcsEmulator,
    region: str = "cn-hangzhou",
    credentials: EmulatorCredentials | None = None,
    *,
    connect_timeout_ms: int = 1000,
    read_timeout_ms: int = 3000,
    signature_algorithm: str | None = None,
    retry_options: Any = None,  # darabonba's untyped RetryOptions
) -> Any:  # the SDK is untyped
    """An ``alibabacloud_ecs20140526`` client for ``emulator`` (plain HTTP, short timeouts).

    ``credentials`` defaults to the ones the emulator accepts. The SDK's own retries are off
    (its 0.4.x default), so every fault reaches the caller at once, unless ``retry_options``
    (a ``darabonba.policy.retry.RetryOptions``) is given.
    """
    from alibabacloud_ecs20140526.client import Client  # noqa: PLC0415 - optional import
    from alibabacloud_tea_openapi.models import Config  # noqa: PLC0415 - optional import

    chosen = credentials or emulator.credentials
    config = Config(
        access_key_id=chosen.access_key_id,
        access_key_secret=chosen.access_key_secret,
        security_token=chosen.security_token,
        endpoint=emulator.endpoint,
        protocol="http",
        region_id=region,
        connect_timeout=connect_timeout_ms,
        read_timeout=read_timeout_ms,
        retry_options=retry_options,
    )
    if signature_algorithm is not None:
        config.signature_algorithm = signature_algorithm
    return Client(config)
