"""The fan-out section of `make bench` (`bench/run.py --only fanout`): the hub over many accounts.

Two parts, both through the real gateways and the unmodified SDKs against the emulator:

* The hub (plan and dispatch). The emulated Resource Directory holds a folder of N joined
  accounts and the emulated FC 3.0 a worker function that accepts async invocations without
  running them (ecs_emulator.hub_cloud, in this process). The hub runs in a child process (the
  repository's interpreter and installed code, FC's INFO logging on stderr): its real Resource
  Directory gateway lists the folder, and its real FC gateway sends one InvokeFunction (Async,
  with its task id) per account x region. The parent reads the child's peak RSS from wait4, so the
  emulator's own memory (every queued task) is not counted; the child reports its RSS once the
  hub is imported and how long handle_hub took (directory read, plan and dispatch), which is set
  against the pacing floor, targets / FANOUT_INVOKES_PER_SECOND (the hub waits 1/rate after each
  invocation). Measured at 100 accounts at the default rate and at 1,000 accounts at the highest
  rate the setting allows (so that the run stays short): the peak RSS must be flat in between.
* The worker per target (a smaller sample). FC's emulated async run executes each queued task
  through today's stop handler, given its account by the hub's envelope; the handler assumes the
  spoke role through the real credentials provider against the emulated STS, then acts on that
  account's own fleet. Counted per target: ECS calls against today's single-account lower bound
  for that region's fleet (bench/run.py's `lower_bound`), and AssumeRole calls (one per target).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Final

FOLDER: Final = "fd-bench00001"
REGIONS: Final = ("cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen")
WORKER: Final = "ecs-stop"
HUB: Final = "ecs-fanout"
ROLE: Final = "ecs-lifecycle-spoke"
EXTERNAL_ID: Final = "bench-external-id"
DEFAULT_RATE: Final = 20.0  # FANOUT_INVOKES_PER_SECOND unset (defaults.py)
FAST_RATE: Final = 1000.0  # the setting's highest value
RSS_TARGET_MB: Final = 128.0  # FC's smallest memory size
CHILD_TIMEOUT: Final = 600.0

# The hub, in a fresh interpreter: its real gateways pointed at the emulator, one run.
HUB_CHILD: Final = r"""
import json, logging, os, sys, time, types
from ecs_lifecycle.accounts.gateways import (
    HubEndpoints, make_account_directory, make_async_invoker,
)
from ecs_lifecycle.clock import SystemClock
from ecs_lifecycle.fanout.hub import HubServices, handle_hub
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
def resident_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0
endpoint, worker, out_file = sys.argv[1:4]
rss_after_import = resident_mb()
clock = SystemClock()
endpoints = HubEndpoints(os.environ["FC_REGION"], endpoint, "http", endpoint, "http")
services = HubServices(
    clock, dict(os.environ),
    lambda settings: make_account_directory(settings, endpoints, clock),
    lambda settings: make_async_invoker(settings, endpoints, clock),
)
context = types.SimpleNamespace(
    request_id="bench-fanout", function=types.SimpleNamespace(name="ecs-fanout", timeout=900)
)
event = json.dumps({"functions": [worker], "options": {"dry_run": False}}).encode()
started = time.perf_counter()
summary = handle_hub(event, context, services)
elapsed = time.perf_counter() - started
with open(out_file, "w") as handle:
    json.dump({"summary": summary, "hub_seconds": elapsed,
               "rss_after_import_mb": rss_after_import}, handle)
"""


def account_ids(count: int, base: int = 2000000000000000) -> list[str]:
    return [f"{base + number:016d}" for number in range(1, count + 1)]


def use_the_emulators_keys() -> dict[str, str]:
    """The default credential chain (every gateway's) gets the emulator's fake keys only."""
    from ecs_emulator import EmulatorCredentials  # noqa: PLC0415

    credentials = EmulatorCredentials.default()
    keys = {
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
    }
    os.environ.update(keys)
    os.environ.pop("ALIBABA_CLOUD_SECURITY_TOKEN", None)
    return keys


@dataclass(frozen=True)
class HubRun:
    """One hub run in a child process, and what the emulated cloud saw of it."""

    accounts: int
    regions: int
    targets: int
    rate: float
    hub_seconds: float  # handle_hub: directory read, plan and dispatch
    floor_seconds: float  # targets / rate
    invoke_calls: int  # InvokeFunction requests FC answered
    accepted: int  # of them, 202 Accepted
    queued: int  # distinct tasks in FC's queue
    directory_calls: int  # ListAccountsForParent and GetResourceDirectory
    counts: dict[str, int]
    peak_rss_mb: float
    rss_after_import_mb: float
    wall_seconds: float  # the child, interpreter start to exit

    def to_dict(self) -> dict[str, Any]:
        data = dict(self.__dict__)
        data["over_floor"] = round(self.hub_seconds / self.floor_seconds, 3)
        return data


def run_hub(accounts: int, regions: Sequence[str], rate: float | None, workdir: Path) -> HubRun:
    """The hub over a folder of `accounts` x `regions`, dispatching `WORKER` once per target."""
    import ecs_lifecycle  # noqa: PLC0415
    from ecs_emulator.hub_cloud import HubCloudEmulator  # noqa: PLC0415

    keys = use_the_emulators_keys()
    targets = accounts * len(regions)
    with HubCloudEmulator() as cloud:
        cloud.directory.add_folder(FOLDER, "bench")
        for account in account_ids(accounts):
            cloud.directory.add_account(account, FOLDER)
        cloud.fc.add_function(WORKER)  # accepts async invocations, never runs them
        environ = {
            **{name: os.environ[name] for name in ("PATH", "LANG") if name in os.environ},
            **keys,
            "FC_REGION": regions[0],
            "FC_FUNCTION_NAME": HUB,
            "WORKER_FUNCTIONS": WORKER,
            "TARGET_ACCOUNT_FOLDER": FOLDER,
            "TARGET_REGIONS": ",".join(regions),
            "TARGET_TAGS": "env=dev",
            "SPOKE_ROLE_NAME": ROLE,
            "EXTERNAL_ID": EXTERNAL_ID,
            "FANOUT_MAX_TARGETS": str(targets),
            "DRY_RUN": "false",
        }
        if rate is not None:
            environ["FANOUT_INVOKES_PER_SECOND"] = f"{rate:g}"
        # The child imports the same ecs_lifecycle as this process, installed or not.
        environ["PYTHONPATH"] = str(Path(ecs_lifecycle.__file__).resolve().parents[1])
        out_file, log_path = workdir / "hub.json", workdir / "hub.log"
        out_file.unlink(missing_ok=True)
        command = [sys.executable, "-c", HUB_CHILD, cloud.endpoint, WORKER, str(out_file)]
        with log_path.open("wb") as log:
            started = time.perf_counter()
            process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
                command, stdout=subprocess.DEVNULL, stderr=log, env=environ, cwd=workdir
            )
            watchdog = threading.Timer(CHILD_TIMEOUT, process.kill)
            watchdog.start()
            # wait4: this child's own rusage (RUSAGE_CHILDREN is the max over every child).
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - started
            watchdog.cancel()
        process.returncode = exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0 or not out_file.is_file():
            tail = log_path.read_text(encoding="utf-8", errors="replace")[-2000:]
            raise RuntimeError(f"the hub exited {exit_code}:\n{tail}")
        report = json.loads(out_file.read_text(encoding="utf-8"))
        invokes = cloud.calls_to("InvokeFunction")
        directory = sum(
            1
            for call in cloud.calls
            if call.operation in ("ListAccountsForParent", "GetResourceDirectory")
        )
        queued = len(cloud.fc.tasks)
        if cloud.internal_errors:
            raise RuntimeError(f"emulator internal errors: {cloud.internal_errors[:3]}")
    effective = rate if rate is not None else DEFAULT_RATE
    return HubRun(
        accounts=accounts,
        regions=len(regions),
        targets=targets,
        rate=effective,
        hub_seconds=round(report["hub_seconds"], 2),
        floor_seconds=round(targets / effective, 2),
        invoke_calls=len(invokes),
        accepted=sum(1 for call in invokes if call.status == 202),
        queued=queued,
        directory_calls=directory,
        counts=dict(report["summary"]["counts"]),
        peak_rss_mb=round(usage.ru_maxrss / 1024.0, 1),
        rss_after_import_mb=round(report["rss_after_import_mb"], 1),
        wall_seconds=round(wall, 2),
    )


@dataclass(frozen=True)
class WorkerSample:
    """The worker's part: each target run through FC's emulated async run, on emulated STS."""

    accounts: int
    regions: int
    instances_per_target: int
    targets: int
    tasks_succeeded: int
    assume_role_calls: int
    ecs_calls: dict[str, int]  # per target, the most any target made
    bound: dict[str, int]  # today's single-account lower bound for one region's fleet
    max_calls_ratio: float  # the worst target's calls / bound
    stopped_expected: int
    stopped: int
    foreign_calls: int  # ECS calls signed in an account other than the target's
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def run_worker_sample(accounts: int, regions: Sequence[str], per_target: int) -> WorkerSample:
    """`accounts` x `regions` targets of `per_target` instances each, dispatched by the hub and
    run by FC's emulated async invocation through the stop worker in each account."""
    from ecs_emulator import SystemClock  # noqa: PLC0415

    members = account_ids(accounts)
    clock = SystemClock()  # the credentials provider checks Expiration against real time
    # The provider warns on every 900 s session that it counts it stale on arrival (why
    # accounts/credentials.py keeps the session itself): one line per target, not a finding.
    quiet = logging.getLogger("credentials")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return _worker_sample(accounts, regions, per_target, members, clock)
    finally:
        quiet.setLevel(level)


def _worker_sample(
    accounts: int, regions: Sequence[str], per_target: int, members: list[str], clock: Any
) -> WorkerSample:
    # bench.run's fleet and bound: the same fleet mix and bound as the single-account table.
    from bench.run import build_fleet, lower_bound, region_mix  # noqa: PLC0415

    keys = use_the_emulators_keys()
    from ecs_emulator import EcsEmulator  # noqa: PLC0415
    from ecs_emulator.hub_cloud import HubCloudEmulator  # noqa: PLC0415
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

    started = time.perf_counter()
    with EcsEmulator(clock=clock, stop_delay=1.0) as ecs, HubCloudEmulator(clock=clock) as cloud:
        # build_fleet spreads its fleet round-robin over bench.run's two regions.
        fleet = build_fleet(per_target * 2)
        fleet = [
            replace(spec, region=regions[index % len(regions)])
            for index, spec in enumerate(fleet)
            if index < per_target * len(regions)
        ]
        mixes = {region: region_mix(fleet, region) for region in regions}
        for account in members:
            ecs.add_role(account, ROLE, external_id=EXTERNAL_ID)
            ecs.add_fleet(fleet, account=account)
        worker_env = {
            "FC_REGION": regions[0],
            "TARGET_REGIONS": ",".join(regions),
            "TARGET_TAGS": "env=dev",
            "TARGET_ACCOUNTS": ",".join(members),
            "SPOKE_ROLE_NAME": ROLE,
            "EXTERNAL_ID": EXTERNAL_ID,
            "ECS_ENDPOINT": ecs.endpoint,
            "ECS_PROTOCOL": "http",
            "MAX_INSTANCES": "100000",
            "PROTECT_TAG": "protected",
            "DRY_RUN": "false",
            **keys,
        }
        per_task: list[tuple[str, str, Counter[str], list[str | None], dict[str, Any]]] = []

        def worker(event: bytes, context: Any) -> str:
            envelope = json.loads(event)["ecs_lifecycle_hub"]
            before = len(ecs.calls)
            services = Services(
                clock=clock,
                environ=worker_env,
                gateway_factory=make_gateway,
                spoke_credentials=partial(
                    spoke_credentials, sts_endpoint=f"http://{ecs.endpoint}", clock=clock
                ),
            )
            summary = handle(Function.STOP, event, context, services)
            made = ecs.calls[before:]  # FC's emulated run takes one task at a time
            per_task.append(
                (
                    envelope["account"],
                    envelope["region"],
                    Counter(call.operation for call in made),
                    [call.account for call in made if call.operation != "AssumeRole"],
                    summary,
                )
            )
            return json.dumps(summary)

        cloud.fc.add_function(WORKER, worker, max_async_retry_attempts=0)
        endpoints = HubEndpoints(regions[0], cloud.endpoint, "http", cloud.endpoint, "http")
        hub_env = {
            **worker_env,
            "FC_FUNCTION_NAME": HUB,
            "WORKER_FUNCTIONS": WORKER,
            "FANOUT_INVOKES_PER_SECOND": f"{FAST_RATE:g}",
        }
        directory: Callable[[Any], Any] = partial(
            _directory, make_account_directory, endpoints, clock
        )
        invoker: Callable[[Any], Any] = partial(_invoker, make_async_invoker, endpoints, clock)
        event = json.dumps({"functions": [WORKER], "options": {"dry_run": False}}).encode()
        handle_hub(event, _HubContext(), HubServices(clock, hub_env, directory, invoker))
        tasks = cloud.fc.run_queued()
        assume = len(ecs.calls_to("AssumeRole"))
    elapsed = time.perf_counter() - started
    worst: Counter[str] = Counter()
    worst_ratio = 0.0
    bound = lower_bound("stop", [mixes[regions[0]]])
    for _account, region, calls, _signers, _summary in per_task:
        del calls["AssumeRole"]
        target_bound = lower_bound("stop", [mixes[region]])
        ratio = sum(calls.values()) / sum(target_bound.values())
        if ratio >= worst_ratio:
            worst_ratio, worst, bound = ratio, calls, target_bound
    return WorkerSample(
        accounts=accounts,
        regions=len(regions),
        instances_per_target=per_target,
        targets=accounts * len(regions),
        tasks_succeeded=sum(1 for task in tasks if task.status == "Succeeded"),
        assume_role_calls=assume,
        ecs_calls=dict(sorted(worst.items())),
        bound=bound,
        max_calls_ratio=round(worst_ratio, 3),
        stopped_expected=accounts * sum(mix.running_unprotected for mix in mixes.values()),
        stopped=sum(summary.get("counts", {}).get("done", 0) for *_, summary in per_task),
        foreign_calls=sum(
            1
            for account, _region, _calls, signers, _summary in per_task
            for signer in signers
            if signer != account
        ),
        seconds=round(elapsed, 2),
    )


@dataclass(frozen=True)
class _Function:
    name: str = HUB
    timeout: int = 900


@dataclass(frozen=True)
class _HubContext:
    request_id: str = "bench-fanout"
    function: _Function = _Function()


def _directory(make: Callable[..., Any], endpoints: Any, clock: Any, settings: Any) -> Any:
    return make(settings, endpoints, clock)


def _invoker(make: Callable[..., Any], endpoints: Any, clock: Any, settings: Any) -> Any:
    return make(settings, endpoints, clock)


# --- the section ---------------------------------------------------------------------------------


def measure(
    *,
    accounts: int = 100,
    large_accounts: int = 1000,
    regions: Sequence[str] = REGIONS,
    sample_accounts: int = 5,
    sample_regions: int = 2,
    sample_instances: int = 250,
) -> dict[str, Any]:
    """The whole fan-out section: the hub at `accounts` (default rate) and `large_accounts`
    (highest rate), and the worker sample."""
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ecs-bench-fanout-") as scratch:
        workdir = Path(scratch)
        print(f"fan-out: the hub over {accounts} accounts x {len(regions)} regions ...", flush=True)  # noqa: T201
        small = run_hub(accounts, regions, None, workdir)
        print(f"fan-out: the hub over {large_accounts} accounts ...", flush=True)  # noqa: T201
        large = run_hub(large_accounts, regions, FAST_RATE, workdir)
    print("fan-out: the worker sample ...", flush=True)  # noqa: T201
    sample = run_worker_sample(sample_accounts, regions[:sample_regions], sample_instances)
    return {
        "hub": [small.to_dict(), large.to_dict()],
        "worker_sample": sample.to_dict(),
        "targets": targets_of(small, large, sample),
        "seconds": round(time.perf_counter() - started, 1),
    }


def targets_of(small: HubRun, large: HubRun, sample: WorkerSample) -> dict[str, bool]:
    return {
        "dispatch_calls_equal_targets": all(
            run.invoke_calls == run.targets == run.accepted == run.queued
            and run.counts.get("dispatched") == run.targets
            for run in (small, large)
        ),
        "dispatch_at_or_above_floor": all(
            run.hub_seconds >= run.floor_seconds for run in (small, large)
        ),
        "hub_peak_rss_under_128_mb": max(small.peak_rss_mb, large.peak_rss_mb) < RSS_TARGET_MB,
        "one_assume_role_per_target": sample.assume_role_calls == sample.targets,
        "every_target_succeeded": sample.tasks_succeeded == sample.targets,
        "worker_stopped_what_single_account_would": sample.stopped == sample.stopped_expected,
        "no_call_in_another_account": sample.foreign_calls == 0,
    }


def render(result: Mapping[str, Any], machine: str) -> str:
    small, large = result["hub"]
    sample = result["worker_sample"]
    lines = [
        "Fan-out (bench/fanout.py): the hub's plan and dispatch through the real Resource "
        "Directory and FC 3.0 gateways against the emulator, the hub in a child process:",
        "",
        "| accounts x regions | targets | FANOUT_INVOKES_PER_SECOND | hub s | pacing floor s | "
        "hub / floor | InvokeFunction calls | tasks queued | directory calls | "
        "RSS after import MB | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in (small, large):
        lines.append(
            f"| {run['accounts']:,} x {run['regions']} | {run['targets']:,} | {run['rate']:g} | "
            f"{run['hub_seconds']:.1f} | {run['floor_seconds']:.1f} | {run['over_floor']:.2f} | "
            f"{run['invoke_calls']:,} | {run['queued']:,} | {run['directory_calls']} | "
            f"{run['rss_after_import_mb']:.0f} | {run['peak_rss_mb']:.0f} |"
        )
    growth = large["peak_rss_mb"] - small["peak_rss_mb"]
    ops = ", ".join(
        f"{op} {sample['ecs_calls'].get(op, 0)}/{sample['bound'].get(op, 0)}"
        for op in sorted(set(sample["ecs_calls"]) | set(sample["bound"]))
    )
    targets = result["targets"]
    lines += [
        "",
        f"Hub peak RSS: {small['peak_rss_mb']:.0f} MB at {small['accounts']:,} accounts, "
        f"{large['peak_rss_mb']:.0f} MB at {large['accounts']:,} ({growth:+.1f} MB for "
        f"{large['targets'] - small['targets']:,} more targets; target < {RSS_TARGET_MB:.0f} MB): "
        f"{_verdict(targets['hub_peak_rss_under_128_mb'])}.",
        f"Dispatch: one InvokeFunction per target, each accepted and queued once: "
        f"{_verdict(targets['dispatch_calls_equal_targets'])}.",
        "",
        f"Worker sample: {sample['accounts']} accounts x {sample['regions']} regions x "
        f"{sample['instances_per_target']} instances, dispatched by the hub and run by FC's "
        "emulated async invocation through the stop worker on the emulated STS: "
        f"{sample['tasks_succeeded']}/{sample['targets']} tasks succeeded, "
        f"AssumeRole {sample['assume_role_calls']} for {sample['targets']} targets "
        f"({_verdict(targets['one_assume_role_per_target'])}), ECS calls of the worst target "
        f"{ops} (made/single-account lower bound; {sample['max_calls_ratio']:.2f} x), "
        f"{sample['stopped']}/{sample['stopped_expected']} instances stopped, "
        f"{sample['foreign_calls']} calls outside the target's account; "
        f"{sample['seconds']:.0f} s.",
        "",
        f"- The section took {result['seconds']:.0f} s on {machine}.",
    ]
    return "\n".join(lines) + "\n"


def _verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"
