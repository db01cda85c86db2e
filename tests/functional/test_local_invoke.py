"""`ecs-lifecycle invoke`: the handler as FC calls it, with the exit codes scripts rely on."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import EXIT_FAILED, EXIT_REFUSED, main


@pytest.fixture
def emulator_env(ecs_emulator: EcsEmulator, monkeypatch: pytest.MonkeyPatch) -> EcsEmulator:
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.setenv("ECS_ENDPOINT", ecs_emulator.endpoint)
    monkeypatch.setenv("ECS_PROTOCOL", "http")
    return ecs_emulator


def write_event(tmp_path: Path, event: object) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(event))
    return str(path)


def test_done_prints_the_summary_and_exits_0(
    emulator_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = emulator_env.add_instance(status="Running", tags={"env": "dev"})
    code = main(["invoke", "stop", "--event", write_event(tmp_path, {"tags": {"env": "dev"}})])
    out = capsys.readouterr()
    assert code == 0
    summary = json.loads(out.out)
    assert summary["instances"][0]["instance_id"] == instance.instance_id
    assert summary["instances"][0]["outcome"] == "done"
    # The decision log lines go to stderr, one JSON object each, so stdout stays parseable.
    decisions = [json.loads(line) for line in out.err.splitlines() if line.startswith("{")]
    assert any(line.get("event") == "decision" for line in decisions)


def test_failed_instances_still_print_the_summary_and_exit_1(
    emulator_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = emulator_env.add_instance(status="Running", tags={"env": "dev"})
    emulator_env.fail_instance(
        bad.instance_id, operation="StopInstances", code="InstanceLockedForSecurity"
    )
    code = main(["invoke", "stop", "--event", write_event(tmp_path, {"tags": {"env": "dev"}})])
    out = capsys.readouterr()
    assert code == EXIT_FAILED
    assert json.loads(out.out)["counts"]["failed"] == 1
    assert "1 instance(s) failed" in out.err


def test_refused_input_exits_2_with_the_reason_on_stderr(
    emulator_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "invoke",
            "release",
            "--event",
            write_event(tmp_path, {"tags": {"env": "dev"}, "dryrun": False}),
        ]
    )
    out = capsys.readouterr()
    assert code == EXIT_REFUSED
    assert out.out == ""
    assert "dryrun" in out.err
    assert emulator_env.calls == []


def test_event_from_stdin_and_the_default_empty_event(
    emulator_env: EcsEmulator, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    instance = emulator_env.add_instance(status="Stopped", tags={"env": "dev"})
    event = json.dumps({"instance_ids": [instance.instance_id]}).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(event)))
    assert main(["invoke", "release", "--event", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["dry_run"] is True
    # No event at all is `{}`: stop without a selector is refused.
    assert main(["invoke", "stop"]) == EXIT_REFUSED
    assert "selector" in capsys.readouterr().err


def test_unreadable_event_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invoke", "stop", "--event", str(tmp_path / "missing.json")]) == EXIT_REFUSED
    assert "cannot read the event" in capsys.readouterr().err
