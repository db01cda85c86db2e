"""`ecs-lifecycle invoke` for a person (table) and for machines (json)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import EXIT_REFUSED, main

DEV = {"env": "dev"}


@pytest.fixture
def emulator_env(ecs_emulator: EcsEmulator, monkeypatch: pytest.MonkeyPatch) -> EcsEmulator:
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.setenv("TARGET_REGIONS", "cn-hangzhou,cn-shanghai")
    monkeypatch.setenv("ECS_ENDPOINT", ecs_emulator.endpoint)
    monkeypatch.setenv("ECS_PROTOCOL", "http")
    return ecs_emulator


def write_event(tmp_path: Path, event: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


@pytest.mark.parametrize("columns", [80, 100, 200])
def test_the_table_names_each_instance_and_its_owner_and_fits_the_terminal(
    emulator_env: EcsEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    columns: int,
) -> None:
    monkeypatch.setenv("COLUMNS", str(columns))
    kept = emulator_env.add_instance(
        status="Stopped", tags={**DEV, "owner": "alice", "protected": "true"}, name="dev-keep"
    )
    gone = emulator_env.add_instance(status="Stopped", tags={**DEV, "owner": "bob"}, name="dev-x")
    event = write_event(tmp_path, {"tags": DEV, "regions": ["cn-hangzhou", "cn-shanghai"]})
    assert main(["invoke", "release", "--format", "table", "--event", event]) == 0
    printed = capsys.readouterr()
    lines = printed.out.splitlines()
    assert lines[0] == (
        "release (dry run: nothing changed), manual trigger, in cn-hangzhou, cn-shanghai"
    )
    row = next(line for line in lines if line.startswith(kept.instance_id))
    assert row.split()[1:4] == ["dev-keep", "alice", "cn-hangzhou"]
    assert "bob" in next(line for line in lines if line.startswith(gone.instance_id))
    assert "protect tag" in printed.out
    assert lines[-1] == "=> 1 planned, 1 skipped"
    assert all(len(line) <= columns for line in lines), lines
    assert all(line == line.rstrip() for line in lines)
    # The table shows the decisions: no JSON decision lines interleaved on stderr.
    assert "decision" not in printed.err


def test_json_is_the_handlers_result_exactly(
    emulator_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator_env.add_instance(status="Stopped", tags=DEV, name="dev-x")
    assert (
        main(
            [
                "invoke",
                "release",
                "--format",
                "json",
                "--event",
                write_event(tmp_path, {"tags": DEV}),
            ]
        )
        == 0
    )
    printed = capsys.readouterr()
    summary = json.loads(printed.out)
    assert set(summary) == {
        "function",
        "dry_run",
        "trigger",
        "regions",
        "counts",
        "instances",
        "notes",
    }
    assert set(summary["instances"][0]) == {"instance_id", "region", "action", "outcome", "reason"}
    assert any(json.loads(line)["event"] == "decision" for line in printed.err.splitlines())


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_a_refusal_prints_once(
    emulator_env: EcsEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    event = write_event(tmp_path, {"tags": "env=dev*"})
    assert main(["invoke", "stop", "--format", output_format, "--event", event]) == EXIT_REFUSED
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.count("* means any value") == 1
    assert printed.err.startswith("refused: tags: env=dev*")


def test_a_run_whose_event_names_its_regions_needs_no_region_setting(
    emulator_env: EcsEmulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FC_REGION")
    monkeypatch.delenv("TARGET_REGIONS", raising=False)
    event = write_event(tmp_path, {"tags": DEV, "regions": ["cn-shanghai"]})
    assert main(["invoke", "release", "--format", "json", "--event", event]) == 0
    assert json.loads(capsys.readouterr().out)["regions"] == ["cn-shanghai"]
    assert main(["invoke", "release", "--event", write_event(tmp_path, {"tags": DEV})]) == 2
    assert "no region: name regions in the event" in capsys.readouterr().err


def _invoke_in_child(emulator: EcsEmulator, tmp_path: Path, *, terminal: bool) -> str:
    """Run `ecs-lifecycle invoke` in a child whose stdout is a terminal, or a pipe."""
    event = write_event(tmp_path, {"tags": DEV})
    env = {
        **os.environ,
        "FC_REGION": "cn-hangzhou",
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "COLUMNS": "120",
    }
    command = [sys.executable, "-m", "ecs_lifecycle.cli", "invoke", "release", "--event", event]
    if not terminal:
        return subprocess.run(  # noqa: S603 - our own CLI
            command, env=env, capture_output=True, text=True, check=True, timeout=60
        ).stdout
    leader, follower = pty.openpty()
    with subprocess.Popen(command, env=env, stdout=follower, stderr=subprocess.DEVNULL) as child:  # noqa: S603
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closes when the child exits
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert child.wait(timeout=60) == 0
    os.close(leader)
    return b"".join(chunks).decode()


def test_a_terminal_gets_the_table_and_a_pipe_gets_json(
    ecs_live_emulator: EcsEmulator, tmp_path: Path
) -> None:
    ecs_live_emulator.add_instance(status="Stopped", tags={**DEV, "owner": "carol"}, name="dev-x")
    on_terminal = _invoke_in_child(ecs_live_emulator, tmp_path, terminal=True)
    assert on_terminal.startswith("release (dry run: nothing changed)")
    assert "carol" in on_terminal
    piped = _invoke_in_child(ecs_live_emulator, tmp_path, terminal=False)
    assert json.loads(piped)["counts"]["planned"] == 1
