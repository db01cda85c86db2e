"""The README's by-hand flow, as a newcomer runs it: `ecs-lifecycle emulator` in one shell, the
lines it prints exported in another, then `ecs-lifecycle invoke` with a sample event."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.support import REPO, SAMPLES

# Only what a fresh shell has: no ECS or FC settings, no keys but those the emulator prints.
_KEPT = ("PATH", "HOME", "LANG", "SYSTEMROOT", "PYTHONPATH", "VIRTUAL_ENV")


def _exports(process: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, str]:
    """The `export KEY=VALUE` lines the emulator prints, read until its fleet table starts."""
    stdout = process.stdout
    assert stdout is not None
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:  # a thread: select() on a buffered text pipe misses read-ahead lines
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").strip().partition("=")
            exports[key] = value
        elif line.startswith("INSTANCE"):
            return exports
    raise AssertionError(f"the emulator printed no fleet table; exports so far: {exports}")


def test_the_by_hand_flow_runs_as_the_readme_shows(tmp_path: Path) -> None:
    emulator = subprocess.Popen(
        [sys.executable, "-m", "ecs_emulator.devcli", "emulator", "--stop-delay", "1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        exports = _exports(emulator)
        # Everything the next step needs, the region included.
        assert {"FC_REGION", "ECS_ENDPOINT", "ECS_PROTOCOL"} <= set(exports)
        shell = {name: os.environ[name] for name in _KEPT if name in os.environ}
        env = {
            **shell,
            **exports,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
            "ECS_POLL_SECONDS": "1",
        }

        def invoke(event: Path) -> subprocess.CompletedProcess[str]:
            command = [sys.executable, "-m", "ecs_lifecycle.cli", "invoke", "release"]
            return subprocess.run(  # noqa: S603 - our own CLI
                [*command, "--format", "json", "--event", str(event)],
                cwd=REPO,
                env=env,
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
            )

        dry = invoke(SAMPLES / "manual-release-dry-run.json")
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["counts"]["planned"] > 0
        # A real release of a Running instance of the demo fleet that carries no lifetime tag: on
        # the emulator's real clock it stops, then is released, well within the time limit.
        event = tmp_path / "release.json"
        event.write_text(json.dumps({"instance_ids": ["i-bp1dev000000000002"], "dry_run": False}))
        real = invoke(event)
        assert real.returncode == 0, real.stderr
        (entry,) = json.loads(real.stdout)["instances"]
        assert entry["outcome"] == "done"
        assert entry["reason"].startswith("released")
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)
    assert emulator.returncode == 0
