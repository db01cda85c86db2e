"""The emulated Alibaba services, one room each, and the registry the server routes by.

A request goes to the service whose API version it carries (``x-acs-version``, or the legacy
``Version`` parameter); one that carries none is ECS's, as the ECS SDK's legacy v2 signing sends
it. Adding a service (STS, Function Compute, Resource Directory, ...) is one new module here
that defines its ``SERVICE``, and one line in ``SERVICES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from ecs_emulator.service import Handler, Service
from ecs_emulator.services import actiontrail, ecs, sts

SERVICES: Final[Mapping[str, Service]] = {
    service.api_version: service
    for service in (
        ecs.SERVICE,
        actiontrail.SERVICE,
        sts.SERVICE,
    )
}
DEFAULT_SERVICE: Final = ecs.SERVICE


def operation(action: str, api_version: str | None) -> Handler | None:
    """The handler for ``action`` of the service ``api_version`` names; None if there is none."""
    service = SERVICES.get(api_version) if api_version else DEFAULT_SERVICE
    return None if service is None else service.operations.get(action)
