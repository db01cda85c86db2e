"""`make demo`: the three functions at work on a small demo fleet, through local invoke.

The emulator runs in this process on the real clock (instances stop in two seconds); each step
runs `ecs-lifecycle invoke` in a child process, exactly as a person would, with the shared sample
events. What every function decided, and why, is printed as a table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import SystemClock
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.fleet import InstanceSpec

SAMPLES: Final = Path(__file__).resolve().parents[3] / "shared" / "events"
HANGZHOU: Final = "cn-hangzhou"
SHANGHAI: Final = "cn-shanghai"


def _dev(number: int) -> str:
    """Demo ids match the ids in the shared sample events."""
    return f"i-bp1dev{number:012d}"


OWNERS: Final = ("alice", "bob", "carol")


def demo_fleet(now: datetime) -> list[InstanceSpec]:
    """The demo fleet: one instance for each rule the functions follow, and a prod twin.

    Its ids are the ids in the shared sample events, so those events act on it as written; the
    standalone emulator serves this fleet when given no --fleet or --count.
    """

    def dev(number: int, name: str, region: str = HANGZHOU, **fields: Any) -> InstanceSpec:
        tags = {"env": "dev", "owner": OWNERS[number % len(OWNERS)], **fields.pop("tags", {})}
        return InstanceSpec(region=region, instance_id=_dev(number), name=name, tags=tags, **fields)

    return [
        dev(
            1,
            "dev-api",
            status="Running",
            tags={"auto-release": "72h"},
            creation_time=now - timedelta(hours=2),
        ),
        dev(2, "dev-worker", status="Running", auto_release_time=now + timedelta(days=2)),
        dev(3, "dev-db", status="Running", tags={"auto-release": "2026-12-24T18:00:00+08:00"}),
        dev(4, "dev-old", status="Stopped", disks=2),
        dev(5, "dev-keep", status="Stopped", tags={"protected": "true"}),
        dev(6, "dev-guarded", status="Stopped", deletion_protection=True),
        dev(7, "dev-prepaid", status="Running", charge_type="PrePaid"),
        dev(8, "dev-typo", status="Running", tags={"auto-release": "soonish"}),
        dev(9, "dev-sh", region=SHANGHAI, status="Stopped"),
        InstanceSpec(
            region=HANGZHOU,
            instance_id="i-bp1prod00000000001",
            status="Running",
            tags={"env": "prod", "owner": "ops"},
            name="prod-api",
        ),
    ]


def seed_fleet(emulator: EcsEmulator) -> None:
    emulator.add_fleet(demo_fleet(emulator.clock.now()))


STEPS: Final = [
    ("stop", "manual-stop-ids.json", "An operator stops two dev instances by id"),
    (
        "auto-release",
        "eventbridge-ecs-tagresources.json",
        "Someone tags i-...001 auto-release=72h: EventBridge calls auto-release",
    ),
    (
        "auto-release",
        "eventbridge-ecs-untagresources.json",
        "Someone removes the auto-release tag from i-...002: its auto-release is cancelled",
    ),
    (
        "auto-release",
        "eventbridge-ecs-instance-statechange.json",
        "i-...003 starts: its tag (a time with a zone) is applied",
    ),
    (
        "auto-release",
        "timer-empty-payload.json",
        "The hourly reconcile timer: every instance carrying the auto-release tag",
    ),
    (
        "release",
        "manual-release-dry-run.json",
        "A dry run of the release, in two regions: nothing changes",
    ),
    (
        "release",
        "manual-release-snapshot.json",
        "An operator releases i-...004 but keeps its data: both disks are snapshotted first",
    ),
    ("release", "timer-nightly-release.json", "The nightly timer releases the dev fleet for real"),
]
# Events the demo writes itself (to a temporary directory) rather than taking from shared/events.
DEMO_EVENTS: Final[dict[str, dict[str, Any]]] = {
    "manual-release-snapshot.json": {
        "instance_ids": [_dev(4)],
        "dry_run": False,
        "snapshot": True,
    },
}


def _fleet_table(emulator: EcsEmulator) -> str:
    rows = [("instance", "region", "name", "status", "charge", "auto-release", "tags")]
    for view in sorted(emulator.instances(), key=lambda v: v.instance_id):
        release = (
            view.auto_release_time.strftime("%Y-%m-%dT%H:%MZ") if view.auto_release_time else "-"
        )
        tags = ",".join(f"{k}={v}" for k, v in sorted(view.tags.items()))
        protection = " (deletion protection)" if view.deletion_protection else ""
        rows.append(
            (
                view.instance_id,
                view.region,
                view.name,
                view.status,
                view.charge_type + protection,
                release,
                tags,
            )
        )
    return _table(rows)


def _table(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _invoke(
    function: str, event_file: Path, env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, str]:
    completed = subprocess.run(  # noqa: S603 - our own CLI, with our own arguments
        [sys.executable, "-m", "ecs_lifecycle.cli", "invoke", function, "--event", str(event_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=300,
    )
    summary = json.loads(completed.stdout) if completed.stdout.strip() else None
    problems = [line for line in completed.stderr.splitlines() if not line.startswith("{")]
    return completed.returncode, summary, "\n".join(problems)


def _show(out: list[str], summary: dict[str, Any]) -> None:
    rows = [("instance", "action", "outcome", "reason")]
    rows += [
        (
            e["instance_id"],
            e["action"],
            e["outcome"],
            e["reason"]
            + (f" [snapshots: {', '.join(e['snapshot_ids'])}]" if e.get("snapshot_ids") else ""),
        )
        for e in summary["instances"]
    ]
    if len(rows) > 1:
        out.append(_table(rows))
    out.extend(f"note: {note}" for note in summary.get("notes", []))
    counts = ", ".join(f"{name} {count}" for name, count in summary["counts"].items() if count)
    out.append(f"=> {counts or 'nothing to do'}{' (dry run)' if summary['dry_run'] else ''}")


def main(argv: list[str] | None = None) -> int:
    del argv
    credentials = EmulatorCredentials.default()
    emulator = EcsEmulator(
        credentials=credentials, clock=SystemClock(), stop_delay=2.0, snapshot_duration=3.0
    ).start()
    own_events = tempfile.TemporaryDirectory(prefix="ecs-lifecycle-demo-")
    try:
        seed_fleet(emulator)
        for name, content in DEMO_EVENTS.items():
            (Path(own_events.name) / name).write_text(json.dumps(content))
        env = {
            **os.environ,
            "FC_REGION": HANGZHOU,
            "ECS_ENDPOINT": emulator.endpoint,
            "ECS_PROTOCOL": "http",
            "ECS_POLL_SECONDS": "1",
            "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        }
        env.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)
        out = [
            f"ECS emulator at http://{emulator.endpoint}"
            " (fake credentials; nothing real is touched)",
            "",
            "The demo fleet:",
            _fleet_table(emulator),
        ]
        for number, (function, event_name, story) in enumerate(STEPS, start=1):
            if event_name in DEMO_EVENTS:
                event_file = Path(own_events.name) / event_name
                shown = f"{event_file}  # {json.dumps(DEMO_EVENTS[event_name])}"
            else:
                event_file = SAMPLES / event_name
                shown = f"shared/events/{event_name}"
            out += [
                "",
                f"[{number}] {story}",
                f"    $ ecs-lifecycle invoke {function} --event {shown}",
            ]
            code, summary, problems = _invoke(function, event_file, env)
            if summary is not None:
                _show(out, summary)
            if problems:
                out.append(problems)
            out.append(f"(exit code {code})")
        out += ["", "The fleet afterwards:", _fleet_table(emulator)]
        released = ", ".join(sorted(emulator.released_ids)) or "none"
        out += ["", f"Released: {released}"]
        snapshots = [
            f"{s.snapshot_id} ({s.status}) of {s.disk_id}, taken from {s.instance_id}"
            for s in emulator.snapshots()
        ]
        out += ["Snapshots kept to restore from:", *(f"  {line}" for line in snapshots or ["none"])]
        print("\n".join(out))  # noqa: T201 - the demo's output is for a person
    finally:
        emulator.stop()
        own_events.cleanup()
    return 0
