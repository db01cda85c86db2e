"""The secret scanner, part of `make test`: detect-secrets over every tracked file.

The emulator's obviously fake credentials are allow-listed where they are written (a `pragma:
allowlist` comment on those lines), so any finding is a real one. A planted fake Alibaba key
proves the scanner, with our plugin for `LTAI...` key ids, finds what it should.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support import REPO

PLUGIN = Path(__file__).with_name("secret_plugins.py")
# Known fakes in files this suite does not own, by file and detect-secrets' hash of the value
# (so only that exact value there is accepted). Prefer a `pragma: allowlist secret` comment on
# the line itself; this stays empty unless that is impossible.
KNOWN_FAKES: set[tuple[str, str]] = set()


def _scan(files: list[str], cwd: Path) -> dict[str, Any]:
    command = [sys.executable, "-m", "detect_secrets", "scan", "--plugin", str(PLUGIN), *files]
    done = subprocess.run(  # noqa: S603 - a fixed command, no shell
        command, cwd=cwd, capture_output=True, check=True, timeout=120
    )
    results: dict[str, Any] = json.loads(done.stdout)["results"]
    return results


def test_no_secret_in_any_tracked_file() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"],  # noqa: S607 - git from PATH, as `make` uses it
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    files = [name for name in listed.stdout.decode().split("\0") if (REPO / name).is_file()]
    assert files, "no tracked files?"
    findings = [
        finding
        for found in _scan(files, REPO).values()
        for finding in found
        if (finding["filename"], finding["hashed_secret"]) not in KNOWN_FAKES
    ]
    assert findings == [], json.dumps(findings, indent=2)


def test_the_scanner_finds_a_planted_alibaba_key(tmp_path: Path) -> None:
    key_id = "LTAI" + "5tR3kYp9XwQ2mZcVbN7d"  # split, so that this file itself stays clean
    secret = "Qz8" + "vK2mP9xR4tL7wN1bC6hJ3sD5fG0aE"  # pragma: allowlist secret
    planted = tmp_path / "settings.py"
    planted.write_text(
        f'ACCESS_KEY_ID = "{key_id}"\nALIBABA_CLOUD_ACCESS_KEY_SECRET = "{secret}"\n'
    )

    findings = _scan([planted.name], tmp_path)

    types = {finding["type"] for finding in findings[planted.name]}
    assert "Alibaba Cloud AccessKey ID" in types
    assert "Secret Keyword" in types
