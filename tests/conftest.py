"""Shared test setup.

alibabacloud-credentials reads ALIBABA_CLOUD_* variables once, when it is first imported, so the
default chain's credentials are set here, before any test module imports the SDK: the
emulator's obviously fake key. A developer's real keys, CLI profile or the ECS metadata service
can never be picked up by a test.
"""

from __future__ import annotations

import os

os.environ.update(
    {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": "emulator-ak",
        # pragma: allowlist nextline secret - the emulator's fake key, for the secret scanner
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "emulator-secret-not-real",
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
    }
)
for _name in (
    "ALIBABA_CLOUD_SECURITY_TOKEN",
    "ALIBABA_CLOUD_PROFILE",
    "ALIBABA_CLOUD_CREDENTIALS_FILE",
):
    os.environ.pop(_name, None)

# These imports come after the environment is set, on purpose (see the module docstring).
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

from ecs_emulator import EcsEmulator, EmulatorCredentials  # noqa: E402
from tests.support import Runner  # noqa: E402

pytest_plugins = ["ecs_emulator.pytest_plugin"]

# Property tests, deterministic: every run tries the same examples (derandomize), so a failure
# reproduces and a green run is never luck; and a busy machine's slowness is not a failure (no
# deadline, no too_slow health check). `full` (the default: `make test`) runs Hypothesis' 100
# examples a property; `quick` (`make check`, and the re-run on Python 3.10) runs 25. Pick one
# with `pytest --hypothesis-profile=NAME`. A property's own @settings still win.
settings.register_profile(
    "full",
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("quick", settings.get_profile("full"), max_examples=25)
settings.load_profile("full")

_FAKE_KEYS = {
    "ALIBABA_CLOUD_ACCESS_KEY_ID": EmulatorCredentials.default().access_key_id,
    "ALIBABA_CLOUD_ACCESS_KEY_SECRET": EmulatorCredentials.default().access_key_secret,
}


@pytest.fixture(autouse=True)
def _credential_hygiene(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test: no metadata service, no CLI profile, and no real access key in the env.

    Keys other than the emulator's obviously fake ones (set above) are removed, so a test can
    never sign a request with a developer's real credentials.
    """
    monkeypatch.setenv("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "true")
    monkeypatch.setenv("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "true")
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    for name, fake in _FAKE_KEYS.items():
        if os.environ.get(name) not in (None, fake):
            monkeypatch.delenv(name)


@pytest.fixture
def run(ecs_emulator: EcsEmulator) -> Runner:
    """A handler runner on the emulator: what FC would call, on the emulator's clock."""
    return Runner(ecs_emulator)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`: `-n auto --dist loadgroup`), the deploy checks run in one
    worker: they share the package build and its dependency cache in build/ (`make build` too),
    which two workers building at once would race on. Every other test has its own emulator,
    ports and tmp_path, and runs wherever xdist puts it."""
    for item in items:
        if item.nodeid.startswith("tests/deploy/"):
            item.add_marker(pytest.mark.xdist_group("deploy"))
