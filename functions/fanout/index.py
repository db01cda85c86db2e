"""FC entry point of ecs-fanout (the hub): a thin adapter; the run is in ecs_lifecycle.fanout.hub.

The real seams are the gateways of ecs_lifecycle.accounts.gateways: Resource Directory and
FC 3.0 async InvokeFunction, with the default credential chain (the hub's role).
"""

from __future__ import annotations

import json
import os
from typing import Any

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.directory import ResourceDirectoryGateway
from ecs_lifecycle.accounts.gateways import HubEndpoints, make_account_directory, make_async_invoker
from ecs_lifecycle.accounts.invoker import FcAsyncInvoker
from ecs_lifecycle.clock import SystemClock
from ecs_lifecycle.fanout.hub import HubServices, handle_hub


def handler(event: bytes, context: Any) -> str:
    clock = SystemClock()
    endpoints = HubEndpoints.from_env(os.environ)

    def directory(settings: AccountSettings) -> ResourceDirectoryGateway:
        return make_account_directory(settings, endpoints, clock)

    def invoker(settings: AccountSettings) -> FcAsyncInvoker:
        return make_async_invoker(settings, endpoints, clock)

    services = HubServices(
        clock=clock,
        environ=os.environ,
        directory_factory=directory,
        invoker_factory=invoker,
    )
    return json.dumps(handle_hub(event, context, services))
