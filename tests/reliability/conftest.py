"""Reliability tests: the handlers, through the real SDK, against the emulator with faults on.

The `Runner` (tests/support.py) takes the knobs these tests need: a clock other than the
emulator's (one that records its sleeps) and a gateway factory.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

import pytest

from ecs_emulator import CallRecord, EcsEmulator, EmulatorCredentials, FakeClock, FaultRule
from ecs_emulator.faults import FaultInjector, FaultKind
from ecs_lifecycle.model import Function
from tests.support import CHANGING, REPO

_ID_PARAM: Final = re.compile(r"^(?:InstanceId|ResourceId)(?:\.\d+)?$")

# One instance's state, as compared between runs: everything a function may change.
InstanceState = tuple[str, str, str | None, bool, tuple[tuple[str, str], ...]]
FleetState = dict[str, InstanceState | None]


class RecordingClock:
    """The emulator's FakeClock, with every sleep the code under test asked for written down."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
        self._clock.sleep(seconds)


def fake_clock(emulator: EcsEmulator) -> FakeClock:
    clock = emulator.clock
    assert isinstance(clock, FakeClock)
    return clock


# --- reading the call log and the fleet -------------------------------------------------------


def changing_calls(emulator: EcsEmulator) -> list[CallRecord]:
    """Every request for a changing operation, answered or not (faulted requests included)."""
    return [call for call in emulator.calls if call.operation in CHANGING]


def named_ids(call: CallRecord) -> set[str]:
    """The instance ids a call names (InstanceId, InstanceId.N, ResourceId.N, InstanceIds)."""
    ids = {value for key, value in call.params.items() if _ID_PARAM.match(key)}
    listed = call.params.get("InstanceIds")
    if listed:
        ids.update(str(item) for item in json.loads(listed))
    return ids


def touched(emulator: EcsEmulator) -> set[str]:
    """Instance ids named by any changing request."""
    return {instance_id for call in changing_calls(emulator) for instance_id in named_ids(call)}


def fleet_state(emulator: EcsEmulator, ids: list[str]) -> FleetState:
    """What a function can change on each of `ids` (None: released)."""
    state: FleetState = {}
    for instance_id in ids:
        view = emulator.instance(instance_id)
        state[instance_id] = (
            None
            if view is None
            else (
                view.status,
                view.stopped_mode,
                view.auto_release_time.isoformat() if view.auto_release_time else None,
                view.deletion_protection,
                tuple(sorted(view.tags.items())),
            )
        )
    return state


def seed_for(rule: FaultRule, operation: str, pattern: list[FaultKind | None]) -> int:
    """A fault seed under which the first calls to `operation` see exactly `pattern`.

    Uses the emulator's own injector, so "fail twice, then answer" is deterministic.
    """
    for seed in range(5000):
        injector = FaultInjector([rule], seed)
        if [injector.decide(operation).kind for _ in pattern] == pattern:
            return seed
    raise AssertionError(f"no seed gives {pattern} for {operation}")


# --- child processes: the real `ecs-lifecycle invoke` ------------------------------------------


@pytest.fixture
def live_emulator(ecs_live_emulator: EcsEmulator) -> EcsEmulator:
    """An emulator on real time, for handlers running in another process."""
    return ecs_live_emulator


def cli_env(
    emulator: EcsEmulator,
    settings: Mapping[str, str] | None = None,
    *,
    credentials: EmulatorCredentials | None = None,
) -> dict[str, str]:
    """A child's environment: the emulator's endpoint and credentials, nothing of ours."""
    chosen = credentials or emulator.credentials
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("ALIBABA_CLOUD_", "ECS_", "TARGET_", "FC_"))
    }
    env.update(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": chosen.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": chosen.access_key_secret,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            "ECS_ENDPOINT": emulator.endpoint,
            "ECS_PROTOCOL": "http",
            # ActionTrail too (when tags were written, stopped_for): else a child would look it
            # up at the region's public endpoint, and wait out its retries where that fails.
            "ACTIONTRAIL_ENDPOINT": emulator.endpoint,
            "ACTIONTRAIL_PROTOCOL": "http",
            "ECS_POLL_SECONDS": "1",
            "FC_REGION": "cn-hangzhou",
            "FC_TIMEOUT": "60",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if chosen.security_token is not None:
        env["ALIBABA_CLOUD_SECURITY_TOKEN"] = chosen.security_token
    env.update(settings or {})
    return env


def cli_command(function: Function) -> list[str]:
    return [sys.executable, "-m", "ecs_lifecycle.cli", "invoke", function.value, "--event", "-"]


def invoke_cli(
    function: Function,
    event: bytes | Mapping[str, Any],
    env: Mapping[str, str],
    timeout: float = 30,
) -> subprocess.CompletedProcess[bytes]:
    """`ecs-lifecycle invoke FUNCTION --event -` in a child process; output captured."""
    raw = event if isinstance(event, bytes) else json.dumps(dict(event)).encode()
    return subprocess.run(  # noqa: S603 - our own command, no shell
        cli_command(function),
        input=raw,
        env=dict(env),
        capture_output=True,
        timeout=timeout,
        check=False,
        cwd=REPO,
    )
