"""Functional tests: the handlers, through the real SDK, against the ECS emulator."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ecs_lifecycle.cli import make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator
    from ecs_emulator.model import InstanceView

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "events"
MUTATING = frozenset(
    {
        "StopInstance",
        "StopInstances",
        "DeleteInstance",
        "DeleteInstances",
        "ModifyInstanceAutoReleaseTime",
        "ModifyInstanceAttribute",
        "CreateSnapshot",
        "TagResources",
        "UntagResources",
    }
)


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


@dataclass
class Runner:
    """Runs a function's handler the way FC would, with the emulator's clock and endpoint."""

    emulator: EcsEmulator
    env: dict[str, str] = field(default_factory=dict)

    def environ(self, **overrides: str) -> dict[str, str]:
        return {
            "FC_REGION": "cn-hangzhou",
            "ECS_ENDPOINT": self.emulator.endpoint,
            "ECS_PROTOCOL": "http",
            **self.env,
            **overrides,
        }

    def __call__(
        self, function: Function, event: bytes | dict[str, Any] | str, **env: str
    ) -> dict[str, Any]:
        raw = event if isinstance(event, (bytes, str)) else json.dumps(event)
        environ = self.environ(**env)
        services = Services(
            clock=self.emulator.clock,
            environ=environ,
            gateway_factory=make_gateway,
            poll_interval=5.0,
        )
        return handle(function, raw, make_context(function, environ), services)

    def changing_calls(self) -> list[str]:
        return [call.operation for call in self.emulator.calls if call.operation in MUTATING]


@pytest.fixture
def run(ecs_emulator: EcsEmulator) -> Runner:
    return Runner(ecs_emulator)


def by_id(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["instance_id"]: entry for entry in summary["instances"]}


def alive(emulator: EcsEmulator, instance_id: str) -> InstanceView:
    """The instance as the emulator has it now; it must not have been released."""
    view = emulator.instance(instance_id)
    assert view is not None, f"{instance_id} was released"
    return view
