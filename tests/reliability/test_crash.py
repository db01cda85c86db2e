"""A crash half-way: the real `ecs-lifecycle invoke` is killed (SIGKILL), then run again.

The child process talks to an emulator on real time with a little latency on the changing
operation, so that the parent can watch the call log and kill the child after about half of
its changing calls. The second run must bring the fleet to exactly the state a fault-free run
reaches. Bounded: a few seconds per function.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FaultRule, InstanceSpec
from ecs_lifecycle.model import Function
from tests.support import REPO, Runner

from .conftest import cli_command, cli_env, fleet_state, invoke_cli

SETTINGS = {
    "TARGET_REGIONS": "cn-hangzhou",
    "MAX_INSTANCES": "1000",
    "ECS_CALLS_PER_SECOND": "1000",
    "ECS_CONCURRENCY": "1",
}
# (function, changing operation, fleet size, status, latency of that operation)
CASES = {
    "stop": (Function.STOP, "StopInstances", 250, "Running", 0.4),
    "release": (Function.RELEASE, "DeleteInstances", 250, "Stopped", 0.4),
    "auto-release": (Function.AUTO_RELEASE, "ModifyInstanceAutoReleaseTime", 24, "Running", 0.08),
}


def _fleet(size: int, status: str) -> list[InstanceSpec]:
    return [
        InstanceSpec(
            region="cn-hangzhou",
            instance_id=f"i-crash{n:05d}",
            status=status,
            tags={"env": "dev"},
            creation_time=datetime(2026, 11, 20, tzinfo=timezone.utc),
        )
        for n in range(size)
    ]


def _event(function: Function) -> dict[str, Any]:
    if function is Function.RELEASE:
        return {"tags": {"env": "dev"}, "dry_run": False}
    if function is Function.AUTO_RELEASE:
        moment = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(days=2)
        return {"tags": {"env": "dev"}, "release_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    return {"tags": {"env": "dev"}}


def _succeeded(emulator: EcsEmulator, operation: str) -> int:
    return sum(1 for call in emulator.calls_to(operation) if call.status == 200)


@pytest.mark.parametrize("name", list(CASES))
def test_killed_half_way_then_run_again_ends_as_a_clean_run(
    live_emulator: EcsEmulator, name: str
) -> None:
    function, operation, size, status, latency = CASES[name]
    event = _event(function)
    live_emulator.settings.stop_delay = 0  # stops finish at once: nothing waits on real time
    ids = [f"i-crash{n:05d}" for n in range(size)]

    # The fault-free reference, in this process.
    live_emulator.add_fleet(_fleet(size, status))
    Runner(live_emulator, env=dict(SETTINGS))(function, event)
    clean_calls = _succeeded(live_emulator, operation)
    expected = fleet_state(live_emulator, ids)

    # The same fleet; the child is killed after about half of its changing calls.
    live_emulator.reset()
    live_emulator.settings.stop_delay = 0
    live_emulator.add_fleet(_fleet(size, status))
    live_emulator.set_faults([FaultRule(operation=operation, latency=latency)])
    env = cli_env(live_emulator, SETTINGS)
    child = subprocess.Popen(  # noqa: S603 - our own command, no shell
        cli_command(function),
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    assert child.stdin is not None
    child.stdin.write(json.dumps(event).encode())
    child.stdin.close()
    give_up = time.monotonic() + 20
    while _succeeded(live_emulator, operation) < max(1, clean_calls // 2):
        assert child.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < give_up, "the run made no progress"
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    time.sleep(latency * 2)  # a request in flight when it died still lands
    halfway = fleet_state(live_emulator, ids)
    changed = sum(1 for i in ids if halfway[i] == expected[i])
    assert 0 < changed < size, f"{changed} of {size} done when killed"

    # Run again (FC's retry of the invocation): it finishes the job, and only that.
    live_emulator.clear_faults()
    again = invoke_cli(function, event, env)

    assert again.returncode == 0, again.stderr.decode()
    assert fleet_state(live_emulator, ids) == expected
