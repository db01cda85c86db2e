"""A long run shows itself: each decision is logged as it is carried out, once, and a waiting
release reports its progress, spaced on the run's clock (the emulator's fake clock: no sleeping).
"""

from __future__ import annotations

import json
import logging
import re
import signal
from collections.abc import Iterator
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import main, make_context
from ecs_lifecycle.ecs import make_gateway
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.execute import PROGRESS_EVERY_SECONDS
from ecs_lifecycle.handler import Services, handle
from ecs_lifecycle.model import Function
from tests.support import Runner, by_id

DEV = {"env": "dev"}
RELEASE = {"tags": DEV, "dry_run": False}


class _Lines(logging.Handler):
    """Every JSON line the package logs, parsed, in order."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(record.getMessage()))

    def of(self, event: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["event"] == event]


@pytest.fixture
def logged() -> Iterator[_Lines]:
    # On the package's logger itself: the CLI (run in-process by other tests) stops propagation.
    logger = logging.getLogger("ecs_lifecycle")
    lines = _Lines()
    level = logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)


def release_polling_every(
    emulator: EcsEmulator, seconds: int, event: dict[str, Any], **env: str
) -> dict[str, Any]:
    """The release handler, polling every `seconds` of the emulator's clock."""
    environ = {
        "FC_REGION": "cn-hangzhou",
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "ECS_POLL_SECONDS": str(seconds),
        **env,
    }
    services = Services(clock=emulator.clock, environ=environ, gateway_factory=make_gateway)
    context = make_context(Function.RELEASE, environ)
    return handle(Function.RELEASE, json.dumps(event), context, services)


def test_each_decision_is_logged_once_as_it_is_carried_out(
    run: Runner, ecs_emulator: EcsEmulator, logged: _Lines
) -> None:
    stuck = ecs_emulator.add_instance(status="Running", tags=DEV)
    others = [ecs_emulator.add_instance(status="Running", tags=DEV) for _ in range(3)]
    kept = ecs_emulator.add_instance(status="Stopped", tags={**DEV, "protected": "true"})
    # `stuck` never stops, so the run waits for it until its deadline; the others are released
    # within the first minute.
    ecs_emulator.on_call(
        "StopInstances", lambda: ecs_emulator.update_instance(stuck.instance_id, status="Stopping")
    )
    with pytest.raises(RunFailedError) as failure:
        run(Function.RELEASE, RELEASE, FC_TIMEOUT="600")
    summary = failure.value.summary

    decisions = logged.of("decision")
    # One line per instance, exactly the summary's entry: not again at the end.
    assert sorted(line["instance_id"] for line in decisions) == sorted(by_id(summary))
    for line in decisions:
        entry = {k: v for k, v in line.items() if k not in ("event", "function", "dry_run")}
        del entry["trigger"]
        assert entry == by_id(summary)[line["instance_id"]]
    order = [line["instance_id"] for line in decisions]
    # The kept one is logged before any ECS change; the released ones while `stuck` still waits.
    assert order[0] == kept.instance_id
    assert order[-1] == stuck.instance_id
    first_progress = logged.lines.index(logged.of("progress")[0])
    last_progress = logged.lines.index(logged.of("progress")[-1])
    released_at = [logged.lines.index(line) for line in decisions[1:-1]]
    assert {line["instance_id"] for line in decisions[1:-1]} == {o.instance_id for o in others}
    assert all(first_progress <= at < last_progress for at in released_at)
    assert logged.lines[-1]["event"] == "summary"


def test_a_waiting_release_reports_its_progress_every_few_seconds(
    ecs_emulator: EcsEmulator, logged: _Lines
) -> None:
    ecs_emulator.settings.stop_delay = 60
    ecs_emulator.settings.snapshot_duration = 30
    for _ in range(4):
        ecs_emulator.add_instance(status="Running", tags=DEV)
    gone_at_once = ecs_emulator.add_instance(status="Stopped", tags=DEV)

    # Polls every second of the run's clock: faster than progress is reported.
    summary = release_polling_every(ecs_emulator, 1, {**RELEASE, "snapshot": True})
    assert summary["counts"]["done"] == 5

    progress = logged.of("progress")
    polls = len(ecs_emulator.calls_to("DescribeSnapshots"))
    assert polls > 60  # one a second while the stops and the snapshots take their time
    moments = [datetime.fromisoformat(line["at"]) for line in progress]
    gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(moments)]
    assert all(gap >= PROGRESS_EVERY_SECONDS for gap in gaps), gaps
    assert len(progress) >= polls / PROGRESS_EVERY_SECONDS - 2
    first, last = progress[0], progress[-1]
    assert first["function"] == "release"
    assert first["instances"] == 5
    # The Stopped one was snapshotted at once; the four Running ones are stopping.
    assert (first["stopping"], first["stopped"], first["released"]) == (4, 0, 0)
    assert first["snapshots"] == 1  # one disk each
    assert (last["stopping"], last["stopped"]) == (0, 4)
    assert last["snapshots"] == 5
    assert last["snapshots_accomplished"] >= 1
    assert 0 < last["released"] <= 5
    counts = [line["released"] for line in progress]
    assert counts == sorted(counts)
    assert {line["instance_id"] for line in logged.of("decision")} >= {gone_at_once.instance_id}


def test_a_run_that_waits_for_nothing_reports_no_progress(
    run: Runner, ecs_emulator: EcsEmulator, logged: _Lines
) -> None:
    for _ in range(3):
        ecs_emulator.add_instance(status="Stopped", tags={**DEV, "set": "a"})
    for _ in range(2):
        ecs_emulator.add_instance(status="Running", tags={**DEV, "set": "b"})
    run(Function.RELEASE, {**RELEASE, "tags": {**DEV, "set": "a"}})
    run(Function.STOP, {"tags": {**DEV, "set": "b"}})
    assert logged.of("progress") == []
    assert len(logged.of("decision")) == 5
    assert [line["event"] for line in logged.lines].count("summary") == 2


@pytest.mark.parametrize("output_format", ["table", "json"])
def test_the_cli_shows_progress_in_words_in_the_table_format_and_as_json_otherwise(
    ecs_emulator: EcsEmulator,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    output_format: str,
) -> None:
    ecs_emulator.settings.stop_delay = 0  # Stopped by the first poll (the CLI waits in real time)
    for _ in range(2):
        ecs_emulator.add_instance(status="Running", tags=DEV)
    for name, value in {
        "FC_REGION": "cn-hangzhou",
        "ECS_ENDPOINT": ecs_emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "ECS_POLL_SECONDS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    event = tmp_path / "event.json"
    event.write_text(json.dumps(RELEASE))
    previous_handler = signal.getsignal(signal.SIGINT)

    code = main(["invoke", "release", "--event", str(event), "--format", output_format])

    assert code == 0
    err = capsys.readouterr().err.splitlines()
    as_json = [json.loads(line) for line in err if line.startswith("{")]
    if output_format == "table":
        assert re.fullmatch(
            r"\d\d:\d\d:\d\d release of 2: 0 stopping, 2 stopped, 2 released", err[-1]
        ), err
        assert [line for line in as_json if line["event"] == "progress"] == []
    else:
        progress = [line for line in as_json if line["event"] == "progress"]
        assert [(p["stopped"], p["released"]) for p in progress] == [(2, 2)]
    # The CLI's Ctrl-C handler is the run's only: Python's is back once it ends.
    assert signal.getsignal(signal.SIGINT) is previous_handler
