"""The standalone emulator and fleet building."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import alibabacloud_ecs20140526.models as ecs
import pytest
from alibabacloud_ecs20140526.client import Client
from alibabacloud_tea_openapi.models import Config

from ecs_emulator import (
    EcsEmulator,
    EmulatorCredentials,
    FakeClock,
    FleetSpec,
    generate_fleet,
    load_fleet_file,
    make_sdk_client,
)
from ecs_emulator.cli import build_emulator, build_parser, main
from ecs_emulator.clock import SystemClock
from tests.support import SAMPLES


def read_until(
    process: subprocess.Popen[str], prefix: str, timeout: float = 15.0
) -> dict[str, str]:
    """Lines printed until one starts with ``prefix``, as KEY=VALUE pairs where they are.

    A reader thread feeds a queue: select() on a buffered text pipe misses lines that Python
    already read ahead.
    """
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: dict[str, str] = {}
    printed: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        printed.append(line)
        key, sep, value = line.strip().removeprefix("export ").partition("=")
        if sep:
            seen[key] = value
        if line.startswith(prefix):
            return seen
    raise AssertionError(f"the emulator never printed {prefix!r}; got {printed}")


def test_standalone_server_prints_its_endpoint_and_serves_the_sdk(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ecs_emulator", "--count", "5", "--fake-clock", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        environment = read_until(process, "export ALIBABA_CLOUD_ACCESS_KEY_SECRET=")
        assert environment["ECS_PROTOCOL"] == "http"
        assert environment["ACTIONTRAIL_ENDPOINT"] == environment["ECS_ENDPOINT"]
        assert environment["ACTIONTRAIL_PROTOCOL"] == "http"
        # Everything the README's next step needs, the region included.
        assert environment["FC_REGION"] == "cn-hangzhou"
        config = Config(
            access_key_id=environment["ALIBABA_CLOUD_ACCESS_KEY_ID"],
            access_key_secret=environment["ALIBABA_CLOUD_ACCESS_KEY_SECRET"],
            endpoint=environment["ECS_ENDPOINT"],
            protocol="http",
            region_id="cn-hangzhou",
            read_timeout=3000,
        )
        body = (
            Client(config)
            .describe_instances(ecs.DescribeInstancesRequest(region_id="cn-hangzhou"))
            .body
        )
        assert body.total_count == 5
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode == 0


def test_no_serve_prints_the_whole_fleet_and_exits(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            [
                "--count",
                "7",
                "--regions",
                "cn-hangzhou,cn-shanghai",
                "--no-serve",
                "--prepaid-share",
                "1",
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.startswith("7 instances")
    assert printed.count("PrePaid") >= 7
    assert "ECS_ENDPOINT" not in printed


def test_the_default_clock_is_real_time_as_the_help_says() -> None:
    # A frozen clock by default left instances Stopping forever and a release waiting 900 s.
    parser = build_parser()
    emulator, _ = build_emulator(parser.parse_args([]))
    assert isinstance(emulator.clock, SystemClock)
    real_clock = next(a for a in parser._actions if "--real-clock" in a.option_strings)
    assert real_clock.help is not None
    assert "(the default)" in real_clock.help
    fake, _ = build_emulator(parser.parse_args(["--fake-clock"]))
    assert isinstance(fake.clock, FakeClock)


def test_every_option_has_help_and_the_usage_names_the_command() -> None:
    parser = build_parser("ecs-lifecycle emulator")
    assert parser.format_usage().startswith("usage: ecs-lifecycle emulator")
    undocumented = [
        action.option_strings
        for action in parser._actions  # argparse has no public list of its actions
        if action.option_strings and not action.help
    ]
    assert undocumented == []


def test_the_default_fleet_is_the_demo_fleet_the_sample_events_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--no-serve"]) == 0
    printed = capsys.readouterr().out
    samples = SAMPLES
    for name in ("manual-stop-ids.json", "eventbridge-ecs-tagresources.json"):
        for instance_id in json.loads((samples / name).read_text()).get("instance_ids", []):
            assert instance_id in printed
    assert "i-bp1dev000000000001" in printed
    # Something of every kind the functions keep: protected, PrePaid, deletion protection.
    assert "protected=true" in printed
    assert "PrePaid" in printed
    assert next(line for line in printed.splitlines() if "dev-guarded" in line).endswith("yes")


def test_a_generated_fleet_holds_instances_to_keep_by_default() -> None:
    _, instances = build_emulator(build_parser().parse_args(["--count", "200"]))
    assert any(i.charge_type == "PrePaid" for i in instances)
    assert any(i.deletion_protection for i in instances)
    assert any(i.tags.get("protected") == "true" for i in instances)
    assert all("owner" in i.tags for i in instances)


def test_fleet_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(
        json.dumps(
            [
                {"region": "cn-hangzhou", "instance_id": "i-dev1", "tags": {"env": "dev"}},
                {
                    "region": "cn-shanghai",
                    "instance_id": "i-prod1",
                    "status": "Stopped",
                    "deletion_protection": True,
                    "auto_release_time": "2026-12-01T00:00:00Z",
                    "disks": [{"disk_type": "system"}, {"size_gib": 100}],
                },
            ]
        )
    )
    specs = load_fleet_file(fleet)
    assert [s.instance_id for s in specs] == ["i-dev1", "i-prod1"]
    assert main(["--fleet", str(fleet), "--no-serve"]) == 0
    assert "i-prod1" in capsys.readouterr().out


@pytest.mark.parametrize(
    "content",
    [
        '{"not": "a list"}',
        '[{"colour": "red"}]',
        '[{"status": "Exploding"}]',
        '[{"auto_release_time": "2026-12-01T00:00"}]',
    ],
)
def test_bad_fleet_files_are_refused(
    tmp_path: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(content)
    assert main(["--fleet", str(fleet), "--no-serve"]) == 2
    assert capsys.readouterr().err.startswith("error: cannot build the fleet")


def test_generated_fleets_are_reproducible_and_follow_the_mix() -> None:
    spec = FleetSpec(
        count=1000,
        regions=("cn-hangzhou", "cn-shanghai"),
        seed=5,
        running_share=0.5,
        prepaid_share=0.1,
        deletion_protected_share=0.2,
        protected_share=0.1,
    )
    fleet = generate_fleet(spec)
    assert fleet == generate_fleet(spec)
    assert fleet != generate_fleet(FleetSpec(count=1000, seed=6))
    assert {s.region for s in fleet} == {"cn-hangzhou", "cn-shanghai"}
    running = sum(s.status == "Running" for s in fleet)
    assert 400 < running < 600
    assert 50 < sum(s.charge_type == "PrePaid" for s in fleet) < 150
    assert not any(s.deletion_protection and s.charge_type == "PrePaid" for s in fleet)
    assert 50 < sum(s.tags.get("protected") == "true" for s in fleet) < 150


def test_ids_are_reproducible_with_the_seed() -> None:
    first = EcsEmulator(seed=11).add_instance().instance_id
    assert EcsEmulator(seed=11).add_instance().instance_id == first
    assert first.startswith("i-bp")
    assert EcsEmulator(seed=11).add_instance(region="cn-shanghai").instance_id.startswith("i-uf")


def test_credentials_never_show_their_secret() -> None:
    credentials = EmulatorCredentials("ak", "top-secret", "token-value")
    assert "top-secret" not in repr(credentials)
    assert "token-value" not in repr(credentials)


def test_emulator_as_a_context_manager_with_the_sdk() -> None:
    with EcsEmulator(clock=FakeClock(), stop_delay=0) as emulator:
        instance = emulator.add_instance()
        client: Any = make_sdk_client(emulator)
        client.stop_instance(ecs.StopInstanceRequest(instance_id=instance.instance_id))
        assert emulator.instances()[0].status == "Stopped"
    assert not emulator.running
