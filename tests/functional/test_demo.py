"""`make demo`: it streams its steps, fails loudly, and its commands and events can be replayed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_emulator import EcsEmulator
from ecs_emulator.demo import EXIT_STEP_FAILED, SAMPLES, STEPS, _child_env, main
from tests.support import REPO

WIDTH = 100


def test_missing_sample_events_fail_the_demo_with_where_to_find_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--events", str(tmp_path / "nowhere"), "--keep-events", str(tmp_path / "kept")])
    assert code == EXIT_STEP_FAILED
    assert "sample events missing" in capsys.readouterr().err


def test_a_step_that_fails_unexpectedly_fails_the_demo(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "events"
    shutil.copytree(SAMPLES, samples)
    # The first step's event now has a typo in an option: the step is refused (exit code 2).
    (samples / STEPS[0][1]).write_text(json.dumps({"instance_ids": ["i-bp1x0001"], "dryrun": 1}))
    code = main(["--events", str(samples), "--keep-events", str(tmp_path / "kept")])
    printed = capsys.readouterr().out
    assert code == EXIT_STEP_FAILED
    assert "refused: dryrun" in printed
    assert "step 1 ended with exit code 2, not 0: stopping here" in printed
    assert "[2]" not in printed


def test_the_demo_streams_each_step_and_keeps_its_events_to_replay(tmp_path: Path) -> None:
    kept = tmp_path / "demo-events"
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "ecs_emulator.devcli", "demo", "--keep-events", str(kept)],
        cwd=REPO,
        env={**os.environ, "COLUMNS": str(WIDTH)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    first_step_shown_while_running = False
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if line.startswith("=> 2 done") and not first_step_shown_while_running:
            # Seven steps are still to run: the first one was printed as soon as it ended.
            first_step_shown_while_running = process.poll() is None
    assert process.wait(timeout=300) == 0, "\n".join(lines)
    assert first_step_shown_while_running
    # Every command shown runs from the repository root, as printed.
    commands = [line.strip().removeprefix("$ ") for line in lines if line.startswith("  $ ")]
    assert commands.pop() == "ecs-lifecycle fanout"  # the last section (test_fanout_cli.py)
    assert len(commands) == len(STEPS)
    for command in commands:
        event = Path(command.split("--event ")[1])
        assert (REPO / event).is_file() or event.is_file(), command
    assert (kept / "manual-release-snapshot.json").is_file()
    # Why each instance survived, e.g. its owner's lifetime tag or the selector.
    assert any("keeps it until" in line for line in lines)
    assert any("does not match the nightly run's selector (env=dev)" in line for line in lines)
    # The notice reaches the chat group as people read it (text, not JSON), an owner pastes its
    # keep-until command, the nightly run keeps that instance, and its report says so.
    notice = lines.index(
        next(line for line in lines if line.startswith("  | ecs-lifecycle notice:"))
    )
    assert lines[notice].startswith("  | ecs-lifecycle notice: release at ")
    assert not [line for line in lines if line.startswith("  | {")]
    owner = next(n for n, line in enumerate(lines) if "pastes the notice's command" in line)
    assert notice < owner
    assert "--Tag.1.Key keep-until --Tag.1.Value" in " ".join(lines[owner : owner + 4])
    report = lines.index("  | ecs-lifecycle report: release")
    assert owner < report
    assert any("by its keep-until tag" in line for line in lines[report:])
    # Fits the terminal (a command is never broken) and no line ends in spaces.
    assert [line for line in lines if len(line) > WIDTH and not line.startswith("  $ ")] == []
    assert all(line == line.rstrip() for line in lines)


def test_every_endpoint_the_core_reads_points_the_demo_s_steps_at_the_emulator(
    ecs_emulator: EcsEmulator,
) -> None:
    """A service the core calls with no endpoint set would be asked at Alibaba's public one, with
    the demo's fake keys (ActionTrail was, once the notice's anchor came to read it)."""
    settings = REPO / "shared" / "ecs_lifecycle" / "settings"
    read = set()
    for module in settings.rglob("*.py"):
        read |= set(re.findall(r'"([A-Z_]+_ENDPOINT)"', module.read_text(encoding="utf-8")))
    assert {"ECS_ENDPOINT", "ACTIONTRAIL_ENDPOINT"} <= read  # the scan still finds them
    env = _child_env(ecs_emulator, ecs_emulator.credentials)
    for name in read:
        assert env.get(name) == ecs_emulator.endpoint, name
        assert env.get(name.replace("_ENDPOINT", "_PROTOCOL")) == "http", name
