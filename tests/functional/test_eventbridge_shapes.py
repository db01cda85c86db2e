"""Events as Alibaba Cloud actually sends them, through the auto-release handler and the CLI.

Hostile JSON: deeply nested or huge, anywhere in an event, is a refusal, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.cli import EXIT_REFUSED, main
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import Function
from tests.hostile_json import DEEP_OR_HUGE
from tests.support import Runner

AUTO = Function.AUTO_RELEASE


@pytest.mark.parametrize("name", list(DEEP_OR_HUGE))
def test_deep_or_huge_json_is_refused_by_the_handler_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator, name: str
) -> None:
    raw, field, message = DEEP_OR_HUGE[name]
    ecs_emulator.add_instance(status="Running", tags={"env": "dev", "auto-release": "1h"})
    with pytest.raises(InvalidInputError) as refused:
        run(AUTO, raw.encode())
    assert (refused.value.field, message in refused.value.problem) == (field, True)
    assert ecs_emulator.calls == []


@pytest.fixture
def cli_env(ecs_emulator: EcsEmulator, monkeypatch: pytest.MonkeyPatch) -> EcsEmulator:
    monkeypatch.setenv("FC_REGION", "cn-hangzhou")
    monkeypatch.setenv("ECS_ENDPOINT", ecs_emulator.endpoint)
    monkeypatch.setenv("ECS_PROTOCOL", "http")
    return ecs_emulator


@pytest.mark.parametrize("name", list(DEEP_OR_HUGE))
def test_the_cli_refuses_deep_or_huge_json_with_exit_2(
    cli_env: EcsEmulator, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    raw, _, message = DEEP_OR_HUGE[name]
    path = tmp_path / "event.json"
    path.write_text(raw)
    code = main(["invoke", "auto-release", "--event", str(path)])
    out = capsys.readouterr()
    assert code == EXIT_REFUSED
    assert out.out == ""
    assert "refused: " in out.err
    assert message in out.err
    assert "Traceback" not in out.err
    assert cli_env.calls == []
