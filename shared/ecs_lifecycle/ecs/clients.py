"""The SDK clients: their configuration, and one client per region, made once and shared."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_ecs20140526.client import Client as EcsClient
from alibabacloud_tea_openapi.models import Config

if TYPE_CHECKING:
    from ecs_lifecycle.settings import Settings


def client_config(
    credential: CredentialClient, region: str, endpoint: str | None, protocol: str
) -> Config:
    """One Alibaba SDK client's configuration (ECS's or ActionTrail's): credentials from the
    default chain only, the region's endpoint unless one is set, timeouts that end a stuck call."""
    return Config(
        credential=credential,
        region_id=region,
        endpoint=endpoint,
        protocol=protocol,
        connect_timeout=5000,
        read_timeout=15000,
    )


def default_chain_clients(settings: Settings) -> Callable[[str], EcsClient]:
    """A maker of ECS clients whose credentials come only from the default chain (FC's role
    variables), for the settings' endpoint and protocol."""
    credential = CredentialClient()

    def client_for_region(region: str) -> EcsClient:
        return EcsClient(client_config(credential, region, settings.endpoint, settings.protocol))

    return client_for_region


class RegionClients:
    """One client per region, made on first use by `make` and kept (threads share them)."""

    def __init__(self, make: Callable[[str], EcsClient]) -> None:
        self._make = make
        self._clients: dict[str, EcsClient] = {}
        self._lock = threading.Lock()

    def __call__(self, region: str) -> EcsClient:
        with self._lock:
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._make(region)
            return client
