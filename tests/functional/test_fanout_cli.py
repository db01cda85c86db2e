"""`ecs-lifecycle fanout` and the demo's fan-out section: the hub's fan-out on the emulator, each
member account with its own fleet and spoke role, printed per account and region."""

from __future__ import annotations

import re

import pytest

from ecs_emulator.demo import fanout_section
from ecs_emulator.devcli import main

ACCOUNTS = ("2000000000000001", "2000000000000002", "2000000000000003")
REGIONS = ("cn-hangzhou", "cn-shanghai")


def sections(text: str) -> dict[tuple[str, str], str]:
    """Each target's table, by (account, region), from its heading to the next blank line."""
    found = re.findall(r"^account (\d{16}), (cn-[a-z]+): (.*?)(?:\n\n|\Z)", text, re.M | re.S)
    return {(account, region): body for account, region, body in found}


def test_the_fanout_command_runs_every_target_and_prints_a_row_per_account_and_region(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fanout", "--accounts", "2"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert '"dispatched": 4' in lines[0]
    assert '"skipped": 2' in lines[0]
    rows = [line for line in lines if line.startswith("200000000000000")]
    assert len(rows) == 4  # 2 accounts x 2 regions
    for account in ACCOUNTS[:2]:
        for region in REGIONS:
            assert any(account in row and region in row for row in rows)
    assert "status PromoteVerifying" in text
    assert "management account" in text


def test_each_account_and_region_gets_its_own_table_of_its_own_fleet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["fanout"]) == 0
    tables = sections(capsys.readouterr().out)
    assert set(tables) == {(a, r) for a in ACCOUNTS for r in REGIONS}
    for number, account in enumerate(ACCOUNTS, start=1):
        for region in REGIONS:
            body = tables[(account, region)]
            assert body.startswith("ecs-stop Succeeded")
            assert f"in {region}" in body
            # Account N's own fleet: N dev instances stopped, its protected one kept; no other
            # account's instance and none outside the tag fence (prod) in its table.
            assert f"=> {number} done, 1 skipped" in body
            names = set(re.findall(r"\ba(\d)-[a-z]{2}-(?:web\d|keep|prod)\b", body))
            assert names == {str(number)}
            assert f"a{number}-{region[3:5]}-keep" in body
            assert "-prod" not in body


def test_the_demo_ends_with_the_fanout_section(capsys: pytest.CaptureFixture[str]) -> None:
    assert fanout_section(100) == 0
    text = capsys.readouterr().out
    assert "  $ ecs-lifecycle fanout" in text
    assert '"dispatched": 6' in text
    assert set(sections(text)) == {(a, r) for a in ACCOUNTS for r in REGIONS}
    assert all(len(line) <= 100 for line in text.splitlines() if not line.startswith("  $ "))
