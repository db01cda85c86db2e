"""pytest fixtures: one emulator server per session, a fresh fleet and clock per test.

Enable with ``pytest_plugins = ["ecs_emulator.pytest_plugin"]`` in a conftest.

* ``ecs_emulator_server`` (session): the running :class:`EcsEmulator`.
* ``ecs_emulator`` (function): the same server, reset - empty fleet, empty call log, no faults,
  default credentials, and a new :class:`FakeClock` at :data:`DEFAULT_START`. A test that
  fails leaves nothing behind for the next one.
* ``ecs_clock`` (function): that FakeClock, to move time (``ecs_clock.advance(30)``).
* ``ecs_sdk_client`` (function): a real SDK client for ``cn-hangzhou`` pointed at it
  (:func:`ecs_emulator.make_sdk_client` builds others).

A bug inside the emulator answers the SDK with ``InternalError``; the ``ecs_emulator`` fixture
then fails the test at teardown with the original exception, so it cannot go unnoticed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Final

import pytest

from ecs_emulator.client import make_sdk_client
from ecs_emulator.clock import FakeClock, SystemClock
from ecs_emulator.emulator import EcsEmulator

DEFAULT_START: Final = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def ecs_emulator_server() -> Iterator[EcsEmulator]:
    with EcsEmulator(clock=FakeClock(DEFAULT_START)) as emulator:
        yield emulator


@pytest.fixture
def ecs_emulator(ecs_emulator_server: EcsEmulator) -> Iterator[EcsEmulator]:
    ecs_emulator_server.reset(clock=FakeClock(DEFAULT_START))
    yield ecs_emulator_server
    errors = list(ecs_emulator_server.internal_errors)
    ecs_emulator_server.reset()
    if errors:
        raise errors[0]


@pytest.fixture(scope="session")
def ecs_live_emulator_server() -> Iterator[EcsEmulator]:
    with EcsEmulator(clock=SystemClock()) as emulator:
        yield emulator


@pytest.fixture
def ecs_live_emulator(ecs_live_emulator_server: EcsEmulator) -> Iterator[EcsEmulator]:
    """An emulator on the real clock, for code under test in another process (a CLI, a runtime
    interpreter), which cannot share a FakeClock. Reset per test, like ``ecs_emulator``."""
    ecs_live_emulator_server.reset(clock=SystemClock())
    yield ecs_live_emulator_server
    errors = list(ecs_live_emulator_server.internal_errors)
    ecs_live_emulator_server.reset()
    if errors:
        raise errors[0]


@pytest.fixture
def ecs_clock(ecs_emulator: EcsEmulator) -> FakeClock:
    clock = ecs_emulator.clock
    if not isinstance(clock, FakeClock):  # the fixture above always installs one
        raise TypeError("the ecs_emulator fixture runs on a FakeClock")
    return clock


@pytest.fixture
def ecs_sdk_client(ecs_emulator: EcsEmulator) -> Any:  # the SDK is untyped
    return make_sdk_client(ecs_emulator)
