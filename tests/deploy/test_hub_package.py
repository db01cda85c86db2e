"""The hub's built package (build/ecs-fanout, s.multi-account.yaml's `code:`) runs as FC runs it.

Unzipped and imported by a fresh interpreter of the runtime's Python without site-packages, it
reads the emulated Resource Directory and queues FC async tasks through the SDKs it carries.
"""

from __future__ import annotations

import json
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from ecs_emulator.hub_cloud import HubCloudEmulator

FOLDER: Final = "fd-dev0000001"
MEMBER: Final = "2" * 16
CHILD: Final = r"""
import json, sys, types
sys.path[:0] = json.loads(sys.argv[1])
import index
function = types.SimpleNamespace(timeout=600)
context = types.SimpleNamespace(request_id="deploy-check", function=function)
event = json.dumps({"scheduled_time": "2026-11-26T06:00:00Z"}).encode()
print(index.handler(event, context))
"""


@pytest.fixture
def cloud() -> Iterator[HubCloudEmulator]:
    with HubCloudEmulator() as emulator:
        emulator.directory.add_folder(FOLDER)
        emulator.directory.add_account(MEMBER, FOLDER)
        emulator.fc.add_function("ecs-stop")
        yield emulator


def test_the_hub_package_carries_its_sdks_and_queues_through_them(
    packages: Path, runtime_python: str, cloud: HubCloudEmulator, tmp_path: Path
) -> None:
    code = tmp_path / "code"
    with zipfile.ZipFile(packages / "ecs-fanout.zip") as archive:
        archive.extractall(code)
    for sdk in ("alibabacloud_fc20230330", "alibabacloud_resourcemanager20200331"):
        assert (code / "python" / sdk).is_dir(), sdk
    credentials = cloud.credentials
    environment = {
        "FC_REGION": "cn-hangzhou",
        "FC_FUNCTION_NAME": "ecs-fanout",
        "TARGET_ACCOUNT_FOLDER": FOLDER,
        "TARGET_REGIONS": "cn-hangzhou",
        "WORKER_FUNCTIONS": "ecs-stop",
        "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
        "RESOURCEMANAGER_ENDPOINT": cloud.endpoint,
        "RESOURCEMANAGER_PROTOCOL": "http",
        "FUNCTION_COMPUTE_ENDPOINT": cloud.endpoint,
        "FUNCTION_COMPUTE_PROTOCOL": "http",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
    }
    completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed arguments
        [
            runtime_python,
            "-I",
            "-S",
            "-B",
            "-c",
            CHILD,
            json.dumps([str(code), str(code / "python")]),
        ],
        cwd=tmp_path,
        env=environment,
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    summary = json.loads(completed.stdout.strip().splitlines()[-1])
    assert summary["counts"]["dispatched"] == 1
    (task,) = cloud.fc.queued()
    assert task.task_id == "ecs-stop-2222222222222222-cn-hangzhou-20261126T060000Z"
