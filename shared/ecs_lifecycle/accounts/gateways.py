"""The hub's real seams, built from its settings: Resource Directory and FC 3.0 clients.

Credentials come only from the default credential chain (on FC, the hub's role); no key is ever
read from a setting. Endpoints default to the SDKs' own (Resource Directory's central endpoint,
FC 3.0's regional `fcv3.<region>.aliyuncs.com`); RESOURCEMANAGER_ENDPOINT and
FUNCTION_COMPUTE_ENDPOINT (with their _PROTOCOL) point them elsewhere, at the emulator; they are
parsed once, in `HubEndpoints.from_env`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from alibabacloud_credentials.client import Client as CredentialClient
from alibabacloud_fc20230330.client import Client as FcClient
from alibabacloud_resourcemanager20200331.client import Client as ResourceManagerClient
from alibabacloud_tea_openapi.models import Config

from ecs_lifecycle import defaults
from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.directory import PAGE_SIZE, ResourceDirectoryGateway
from ecs_lifecycle.accounts.invoker import FcAsyncInvoker
from ecs_lifecycle.clock import Clock
from ecs_lifecycle.errors import ConfigError

_FALLBACK_REGION: Final = "cn-hangzhou"  # Resource Directory is central: any region signs it


@dataclass(frozen=True, slots=True)
class HubEndpoints:
    """Where the hub's two services are: the runtime's region, the SDKs' endpoints by default."""

    region: str
    resourcemanager_endpoint: str | None = None
    resourcemanager_protocol: defaults.EndpointProtocol = defaults.PROTOCOLS[0]
    fc_endpoint: str | None = None
    fc_protocol: defaults.EndpointProtocol = defaults.PROTOCOLS[0]

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> HubEndpoints:
        """Raises ConfigError naming a malformed protocol."""
        return cls(
            region=environ.get("FC_REGION", "").strip() or _FALLBACK_REGION,
            resourcemanager_endpoint=environ.get("RESOURCEMANAGER_ENDPOINT", "").strip() or None,
            resourcemanager_protocol=_protocol("RESOURCEMANAGER_PROTOCOL", environ),
            fc_endpoint=environ.get("FUNCTION_COMPUTE_ENDPOINT", "").strip() or None,
            fc_protocol=_protocol("FUNCTION_COMPUTE_PROTOCOL", environ),
        )


def make_account_directory(
    settings: AccountSettings,
    endpoints: HubEndpoints,
    clock: Clock,
    *,
    page_size: int = PAGE_SIZE,
) -> ResourceDirectoryGateway:
    """The hub's Resource Directory reader (its role: ListAccounts*, GetResourceDirectory)."""
    del settings  # the folder is the plan's to choose; the reader reads what it is asked
    config = _config(endpoints.region, endpoints.resourcemanager_endpoint)
    config.protocol = endpoints.resourcemanager_protocol
    return ResourceDirectoryGateway(ResourceManagerClient(config), clock, page_size=page_size)


def make_async_invoker(
    settings: AccountSettings, endpoints: HubEndpoints, clock: Clock
) -> FcAsyncInvoker:
    """The hub's FC 3.0 async invoker, in the hub's own region (its role: fc:InvokeFunction on
    the workers only; the hub refuses to name itself before this is built)."""
    del settings
    config = _config(endpoints.region, endpoints.fc_endpoint)
    config.protocol = endpoints.fc_protocol
    return FcAsyncInvoker(FcClient(config), clock)


def _config(region: str, endpoint: str | None) -> Config:
    return Config(
        credential=CredentialClient(),
        region_id=region,
        endpoint=endpoint,
        connect_timeout=5000,
        read_timeout=15000,
    )


def _protocol(name: str, environ: Mapping[str, str]) -> defaults.EndpointProtocol:
    raw = environ.get(name, "").strip().lower() or defaults.PROTOCOLS[0]
    for protocol in defaults.PROTOCOLS:
        if raw == protocol:
            return protocol
    raise ConfigError(name, f"{raw!r} is not one of {', '.join(defaults.PROTOCOLS)}")
