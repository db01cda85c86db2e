"""Functional tests: the handlers, through the real SDK, against the ECS emulator."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from tests.support import Runner

if TYPE_CHECKING:
    from ecs_emulator import EcsEmulator


@pytest.fixture
def run(ecs_emulator: EcsEmulator) -> Runner:
    return Runner(ecs_emulator)
