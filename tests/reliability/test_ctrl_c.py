"""Ctrl-C on the real `ecs-lifecycle invoke`: a child process, an emulator on real time, SIGINT.

The first Ctrl-C starts nothing new (no ECS call, retry or poll), prints the summary of what was
done and exits 130; a second one exits at once, without a traceback. Bounded: seconds per test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.cli import EXIT_INTERRUPTED
from ecs_lifecycle.model import Function
from tests.support import REPO, by_id

from .conftest import changing_calls, cli_command, cli_env

DEV = {"env": "dev"}
RELEASE = {"tags": DEV, "dry_run": False}
# Real seconds: how long the first Ctrl-C may take to end a run that has nothing in flight.
PROMPT = 5.0


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children started by a test; any still running at its end is killed."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for child in started:
        if child.poll() is None:
            child.kill()
            child.wait()


def start(
    children: list[subprocess.Popen[bytes]],
    emulator: EcsEmulator,
    event: dict[str, Any],
    output_format: str = "json",
) -> subprocess.Popen[bytes]:
    """`ecs-lifecycle invoke release --event - --format ...` in a child, fed `event`."""
    child = subprocess.Popen(  # noqa: S603 - our own command, no shell
        [*cli_command(Function.RELEASE), "--format", output_format],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(emulator, {"TARGET_REGIONS": "cn-hangzhou", "ECS_POLL_SECONDS": "1"}),
        cwd=REPO,
    )
    children.append(child)
    assert child.stdin is not None
    child.stdin.write(json.dumps(event).encode())
    child.stdin.close()
    child.stdin = None  # sent: communicate() must not flush it again
    return child


def wait_until(child: subprocess.Popen[bytes], condition: Callable[[], bool]) -> None:
    give_up = time.monotonic() + 30
    while not condition():
        assert child.poll() is None, child.communicate()[1].decode()
        assert time.monotonic() < give_up, "the run never got there"
        time.sleep(0.02)


def test_the_first_ctrl_c_starts_nothing_new_prints_the_summary_and_exits_130(
    live_emulator: EcsEmulator, children: list[subprocess.Popen[bytes]]
) -> None:
    live_emulator.settings.stop_delay = 3600  # the Running ones stay Stopping: the run waits
    stopped = [live_emulator.add_instance(status="Stopped", tags=DEV) for _ in range(2)]
    running = [live_emulator.add_instance(status="Running", tags=DEV) for _ in range(3)]
    child = start(children, live_emulator, RELEASE)
    # The Stopped ones are released, the Running ones sent a stop; then it polls, and waits.
    wait_until(
        child,
        lambda: (
            bool(live_emulator.calls_to("DeleteInstances"))
            and len(live_emulator.calls_to("DescribeInstances")) >= 4
        ),
    )
    changes_before = len(changing_calls(live_emulator))
    child.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    out, err = child.communicate(timeout=30)
    took = time.monotonic() - interrupted_at

    assert child.returncode == EXIT_INTERRUPTED == 130, err.decode()
    assert took < PROMPT, f"the first Ctrl-C took {took:.1f} s"
    assert b"Traceback" not in err
    assert b"interrupted" in err
    assert len(changing_calls(live_emulator)) == changes_before
    entries = by_id(json.loads(out))
    for instance in stopped:
        assert entries[instance.instance_id]["outcome"] == "done"
        assert live_emulator.instance(instance.instance_id) is None
    for instance in running:
        entry = entries[instance.instance_id]
        assert (entry["outcome"], entry["error_code"]) == ("failed", "Interrupted"), entry
        assert "StopInstances sent" in entry["reason"]
        view = live_emulator.instance(instance.instance_id)
        assert view is not None
        assert view.status == "Stopping"
    # Each decision was logged once on stderr, as it was carried out.
    decisions = [
        json.loads(line)["instance_id"]
        for line in err.decode().splitlines()
        if line.startswith("{") and json.loads(line)["event"] == "decision"
    ]
    assert sorted(decisions) == sorted(entries)


def test_ctrl_c_ends_a_throttled_retry_at_once(
    live_emulator: EcsEmulator, children: list[subprocess.Popen[bytes]]
) -> None:
    instances = [live_emulator.add_instance(status="Stopped", tags=DEV) for _ in range(2)]
    # Throttled for good: the gateway would retry into the next minute (up to two minutes).
    live_emulator.set_faults([FaultRule(operation="DeleteInstances", throttle_rate=1.0)])
    child = start(children, live_emulator, RELEASE, output_format="table")
    wait_until(child, lambda: bool(live_emulator.calls_to("DeleteInstances")))
    child.send_signal(signal.SIGINT)
    interrupted_at = time.monotonic()
    out, err = child.communicate(timeout=30)
    took = time.monotonic() - interrupted_at
    attempts = len(live_emulator.calls_to("DeleteInstances"))

    assert child.returncode == EXIT_INTERRUPTED, err.decode()
    assert took < PROMPT, f"the first Ctrl-C took {took:.1f} s"
    assert b"Traceback" not in err
    time.sleep(1)
    assert len(live_emulator.calls_to("DeleteInstances")) == attempts  # no attempt after it
    assert all(live_emulator.instance(i.instance_id) is not None for i in instances)
    # The table is printed, with what was not done and why.
    table = out.decode()
    assert all(i.instance_id in table for i in instances)
    assert "failed" in table


def test_a_second_ctrl_c_exits_at_once_without_a_traceback(
    live_emulator: EcsEmulator, children: list[subprocess.Popen[bytes]]
) -> None:
    latency = 8.0
    live_emulator.add_instance(status="Stopped", tags=DEV)
    live_emulator.set_faults([FaultRule(operation="DeleteInstances", latency=latency)])
    child = start(children, live_emulator, RELEASE)
    # The load and the re-read before the release: DeleteInstances is then in flight.
    wait_until(child, lambda: len(live_emulator.calls_to("DescribeInstances")) >= 2)
    time.sleep(0.5)
    child.send_signal(signal.SIGINT)
    time.sleep(1)
    # The first Ctrl-C lets the call in flight finish: the run is still there.
    assert child.poll() is None
    child.send_signal(signal.SIGINT)
    again_at = time.monotonic()
    out, err = child.communicate(timeout=30)
    took = time.monotonic() - again_at

    assert child.returncode == EXIT_INTERRUPTED, err.decode()
    assert took < 2, f"the second Ctrl-C took {took:.1f} s"
    assert out == b""
    assert b"Traceback" not in err
    assert b"interrupted again" in err
    time.sleep(latency)  # the request in flight lands before the emulator is reset
