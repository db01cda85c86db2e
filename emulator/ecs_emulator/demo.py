"""`make demo`: the three functions at work on a small demo fleet, through local invoke.

The emulator runs in this process on the real clock (instances stop in two seconds); each step
runs `ecs-lifecycle invoke` in a child process, exactly as a person would, with the shared sample
events, and is printed as soon as it ends: what every function decided, and why, as a table.
The events the demo writes itself are kept in build/demo-events/ to replay by hand against
`ecs-lifecycle emulator`, which serves the same fleet. A step that ends otherwise than expected
(or missing sample events) makes the demo exit 1.

Before the nightly release its notice goes to a chat group (a local stand-in for a WeCom robot,
which answers as WeCom does); an owner copies the keep-until command from it for one instance,
the nightly run keeps that instance, and its report goes to the same group. The messages are
printed as the group shows them: the text, not the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Final

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import SystemClock
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.fleet import InstanceSpec
from ecs_lifecycle.defaults import OWNER_TAG
from ecs_lifecycle.render import Who, render_summary, table, wrap

REPO: Final = Path(__file__).resolve().parents[2]
SAMPLES: Final = REPO / "events"
REPLAY_DIR: Final = REPO / "build" / "demo-events"
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
    (
        "release",
        "timer-nightly-release-notice.json",
        "An hour before the nightly release, its notice timer tells each owner what will happen",
    ),
    ("release", "timer-nightly-release.json", "The nightly timer releases the dev fleet for real"),
]
NOTICE_EVENT: Final = "timer-nightly-release-notice.json"
# The instance whose owner keeps it after reading the notice (dev-sh, alice's).
KEPT_BY_OWNER: Final = _dev(9)
# The steps that report to the chat group: the notice and the nightly run it announces.
NOTIFYING_EVENTS: Final = frozenset({NOTICE_EVENT, "timer-nightly-release.json"})
# Events the demo writes itself (kept in REPLAY_DIR) rather than taking from events/.
DEMO_EVENTS: Final[dict[str, dict[str, Any]]] = {
    "manual-release-snapshot.json": {
        "instance_ids": [_dev(4)],
        "dry_run": False,
        "snapshot": True,
    },
}
# The nightly timer's payload, plus the notice, as s.yaml's notice timer sends it; its trigger
# time is written when the demo runs, an hour before the nightly run it announces.
NOTICE_PAYLOAD: Final = '{"tags":{"env":"dev"},"dry_run":false,"notice":"1h"}'
EXIT_STEP_FAILED: Final = 1
CHILD_TIMEOUT_SECONDS: Final = 300


class ChatGroup:
    """A local stand-in for a WeCom group robot: keeps each message's markdown, answers `ok`.

    It answers as WeCom does (HTTP 200, `{"errcode": 0, "errmsg": "ok"}`), so the functions
    deliver to it exactly as to the real robot; the demo prints what the group would show.
    """

    PATH: Final = "/cgi-bin/webhook/send"

    def __init__(self) -> None:
        self.messages: list[str] = []
        group = self

        class Robot(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                group.messages.append(json.loads(body)["markdown"]["content"])
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the demo prints the messages themselves."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def notify_urls(self) -> str:
        # A loopback robot: the only place NOTIFY_URLS takes plain http. The key is made up.
        return f"wecom=http://127.0.0.1:{self._server.server_port}{self.PATH}?key=demo-group"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def as_chat(markdown: str) -> list[str]:
    """A message as the chat group shows it: the markdown marks rendered away."""
    lines = []
    for line in markdown.splitlines():
        plain = re.sub(r"^#+ ", "", line)
        lines.append(plain.replace("**", "").replace("`", ""))
    return lines


def _chat_lines(markdown: str, width: int) -> list[str]:
    shown = ["  +-- the dev team's chat group, from the ecs-lifecycle robot"]
    for line in as_chat(markdown):
        indent = "  | " + " " * (len(line) - len(line.lstrip()))
        shown += wrap(line.strip(), width, initial_indent=indent, subsequent_indent=indent + "  ")
        if not line.strip():
            shown.append("  |")
    return [*shown, "  +--"]


def keep_command(message: str, instance_id: str) -> list[str]:
    """The copy-and-paste command a notice gives for `instance_id`, as words."""
    for line in as_chat(message):
        words = shlex.split(line.strip()) if "TagResources" in line else []
        if words[:3] == ["aliyun", "ecs", "TagResources"] and instance_id in words:
            return words
    raise LookupError(f"the notice gives no keep command for {instance_id}")


def _owner_keeps(emulator: EcsEmulator, message: str, width: int) -> None:
    """The owner runs the notice's command; the demo makes the same TagResources change."""
    words = keep_command(message, KEPT_BY_OWNER)
    tag = dict(zip(words[1::2], words[2::2], strict=False))
    key, value = tag["--Tag.1.Key"], tag["--Tag.1.Value"]
    view = emulator.instance(KEPT_BY_OWNER)
    assert view is not None  # noqa: S101 - the demo fleet has it
    emulator.update_instance(KEPT_BY_OWNER, tags={**view.tags, key: value})
    _say(
        *wrap(
            f"{view.tags.get(OWNER_TAG, 'The owner')} needs {view.name} another day, and pastes "
            "the notice's command (the demo makes the same tag change in the emulator):",
            width,
        ),
        *wrap(" ".join(words), width, initial_indent="    ", subsequent_indent="      "),
    )


def _notice_timer(now: datetime) -> dict[str, Any]:
    """The notice timer firing now, for a nightly run an hour from now (run at once here)."""
    fired = now.astimezone(timezone.utc).replace(second=0, microsecond=0)
    return {
        "triggerTime": fired.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "triggerName": "nightly-release-notice",
        "payload": NOTICE_PAYLOAD,
    }


def _chat_after(new: list[str], event_name: str, emulator: EcsEmulator, width: int) -> bool:
    """Show what the step sent to the chat group; after the notice, an owner acts on it.

    False when the notice step sent no notice (the demo then stops).
    """
    for message in new:
        _say("", *_chat_lines(message, width))
    if event_name != NOTICE_EVENT:
        return True
    if not new:
        return False
    _say("")
    _owner_keeps(emulator, new[-1], width)
    return True


def _who(emulator: EcsEmulator) -> dict[str, Who]:
    return {
        view.instance_id: Who(view.name, view.tags.get(OWNER_TAG, ""))
        for view in emulator.instances()
    }


def _fleet_table(emulator: EcsEmulator, width: int) -> list[str]:
    rows = [("INSTANCE", "NAME", "REGION", "STATUS", "CHARGE", "DEL.PROT", "AUTO-RELEASE", "TAGS")]
    for view in sorted(emulator.instances(), key=lambda v: v.instance_id):
        release = (
            view.auto_release_time.strftime("%Y-%m-%dT%H:%MZ") if view.auto_release_time else "-"
        )
        rows.append(
            (
                view.instance_id,
                view.name,
                view.region,
                view.status,
                view.charge_type,
                "yes" if view.deletion_protection else "no",
                release,
                ",".join(f"{k}={v}" for k, v in sorted(view.tags.items())),
            )
        )
    return table(rows, width)


def _invoke(
    function: str, event_file: Path, env: dict[str, str]
) -> tuple[int, dict[str, Any] | None, str]:
    completed = subprocess.run(  # noqa: S603 - our own CLI, with our own arguments
        [
            sys.executable,
            "-m",
            "ecs_lifecycle.cli",
            "invoke",
            function,
            "--format",
            "json",
            "--event",
            str(event_file),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=CHILD_TIMEOUT_SECONDS,
    )
    summary = json.loads(completed.stdout) if completed.stdout.strip() else None
    problems = [line for line in completed.stderr.splitlines() if not line.startswith("{")]
    return completed.returncode, summary, "\n".join(problems)


def survivors(
    emulator: EcsEmulator, last_run: dict[str, Any], selector: str
) -> list[tuple[str, str]]:
    """Why each instance still alive after the last run survived it: (instance id, why)."""
    results = {entry["instance_id"]: entry for entry in last_run["instances"]}
    regions = list(last_run["regions"])
    reasons = []
    for view in sorted(emulator.instances(), key=lambda v: v.instance_id):
        entry = results.get(view.instance_id)
        if entry is not None:
            why = f"{entry['outcome']}: {entry['reason']}"
        elif view.region not in regions:
            why = (
                f"in {view.region}, and the nightly run covers {', '.join(regions)} only "
                "(TARGET_REGIONS, or else its FC_REGION, fences every run)"
            )
        else:
            why = f"does not match the nightly run's selector ({selector})"
        reasons.append((view.instance_id, why))
    return reasons


def _missing_events(samples: Path) -> list[Path]:
    return [
        samples / name
        for _, name, _ in STEPS
        if name not in DEMO_EVENTS and name != NOTICE_EVENT and not (samples / name).is_file()
    ]


def _say(*lines: str) -> None:
    """Print now: each step shows as soon as it ends, not all at the end."""
    print("\n".join(lines), flush=True)  # noqa: T201 - the demo's output is for a person


def _shown_path(path: Path) -> str:
    """The path as a command run from the current directory (the repository root) needs it."""
    relative = os.path.relpath(path, Path.cwd())
    return relative if len(relative) < len(str(path)) else str(path)


def _child_env(emulator: EcsEmulator, credentials: EmulatorCredentials) -> dict[str, str]:
    """The environment each step's command runs in: this emulator, its fake keys, no NOTIFY_*."""
    env = {
        **os.environ,
        "FC_REGION": HANGZHOU,
        # The functions act in both regions (the fence); a timer without regions covers both.
        "TARGET_REGIONS": f"{HANGZHOU},{SHANGHAI}",
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        # ActionTrail too (the tag records that anchor a notice, a release's stop records): left
        # unset, a step would ask Alibaba's public endpoint with the demo's fake keys.
        "ACTIONTRAIL_ENDPOINT": emulator.endpoint,
        "ACTIONTRAIL_PROTOCOL": "http",
        "ECS_POLL_SECONDS": "1",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        # The fleet's zone: the notice's times and its keep-until value are in it.
        "TIME_ZONE": "Asia/Shanghai",
    }
    env.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)
    for name in ("NOTIFY_URLS", "NOTIFY_DINGTALK_SECRET", "NOTIFY_FEISHU_SECRET", "NOTIFY_ON"):
        env.pop(name, None)  # the demo's chat group only, whatever the shell has set
    return env


def _afterwards(
    emulator: EcsEmulator,
    last_run: dict[str, Any] | None,
    samples: Path,
    known: dict[str, Who],
    width: int,
) -> None:
    """The fleet after every step, the snapshots kept, and why each survivor survived."""
    _say("", "The fleet afterwards:", *_fleet_table(emulator, width))
    released = ", ".join(sorted(emulator.released_ids)) or "none"
    _say("", *wrap(f"Released: {released}", width))
    snapshots = [
        f"{s.snapshot_id} ({s.status}) of {s.disk_id}, taken from {s.instance_id}"
        for s in emulator.snapshots()
    ]
    _say("Snapshots kept to restore from:", *(f"  {line}" for line in snapshots or ["none"]))
    if last_run is not None:
        nightly = json.loads(json.loads((samples / STEPS[-1][1]).read_text())["payload"])
        selector = ",".join(f"{k}={v}" for k, v in nightly.get("tags", {}).items())
        _say("", "Why each instance survived the nightly run:")
        for instance_id, why in survivors(emulator, last_run, selector):
            _say(
                *wrap(
                    f"{instance_id} ({known[instance_id].name}): {why}",
                    width,
                    initial_indent="  ",
                    subsequent_indent="      ",
                )
            )


FANOUT_COMMAND: Final = ("ecs-lifecycle", "fanout")


def fanout_section(width: int) -> int:
    """The last section: the hub's fan-out over three accounts, each with its own fleet and
    spoke role (`ecs-lifecycle fanout`, ecs_emulator.fanout_demo), run as a person would, its
    lines streamed. Returns the demo's exit code: 0, or EXIT_STEP_FAILED if a target failed."""
    _say(
        "",
        *wrap(
            "[fan-out] Many accounts: the hub (ecs-fanout) reads a Resource Directory folder and "
            "queues one FC async task per account and region; FC runs the stop worker in each "
            "member account on its spoke role (AssumeRole through the emulator's STS), against "
            "that account's own fleet. A table per account and region:",
            width,
        ),
        f"  $ {' '.join(FANOUT_COMMAND)}",
    )
    env = {**os.environ, "COLUMNS": str(width)}
    process = subprocess.Popen(  # noqa: S603 - our own CLI, with our own arguments
        [sys.executable, "-m", "ecs_emulator.devcli", *FANOUT_COMMAND[1:]],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None  # noqa: S101 - stdout=PIPE
    for line in process.stdout:
        _say(line.rstrip("\n"))
    code = process.wait(timeout=CHILD_TIMEOUT_SECONDS)
    if code != 0:
        _say(f"demo: the fan-out ended with exit code {code}, not 0")
        return EXIT_STEP_FAILED
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ecs-lifecycle demo", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--events",
        type=Path,
        default=SAMPLES,
        help="the sample events (default: the repository's events/)",
    )
    parser.add_argument(
        "--keep-events",
        type=Path,
        default=REPLAY_DIR,
        help="where the events the demo writes are kept to replay (default build/demo-events)",
    )
    options = parser.parse_args(argv)
    samples: Path = options.events
    missing = _missing_events(samples)
    if missing:
        sys.stderr.write(
            f"demo: sample events missing: {', '.join(str(p) for p in missing)}; the demo reads "
            f"them from {SAMPLES} (the repository's events/) or --events DIR\n"
        )
        return EXIT_STEP_FAILED
    kept: Path = options.keep_events
    kept.mkdir(parents=True, exist_ok=True)
    written = {**DEMO_EVENTS, NOTICE_EVENT: _notice_timer(datetime.now(timezone.utc))}
    for name, content in written.items():
        (kept / name).write_text(json.dumps(content) + "\n")
    width = shutil.get_terminal_size().columns
    credentials = EmulatorCredentials.default()
    emulator = EcsEmulator(
        credentials=credentials, clock=SystemClock(), stop_delay=2.0, snapshot_duration=3.0
    ).start()
    chat = ChatGroup()
    try:
        seed_fleet(emulator)
        known = _who(emulator)
        env = _child_env(emulator, credentials)
        _say(
            *wrap(
                f"ECS emulator at http://{emulator.endpoint} (fake credentials; nothing real is "
                f"touched), FC_REGION={HANGZHOU}, TARGET_REGIONS={HANGZHOU},{SHANGHAI}. Each step "
                "runs the command shown, from the "
                "repository root. To replay one by hand: `ecs-lifecycle emulator` serves this "
                "same fleet; export the lines it prints, `. .venv/bin/activate` (or call "
                ".venv/bin/ecs-lifecycle), then run the command.",
                width,
            ),
            "",
            "The demo fleet:",
            *_fleet_table(emulator, width),
        )
        last_run: dict[str, Any] | None = None
        for number, (function, event_name, story) in enumerate(STEPS, start=1):
            folder = kept if event_name in written else samples
            event_file = folder / event_name
            shown = [f"  $ ecs-lifecycle invoke {function} --event {_shown_path(event_file)}"]
            if event_name in written:
                text = json.dumps(written[event_name])
                shown += wrap(f"(the demo wrote it: {text})", width, initial_indent="    ")
            _say("", *wrap(f"[{number}] {story}", width), *shown)
            step_env = (
                {**env, "NOTIFY_URLS": chat.notify_urls} if event_name in NOTIFYING_EVENTS else env
            )
            heard = len(chat.messages)
            code, summary, problems = _invoke(function, event_file, step_env)
            lines = render_summary(summary, known, width) if summary is not None else []
            _say(*lines, *([problems] if problems else []))
            if code != 0 or summary is None:
                _say(f"demo: step {number} ended with exit code {code}, not 0: stopping here")
                return EXIT_STEP_FAILED
            if not _chat_after(chat.messages[heard:], event_name, emulator, width):
                _say(f"demo: step {number} sent no notice to the chat group: stopping here")
                return EXIT_STEP_FAILED
            last_run = summary
        _afterwards(emulator, last_run, samples, known, width)
        _say(
            "",
            *wrap(f"The events the demo wrote are kept to replay in {_shown_path(kept)}/", width),
        )
    finally:
        chat.stop()
        emulator.stop()
    return fanout_section(width)
