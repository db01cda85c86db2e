"""`ecs-lifecycle fanout`: the hub's whole fan-out on the emulator, in this process.

The hub's FC entry point runs with its real gateways against the emulated Resource Directory and
FC 3.0 (:mod:`ecs_emulator.hub_cloud`); FC then runs each queued task through the worker's
handler, in its account and region, against the ECS emulator, as FC would. Each member account
has its own fleet in the emulator and its own spoke role: the worker assumes it with the real
`spoke_credentials` (accounts/credentials.py) through the emulator's STS (over HTTP: the one
thing injected), so it sees and acts on that account's instances only.

It prints the hub's counts, one overview row per skipped account and per target (function,
account, region: its task id, how FC's task ended and what the worker did), then each target's
own table: what the worker decided for every instance of that account and region, and why.
Real time (the workers' stops finish in a fraction of a second), fake keys.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, TextIO

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import SystemClock
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.hub_cloud import HubCloudEmulator
from ecs_lifecycle.defaults import OWNER_TAG
from ecs_lifecycle.render import Who, render_summary, table

FOLDER: Final = "fd-demo000001"
REGIONS: Final = ("cn-hangzhou", "cn-shanghai")
WORKERS: Final = {"ecs-stop": "stop", "ecs-release": "release", "ecs-auto-release": "auto-release"}
HEADER: Final = ("ACCOUNT", "REGION", "FUNCTION", "TASK", "RESULT")
SPOKE_ROLE: Final = "ecs-lifecycle-spoke"
EXTERNAL_ID: Final = "emulator-external-id"


@dataclass(frozen=True)
class _Function:
    timeout: int = 600


@dataclass(frozen=True)
class _HubContext:
    request_id: str = "local-fanout"
    function: _Function = _Function()


def _accounts(count: int) -> list[str]:
    return [f"{2000000000000000 + number:016d}" for number in range(1, count + 1)]


def seed_account(ecs: EcsEmulator, account: str, number: int) -> None:
    """Account `number`'s own fleet, in each region: `number` dev instances to stop, one that
    the protect tag keeps, and (from the second account on) a prod one outside the tag fence."""
    for region in REGIONS:
        short = region.removeprefix("cn-")[:2]
        for index in range(1, number + 1):
            ecs.add_instance(
                region=region,
                name=f"a{number}-{short}-web{index}",
                tags={"env": "dev", OWNER_TAG: ("alice", "bob", "carol")[index % 3]},
                account=account,
            )
        ecs.add_instance(
            region=region,
            name=f"a{number}-{short}-keep",
            tags={"env": "dev", OWNER_TAG: "dana", "protected": "true"},
            account=account,
        )
        if number > 1:
            ecs.add_instance(
                region=region, name=f"a{number}-{short}-prod", tags={"env": "prod"}, account=account
            )
    ecs.add_role(account, SPOKE_ROLE, external_id=EXTERNAL_ID)


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
    from ecs_lifecycle.account_settings import AccountSettings  # noqa: PLC0415
    from ecs_lifecycle.accounts.credentials import spoke_credentials  # noqa: PLC0415
    from ecs_lifecycle.accounts.gateways import (  # noqa: PLC0415
        HubEndpoints,
        make_account_directory,
        make_async_invoker,
    )
    from ecs_lifecycle.ecs import make_gateway  # noqa: PLC0415
    from ecs_lifecycle.fanout.hub import HubServices, handle_hub  # noqa: PLC0415
    from ecs_lifecycle.handler import Services, handle  # noqa: PLC0415
    from ecs_lifecycle.model import Function  # noqa: PLC0415

    # alibabacloud_credentials warns that every 900 s session is "stale" on arrival (its 15-minute
    # stale time; accounts/credentials.py keeps the session itself), at INFO from its import on:
    # noise for this output.
    logging.getLogger("credentials").setLevel(logging.ERROR)

    members = _accounts(accounts)
    unjoined = f"{2999999999999999}"
    clock = SystemClock()
    with EcsEmulator(clock=clock, stop_delay=0.2) as ecs, HubCloudEmulator(clock=clock) as cloud:
        for number, account in enumerate(members, start=1):
            seed_account(ecs, account, number)
        known = {
            view.instance_id: Who(view.name, view.tags.get(OWNER_TAG, ""))
            for account in members
            for view in ecs.instances(account=account)
        }
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
            "SPOKE_ROLE_NAME": SPOKE_ROLE,
            "EXTERNAL_ID": EXTERNAL_ID,
            "ECS_ENDPOINT": ecs.endpoint,
            "ECS_PROTOCOL": "http",
            # Never Alibaba's public endpoint with the emulator's keys (see demo._child_env).
            "ACTIONTRAIL_ENDPOINT": ecs.endpoint,
            "ACTIONTRAIL_PROTOCOL": "http",
            "DRY_RUN": "true",
        }

        # The real builder; only STS's address is the emulator's (the SDK would use HTTPS).
        spoke = partial(spoke_credentials, sts_endpoint=f"http://{ecs.endpoint}", clock=clock)

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
    ordered = sorted(tasks, key=_target_order)
    rows = [
        [skipped["account"], "-", "-", "-", f"skipped: {skipped['reason']}"]
        for skipped in summary["skipped_accounts"]
    ]
    for task in ordered:
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
    for task in ordered:
        envelope = json.loads(task.payload)["ecs_lifecycle_hub"]
        heading = (
            f"account {envelope['account']}, {envelope['region']}: {task.function_name} "
            f"{task.status}"
        )
        lines = [heading]
        if task.error is None and isinstance(task.result, str):
            lines += [
                f"  {line}" for line in render_summary(json.loads(task.result), known, width - 2)
            ]
        else:
            lines.append(f"  {task.error}")
        print("", *lines, sep="\n", file=stream)
    return 1 if any(task.status != "Succeeded" for task in tasks) else 0


def _target_order(task: Any) -> tuple[str, str, str]:
    envelope = json.loads(task.payload)["ecs_lifecycle_hub"]
    return (str(envelope["account"]), str(envelope["region"]), str(task.function_name))


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
