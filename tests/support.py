"""Test support shared by the functional and reliability suites: run a handler on the emulator."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import GatewayFactory, make_gateway
from ecs_lifecycle.handler import Services, handle

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator
    from ecs_emulator.model import InstanceView
    from ecs_lifecycle.model import Function

REPO: Final = Path(__file__).resolve().parents[1]
SAMPLES: Final = REPO / "events"
# Every ECS operation that changes something; a dry run or a refused event makes none of them.
CHANGING: Final = frozenset(
    {
        "StopInstance",
        "StopInstances",
        "StartInstance",
        "StartInstances",
        "DeleteInstance",
        "DeleteInstances",
        "ModifyInstanceAutoReleaseTime",
        "ModifyInstanceAttribute",
        "ModifyInstanceChargeType",
        "CreateSnapshot",
        "TagResources",
        "UntagResources",
    }
)


def sample(name: str) -> bytes:
    """One of the shared sample events, as the bytes FC would pass."""
    return (SAMPLES / name).read_bytes()


@dataclass
class Runner:
    """Runs a function's handler the way FC would, on the emulator's clock and endpoint."""

    emulator: EcsEmulator
    env: dict[str, str] = field(default_factory=dict)
    clock: Any = None  # None: the emulator's clock
    gateway_factory: GatewayFactory | None = None  # None: the real gateway

    def using(self, *, clock: Any = None, gateway_factory: GatewayFactory | None = None) -> Runner:
        """This runner with another clock or gateway factory."""
        return replace(
            self,
            clock=clock or self.clock,
            gateway_factory=gateway_factory or self.gateway_factory,
        )

    def environ(self, **overrides: str) -> dict[str, str]:
        return {
            "FC_REGION": "cn-hangzhou",
            "ECS_ENDPOINT": self.emulator.endpoint,
            "ECS_PROTOCOL": "http",
            # ActionTrail's tag records anchor the minimum notice (docs/safety.md): the emulator's.
            "ACTIONTRAIL_ENDPOINT": self.emulator.endpoint,
            "ACTIONTRAIL_PROTOCOL": "http",
            **self.env,
            **overrides,
        }

    def __call__(
        self,
        function: Function,
        event: bytes | str | Mapping[str, Any],
        **env: str,
    ) -> dict[str, Any]:
        raw = event if isinstance(event, (bytes, str)) else json.dumps(dict(event))
        environ = self.environ(**env)
        services = Services(
            clock=self.clock or self.emulator.clock,
            environ=environ,
            gateway_factory=self.gateway_factory or make_gateway,
        )
        return handle(function, raw, make_context(function, environ), services)

    def changing_calls(self) -> list[str]:
        """The changing operations the emulator was asked for, in order."""
        return [call.operation for call in self.emulator.calls if call.operation in CHANGING]


def by_id(summary: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["instance_id"]: entry for entry in summary["instances"]}


def alive(emulator: EcsEmulator, instance_id: str) -> InstanceView:
    """The instance as the emulator has it now; it must not have been released."""
    view = emulator.instance(instance_id)
    assert view is not None, f"{instance_id} was released"
    return view
