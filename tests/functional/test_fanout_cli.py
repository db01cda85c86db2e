"""`ecs-lifecycle fanout`: the hub's fan-out on the emulator, printed per account and region."""

from __future__ import annotations

import pytest

from ecs_emulator.devcli import main


def test_the_fanout_command_runs_every_target_and_prints_a_row_per_account_and_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fanout", "--accounts", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert '"dispatched": 4' in lines[0]
    assert '"skipped": 2' in lines[0]
    rows = [line for line in lines if line.startswith("200000000000000")]
    assert len(rows) == 4  # 2 accounts x 2 regions
    for account in ("2000000000000001", "2000000000000002"):
        for region in ("cn-hangzhou", "cn-shanghai"):
            assert any(account in row and region in row for row in rows)
    text = "\n".join(lines)
    assert "status PromoteVerifying" in text
    assert "management account" in text
    assert text.count("Succeeded: done 1") == 2  # the first account in each region stops its dev
