"""FC entry point of ecs-fanout (the hub): a thin adapter; the run is in ecs_lifecycle.fanout.hub.

The real seams (Resource Directory, FC 3.0 async InvokeFunction) are the gateways of
ecs_lifecycle.accounts.gateways, imported by name only at a real invocation.
"""

from __future__ import annotations

import importlib
import json
import os
from typing import Any

from ecs_lifecycle.clock import SystemClock
from ecs_lifecycle.fanout.hub import HubServices, handle_hub


def handler(event: bytes, context: Any) -> str:
    gateways = importlib.import_module("ecs_lifecycle.accounts.gateways")
    services = HubServices(
        clock=SystemClock(),
        environ=os.environ,
        directory_factory=gateways.make_account_directory,
        invoker_factory=gateways.make_async_invoker,
    )
    return json.dumps(handle_hub(event, context, services))
