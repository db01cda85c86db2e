"""`ecs-lifecycle fanout`: the hub's whole fan-out on the emulator, in this process.

The hub's FC entry point runs with its real gateways against the emulated Resource Directory and
FC 3.0 (:mod:`ecs_emulator.hub_cloud`); FC then runs each queued task through the worker's
handler, in its account and region, against the ECS emulator, as FC would. The table shows one
row per skipped account and per target (function, account, region): its task id, how FC's task
ended and what the worker did. Real time (the workers' stops finish in a second), fake keys.

The emulator has one ECS fleet, which every account's worker sees (its spoke credentials are the
default chain's key): the first account in a region stops the fleet's dev instances, the next
finds them stopped. The account's own fleet arrives with the emulator's per-account state.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, TextIO

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import SystemClock
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.hub_cloud import HubCloudEmulator
from ecs_lifecycle.render import table

FOLDER: Final = "fd-demo000001"
REGIONS: Final = ("cn-hangzhou", "cn-shanghai")
WORKERS: Final = {"ecs-stop": "stop", "ecs-release": "release", "ecs-auto-release": "auto-release"}
HEADER: Final = ("ACCOUNT", "REGION", "FUNCTION", "TASK", "RESULT")


@dataclass(frozen=True)
class _Function:
    timeout: int = 600


@dataclass(frozen=True)
class _HubContext:
    request_id: str = "local-fanout"
    function: _Function = _Function()


def _accounts(count: int) -> list[str]:
    return [f"{2000000000000000 + number:016d}" for number in range(1, count + 1)]


def _use_the_emulators_keys(credentials: EmulatorCredentials) -> None:
    """The default chain, as every gateway reads it, gets the emulator's fake keys only."""
    os.environ.update(
        {
            "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
            "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
            "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
            "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        }
    )
    os.environ.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)


def run_fanout(accounts: int = 3, function: str = "ecs-stop", out: TextIO | None = None) -> int:
    """Run one hub fan-out on fresh emulators; print its table. Exit 0, or 1 if a task failed."""
    stream = out or sys.stdout
    credentials = EmulatorCredentials.default()
    _use_the_emulators_keys(credentials)
    # After the keys are set: the credentials library reads them when it is imported.
    from alibabacloud_credentials.client import Client as CredentialClient  # noqa: PLC0415

    from ecs_lifecycle.account_settings import AccountSettings  # noqa: PLC0415
    from ecs_lifecycle.accounts.gateways import (  # noqa: PLC0415
        HubEndpoints,
        make_account_directory,
        make_async_invoker,
    )
    from ecs_lifecycle.ecs import make_gateway  # noqa: PLC0415
    from ecs_lifecycle.fanout.hub import HubServices, handle_hub  # noqa: PLC0415
    from ecs_lifecycle.handler import Services, handle  # noqa: PLC0415
    from ecs_lifecycle.model import Function  # noqa: PLC0415

    members = _accounts(accounts)
    unjoined = f"{2999999999999999}"
    clock = SystemClock()
    with EcsEmulator(clock=clock, stop_delay=1.0) as ecs, HubCloudEmulator(clock=clock) as cloud:
        for region in REGIONS:
            ecs.add_instance(region=region, tags={"env": "dev", "owner": "alice"})
            ecs.add_instance(region=region, tags={"env": "dev", "protected": "true"})
        cloud.directory.add_folder(FOLDER, "dev")
        for account in members:
            cloud.directory.add_account(account, FOLDER)
        cloud.directory.add_account(unjoined, FOLDER, status="PromoteVerifying")
        cloud.directory.add_account(
            cloud.directory.master_account_id, FOLDER, account_type="CloudAccount"
        )
        worker_env = {
            "FC_REGION": REGIONS[0],
            "TARGET_REGIONS": ",".join(REGIONS),
            "TARGET_TAGS": "env=dev",
            "TARGET_ACCOUNT_FOLDER": FOLDER,
            "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
            "EXTERNAL_ID": "emulator-external-id",
            "ECS_ENDPOINT": ecs.endpoint,
            "ECS_PROTOCOL": "http",
            "DRY_RUN": "true",
        }

        def spoke(*_: Any) -> Any:
            return CredentialClient()  # the one fleet's key (see the module docstring)

        def worker_for(name: str) -> Any:
            kind = Function(WORKERS[name])

            def run(event: bytes, context: Any) -> str:
                services = Services(
                    clock=clock,
                    environ=worker_env,
                    gateway_factory=make_gateway,
                    spoke_credentials=spoke,
                )
                return json.dumps(handle(kind, event, context, services))

            return run

        for name in WORKERS:
            cloud.fc.add_function(name, worker_for(name), max_async_retry_attempts=0)
        hub_env = {
            **worker_env,
            "FC_FUNCTION_NAME": "ecs-fanout",
            "WORKER_FUNCTIONS": ",".join(WORKERS),
            "FANOUT_INVOKES_PER_SECOND": "50",
            "DRY_RUN": "false",
        }
        endpoints = HubEndpoints(REGIONS[0], cloud.endpoint, "http", cloud.endpoint, "http")

        def directory(settings: AccountSettings) -> Any:
            return make_account_directory(settings, endpoints, clock)

        def invoker(settings: AccountSettings) -> Any:
            return make_async_invoker(settings, endpoints, clock)

        event = json.dumps({"functions": [function], "options": {"dry_run": False}}).encode()
        summary = handle_hub(
            event,
            _HubContext(),
            HubServices(clock, hub_env, directory, invoker),
        )
        tasks = cloud.fc.run_queued()
    rows = [
        [skipped["account"], "-", "-", "-", f"skipped: {skipped['reason']}"]
        for skipped in summary["skipped_accounts"]
    ]
    for task in sorted(tasks, key=lambda t: (t.function_name, t.task_id)):
        envelope = json.loads(task.payload)["ecs_lifecycle_hub"]
        rows.append(
            [
                envelope["account"],
                envelope["region"],
                task.function_name,
                task.task_id,
                f"{task.status}: {_what_it_did(task.result, task.error)}",
            ]
        )
    width = shutil.get_terminal_size().columns
    print(
        f"hub: {json.dumps(summary['counts'], sort_keys=True)}",
        *table([list(HEADER), *rows], width),
        sep="\n",
        file=stream,
    )
    return 1 if any(task.status != "Succeeded" for task in tasks) else 0


def _what_it_did(result: Any, error: str | None) -> str:
    if error is not None:
        return error
    report = json.loads(result) if isinstance(result, str) else {}
    counts = report.get("counts", {})
    return ", ".join(f"{key} {value}" for key, value in sorted(counts.items()))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ecs-lifecycle fanout",
        description="Run the hub's fan-out on the emulator: a Resource Directory folder of "
        "accounts, FC 3.0 async tasks, and the workers in each account and region.",
    )
    parser.add_argument("--accounts", type=int, default=3, help="joined member accounts (3)")
    parser.add_argument(
        "--function", choices=sorted(WORKERS), default="ecs-stop", help="the worker (ecs-stop)"
    )
    options = parser.parse_args(list(argv) if argv is not None else None)
    return run_fanout(options.accounts, options.function)


if __name__ == "__main__":
    sys.exit(main())
