"""`make bench`: the three functions on 1,000- and 10,000-instance fleets, against the emulator.

Every figure comes from a real run of the built code packages (tools/build_packages.py), started
cold the way Function Compute starts them (bench/coldstart.py): each zip unpacked into a fresh
read-only directory, a fresh python3.10 (the runtime's version) with only that directory on its
path, the handler imported and called once. The emulator (in this process) answers the
unmodified SDK with 50 ms of latency per call and a real-clock Stopping -> Stopped delay. For each
run the table shows the ECS calls by operation next to the lower bound that the API's batch
limits allow for that fleet, the wall time of the child process (interpreter start to exit), its
peak RSS and how much of it the import alone takes.

The naive baseline releases instances the way Alibaba's "Release an ECS instance" Python sample
does: per instance one DescribeInstances by id, StopInstance, DescribeInstances polling until it
is Stopped, and DeleteInstance, sequentially, with the raw SDK. Its per-instance cost is dominated
by the stop delay, so it is timed on a small sample of each kind of instance (running, stopped,
protected) and scaled linearly to each fleet's mix; the output says so.

Cold start: ecs-release's package handles one sample event (a dry run) against the emulator
without latency, median of several fresh interpreters, side by side with the same package without
its bytecode (what the build shipped before it compiled any), and the import time by part
(`-X importtime`).

Results go to bench/results/latest.json and latest.md (the table the README shows).

Then the fan-out section (bench/fanout.py; alone: `--only fanout`): the hub over 100 and 1,000
accounts through its real gateways, and a sample of targets through the worker in each account;
results in bench/results/fanout.json and fanout.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Final

# `python bench/run.py` puts bench/ on the path; the repository root makes bench/ and tools/
# importable by the names mypy knows them by.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import fanout
from bench.coldstart import (
    PackageRun,
    import_breakdown,
    remove,
    run_package,
    unpack,
)
from tools.build_packages import build, find_runtime_python

from ecs_emulator import (
    EcsEmulator,
    EmulatorCredentials,
    FaultRule,
    FleetSpec,
    InstanceSpec,
    SystemClock,
    generate_fleet,
    make_sdk_client,
)

ROOT: Final = Path(__file__).resolve().parents[1]
RESULTS: Final = ROOT / "bench" / "results"
REGIONS: Final = ("cn-hangzhou", "cn-shanghai")
LATENCY: Final = 0.05  # seconds per ECS call, every operation
STOP_DELAY: Final = 25.0  # Stopping -> Stopped, real seconds
BATCH: Final = 100  # DescribeInstances page, ids per call, Stop/DeleteInstances ids
TAG_FILTER_CAP: Final = 1000  # DescribeInstances' tag filter covers at most this many resources
PROTECT_TAG: Final = "protected"
AUTO_RELEASE_TAG: Final = "auto-release"
AUTO_RELEASE_EVERY: Final = 10  # one instance in ten carries the auto-release tag
NAIVE_POLL_SECONDS: Final = 5.0
# Releasing the largest fleet, started cold: under FC's smallest memory size (128 MB).
RSS_TARGET_MB: Final = 128.0
CALLS_TARGET: Final = 1.3
SPEEDUP_TARGET: Final = 50.0
# The cold start with bytecode against the same package without: wall time at most this share,
# and its peak RSS under this many MB.
COLD_RATIO_TARGET: Final = 0.4
COLD_RSS_TARGET_MB: Final = 96.0
COLD_FUNCTION: Final = "ecs-release"
COLD_EVENT: Final = ROOT / "events" / "manual-release-dry-run.json"
COLD_FLEET: Final = 20
# What the functions' packages are called (s.yaml), by their `ecs-lifecycle invoke` name.
PACKAGE_OF: Final = {
    "stop": "ecs-stop",
    "release": "ecs-release",
    "auto-release": "ecs-auto-release",
}


# --- the fleet and what the API's limits allow for it ---------------------------------------------


def build_fleet(count: int) -> list[InstanceSpec]:
    """Half Running, half Stopped, over two regions; some protected, deletion-protected, PrePaid.

    Every instance is a dev instance (the nightly release selects `env=dev`); one in ten carries
    an auto-release lifetime tag for the reconcile timer.
    """
    spec = FleetSpec(
        count=count,
        regions=REGIONS,
        seed=count,
        running_share=0.5,
        prepaid_share=0.05,
        deletion_protected_share=0.05,
        protected_share=0.05,
        protect_tag=PROTECT_TAG,
        tag_mix={"env": ("dev",), "team": ("alpha", "beta")},
    )
    fleet = generate_fleet(spec)
    return [
        replace(instance, tags={**instance.tags, AUTO_RELEASE_TAG: "30d"})
        if index % AUTO_RELEASE_EVERY == 3
        else instance
        for index, instance in enumerate(fleet)
    ]


@dataclass(frozen=True)
class RegionMix:
    """One region's share of the fleet, counted by the rules each function applies."""

    total: int
    running_unprotected: int  # stop: what it stops
    running_releasable: int  # release: stopped first, then released
    stopped_releasable: int  # release: released at once
    changeable: int  # auto-release: pay-as-you-go, neither protected nor deletion-protected
    tagged: int  # carries the auto-release tag
    tagged_changeable: int


def _protected(instance: InstanceSpec) -> bool:
    value = instance.tags.get(PROTECT_TAG)
    return value is not None and value.strip().lower() != "false"


def region_mix(fleet: Sequence[InstanceSpec], region: str) -> RegionMix:
    mine = [instance for instance in fleet if instance.region == region]

    def releasable(instance: InstanceSpec, status: str) -> bool:
        # A 30d lifetime tag on an instance created days ago still lies ahead, and the owner's
        # lifetime keeps an instance from the nightly release.
        return (
            instance.status == status
            and not _protected(instance)
            and not instance.deletion_protection
            and instance.charge_type == "PostPaid"
            and AUTO_RELEASE_TAG not in instance.tags
        )

    def changeable(instance: InstanceSpec) -> bool:
        # An auto-release time releases even a deletion-protected instance, so none is set there.
        return (
            not _protected(instance)
            and not instance.deletion_protection
            and instance.charge_type == "PostPaid"
        )

    tagged = [instance for instance in mine if AUTO_RELEASE_TAG in instance.tags]
    return RegionMix(
        total=len(mine),
        running_unprotected=sum(1 for i in mine if i.status == "Running" and not _protected(i)),
        running_releasable=sum(1 for i in mine if releasable(i, "Running")),
        stopped_releasable=sum(1 for i in mine if releasable(i, "Stopped")),
        changeable=sum(1 for i in mine if changeable(i)),
        tagged=len(tagged),
        tagged_changeable=sum(1 for i in tagged if changeable(i)),
    )


def _pages(count: int) -> int:
    """Calls to cover `count` items 100 at a time; reading even an empty region takes one."""
    return max(1, math.ceil(count / BATCH))


def _batches(count: int) -> int:
    return math.ceil(count / BATCH)


def lower_bound(scenario: str, mixes: Iterable[RegionMix]) -> dict[str, int]:
    """The fewest calls, by operation, that the batch limits allow for this scenario."""
    # Every run checks its regions against DescribeRegions once.
    bound: Counter[str] = Counter({"DescribeRegions": 1})
    for mix in mixes:
        # The fleet selector (env=dev) matches every instance; past the tag filter's cap the
        # filtered scan must read the cap's worth before it knows (TotalCount is meaningless in
        # NextToken mode), then the region is scanned whole.
        selected = _pages(mix.total) + (
            _pages(TAG_FILTER_CAP) if mix.total >= TAG_FILTER_CAP else 0
        )
        if scenario == "stop":
            bound["DescribeInstances"] += selected
            bound["StopInstances"] += _batches(mix.running_unprotected)
        elif scenario == "release":
            # Each instance is read fresh once (ids 100 a call) right before its release: the
            # poll that sees it Stopped, or a re-read of those Stopped from the start.
            bound["DescribeInstances"] += (
                selected + _batches(mix.running_releasable) + _batches(mix.stopped_releasable)
            )
            bound["StopInstances"] += _batches(mix.running_releasable)
            bound["DeleteInstances"] += _batches(mix.running_releasable + mix.stopped_releasable)
        elif scenario == "auto-release (reconcile timer)":
            # A key-only tag filter lists the tagged instances, unless there are too many for it;
            # each 100 are read again right before their times are written.
            scanned = mix.tagged if mix.tagged < TAG_FILTER_CAP else mix.total
            bound["DescribeInstances"] += _pages(scanned) + _batches(mix.tagged_changeable)
            bound["ModifyInstanceAutoReleaseTime"] += mix.tagged_changeable  # no batch form
        elif scenario == "auto-release (manual release_after)":
            bound["DescribeInstances"] += selected + _batches(mix.changeable)
            bound["ModifyInstanceAutoReleaseTime"] += mix.changeable
        else:
            raise ValueError(scenario)
    return dict(bound)


# --- running a function in a child process --------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    name: str
    function: str  # the `ecs-lifecycle invoke` name
    event: dict[str, Any]


SCENARIOS: Final = (
    Scenario("stop", "stop", {"tags": {"env": "dev"}}),
    Scenario("release", "release", {"tags": {"env": "dev"}, "dry_run": False}),
    Scenario(
        "auto-release (reconcile timer)",
        "auto-release",
        {"triggerTime": "2026-11-26T18:00:00Z", "triggerName": "reconcile", "payload": ""},
    ),
    Scenario(
        "auto-release (manual release_after)",
        "auto-release",
        {"tags": {"env": "dev"}, "release_after": "8h"},
    ),
)


@dataclass
class RunResult:
    scenario: str
    fleet: int
    exit_code: int
    wall_seconds: float
    peak_rss_mb: float
    rss_after_import_mb: float  # of the peak, what the import alone holds
    cpu_seconds: float  # user + system: what a fractional FC vCPU has to supply
    calls: dict[str, int]
    lower_bound: dict[str, int]
    counts: dict[str, int]
    naive_seconds: float | None = None
    naive_calls: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total_calls(self) -> int:
        return sum(self.calls.values())

    @property
    def total_bound(self) -> int:
        return sum(self.lower_bound.values())

    @property
    def calls_ratio(self) -> float:
        return self.total_calls / self.total_bound if self.total_bound else float("nan")

    @property
    def speedup(self) -> float | None:
        if self.naive_seconds is None:
            return None
        return self.naive_seconds / self.wall_seconds

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            total_calls=self.total_calls,
            total_lower_bound=self.total_bound,
            calls_ratio=round(self.calls_ratio, 3),
            calls_per_instance=round(self.total_calls / self.fleet, 4),
            speedup_vs_naive=round(self.speedup, 1) if self.speedup is not None else None,
        )
        return data


@dataclass(frozen=True)
class Packages:
    """The built code packages and the runtime's interpreter that runs them."""

    python: str
    archives: dict[str, Path]  # package name (s.yaml function name) -> its zip


def child_environment(emulator: EcsEmulator, package: str) -> dict[str, str]:
    """A clean environment: only the emulator's fake credentials can reach the credential chain."""
    credentials = EmulatorCredentials.default()
    keep = {name: os.environ[name] for name in ("PATH", "LANG") if name in os.environ}
    return {
        **keep,
        # FC's own variables, as the runtime sets them.
        "FC_REGION": REGIONS[0],
        "FC_FUNCTION_NAME": package,
        "FC_FUNCTION_MEMORY_SIZE": "128",
        "FC_TIMEOUT": "900",
        "ALIBABA_CLOUD_ACCESS_KEY_ID": credentials.access_key_id,
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET": credentials.access_key_secret,
        # Only those keys: never a developer's ~/.aliyun profile or an instance's metadata.
        "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
        "ALIBABA_CLOUD_CLI_PROFILE_DISABLED": "true",
        "ECS_ENDPOINT": emulator.endpoint,
        "ECS_PROTOCOL": "http",
        "TARGET_REGIONS": ",".join(REGIONS),
        "MAX_INSTANCES": "100000",
        "DRY_RUN": "false",
        "PROTECT_TAG": PROTECT_TAG,
        "AUTO_RELEASE_TAG": AUTO_RELEASE_TAG,
    }


def run_cold(
    packages: Packages,
    package: str,
    event: bytes,
    emulator: EcsEmulator,
    workdir: Path,
    *,
    bytecode: bool = True,
) -> PackageRun:
    """One invocation of `package`, from a freshly unpacked copy, in a fresh interpreter."""
    code = unpack(packages.archives[package], workdir / "code", bytecode=bytecode)
    try:
        return run_package(
            packages.python, code, event, child_environment(emulator, package), workdir
        )
    finally:
        remove(code)


def run_scenario(
    emulator: EcsEmulator,
    scenario: Scenario,
    fleet: list[InstanceSpec],
    workdir: Path,
    packages: Packages,
) -> RunResult:
    emulator.reset()
    emulator.add_fleet(fleet)
    emulator.set_faults([FaultRule(operation="*", latency=LATENCY)])
    emulator.clear_calls()
    run = run_cold(
        packages,
        PACKAGE_OF[scenario.function],
        json.dumps(scenario.event).encode(),
        emulator,
        workdir,
    )
    calls = Counter(call.operation for call in emulator.calls)
    bound = lower_bound(scenario.name, [region_mix(fleet, region) for region in REGIONS])
    result = RunResult(
        scenario=scenario.name,
        fleet=len(fleet),
        exit_code=run.exit_code,
        wall_seconds=round(run.wall_seconds, 2),
        peak_rss_mb=round(run.peak_rss_mb, 1),
        rss_after_import_mb=round(run.rss_after_import_mb, 1),
        cpu_seconds=round(run.cpu_seconds, 2),
        calls=dict(sorted(calls.items())),
        lower_bound=bound,
        counts=dict(run.summary.get("counts", {})),
    )
    if run.error is not None:
        result.notes.append(run.error)
    if emulator.internal_errors:
        result.notes.append(f"emulator internal errors: {len(emulator.internal_errors)}")
    _check_outcome(scenario, fleet, result)
    return result


def _check_outcome(scenario: Scenario, fleet: Sequence[InstanceSpec], result: RunResult) -> None:
    """A fast run that did the wrong thing is worth nothing: compare with the expected counts."""
    mixes = [region_mix(fleet, region) for region in REGIONS]
    expected = {
        "stop": sum(m.running_unprotected for m in mixes),
        "release": sum(m.running_releasable + m.stopped_releasable for m in mixes),
        "auto-release (reconcile timer)": sum(m.tagged_changeable for m in mixes),
        "auto-release (manual release_after)": sum(m.changeable for m in mixes),
    }[scenario.name]
    done = result.counts.get("done", 0)
    failed = result.counts.get("failed", 0)
    if done != expected or failed:
        result.notes.append(f"MISMATCH: expected {expected} done, got {done} ({failed} failed)")


# --- the naive baseline ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NaiveCost:
    """Seconds and calls per instance of each kind, as the naive loop measured them."""

    running: tuple[float, int]
    stopped: tuple[float, int]
    kept: tuple[float, int]
    sample: dict[str, int]

    def scale(self, mixes: Sequence[RegionMix]) -> tuple[float, int]:
        running = sum(m.running_releasable for m in mixes)
        stopped = sum(m.stopped_releasable for m in mixes)
        kept = sum(m.total for m in mixes) - running - stopped
        seconds = running * self.running[0] + stopped * self.stopped[0] + kept * self.kept[0]
        calls = running * self.running[1] + stopped * self.stopped[1] + kept * self.kept[1]
        return seconds, calls


def naive_release(client: Any, region: str, instance_id: str) -> int:
    """Alibaba's sample, per instance: describe, stop, poll until Stopped, delete. Returns calls."""
    from alibabacloud_ecs20140526 import models  # noqa: PLC0415 - the SDK only where it is used

    def describe() -> Any:
        request = models.DescribeInstancesRequest(
            region_id=region, instance_ids=json.dumps([instance_id])
        )
        listed = client.describe_instances(request).body.instances.instance
        return listed[0] if listed else None

    calls = 1
    detail = describe()
    if detail is None:
        return calls
    tags = {tag.tag_key: tag.tag_value for tag in (detail.tags.tag if detail.tags else [])}
    protected = str(tags.get(PROTECT_TAG, "false")).lower() != "false"
    if (
        protected
        or detail.deletion_protection
        or detail.instance_charge_type != "PostPaid"
        or detail.status not in ("Running", "Stopped")
    ):
        return calls
    if detail.status == "Running":
        client.stop_instance(models.StopInstanceRequest(instance_id=instance_id))
        calls += 1
        while True:
            time.sleep(NAIVE_POLL_SECONDS)
            calls += 1
            if describe().status == "Stopped":
                break
    client.delete_instance(models.DeleteInstanceRequest(instance_id=instance_id))
    return calls + 1


def measure_naive(emulator: EcsEmulator, per_kind: int) -> NaiveCost:
    """Time the naive loop on `per_kind` instances of each kind, on the same emulator settings."""
    emulator.reset()
    region = REGIONS[0]
    kinds: dict[str, list[InstanceSpec]] = {
        "running": [InstanceSpec(region=region, status="Running", tags={"env": "dev"})] * per_kind,
        "stopped": [InstanceSpec(region=region, status="Stopped", tags={"env": "dev"})] * per_kind,
        "kept": [
            InstanceSpec(region=region, status="Stopped", tags={"env": "dev", PROTECT_TAG: "true"}),
            InstanceSpec(region=region, status="Stopped", deletion_protection=True),
            InstanceSpec(region=region, status="Running", charge_type="PrePaid"),
        ],
    }
    ids = {
        kind: [view.instance_id for view in emulator.add_fleet(specs)]
        for kind, specs in kinds.items()
    }
    emulator.set_faults([FaultRule(operation="*", latency=LATENCY)])
    client = make_sdk_client(emulator, region, connect_timeout_ms=5000, read_timeout_ms=15000)
    measured: dict[str, tuple[float, int]] = {}
    for kind, instance_ids in ids.items():
        started = time.perf_counter()
        calls = sum(naive_release(client, region, instance_id) for instance_id in instance_ids)
        elapsed = time.perf_counter() - started
        measured[kind] = (elapsed / len(instance_ids), round(calls / len(instance_ids)))
    return NaiveCost(
        running=measured["running"],
        stopped=measured["stopped"],
        kept=measured["kept"],
        sample={kind: len(instance_ids) for kind, instance_ids in ids.items()},
    )


# --- cold start ----------------------------------------------------------------------------------


def _median(runs: Sequence[PackageRun], field_name: str) -> float:
    return float(statistics.median(getattr(run, field_name) for run in runs))


def _summarise(runs: Sequence[PackageRun]) -> dict[str, float]:
    return {
        "wall_seconds": round(_median(runs, "wall_seconds"), 3),
        "import_seconds": round(_median(runs, "import_seconds"), 3),
        "handle_seconds": round(_median(runs, "handle_seconds"), 3),
        "cpu_seconds": round(_median(runs, "cpu_seconds"), 3),
        "peak_rss_mb": round(_median(runs, "peak_rss_mb"), 1),
        "rss_after_import_mb": round(_median(runs, "rss_after_import_mb"), 1),
    }


def measure_cold_start(
    emulator: EcsEmulator, packages: Packages, repeats: int, workdir: Path
) -> dict[str, Any]:
    """ecs-release's cold start with and without bytecode, alternating so that load hits both.

    Each run: a freshly unpacked read-only package, a fresh interpreter, the sample dry-run event
    against the emulator (no latency: what is timed is the function, not the network).
    """
    emulator.reset()
    emulator.add_fleet(build_fleet(COLD_FLEET))
    emulator.set_faults([])
    event = COLD_EVENT.read_bytes()
    runs: dict[str, list[PackageRun]] = {"bytecode": [], "source only": []}
    for _ in range(repeats):
        for variant, runs_of_variant in runs.items():
            run = run_cold(
                packages, COLD_FUNCTION, event, emulator, workdir, bytecode=variant == "bytecode"
            )
            if run.error is not None or run.summary.get("counts", {}).get("planned", 0) == 0:
                raise RuntimeError(f"the cold start run did not plan anything: {run}")
            runs_of_variant.append(run)
    summaries = {variant: _summarise(variant_runs) for variant, variant_runs in runs.items()}
    with_bytecode, without = summaries["bytecode"], summaries["source only"]
    ratio = with_bytecode["wall_seconds"] / without["wall_seconds"]
    code = unpack(packages.archives[COLD_FUNCTION], workdir / "code")
    plain = unpack(packages.archives[COLD_FUNCTION], workdir / "plain", bytecode=False)
    try:
        breakdown = {
            "bytecode": import_breakdown(packages.python, code, repeats),
            "source only": import_breakdown(packages.python, plain, max(1, repeats // 2)),
        }
    finally:
        remove(code)
        remove(plain)
    return {
        "function": COLD_FUNCTION,
        "event": COLD_EVENT.name,
        "repeats": repeats,
        "runs": summaries,
        "ratio": round(ratio, 3),
        "cpu_ratio": round(with_bytecode["cpu_seconds"] / without["cpu_seconds"], 3),
        "import_milliseconds": breakdown,
        "targets": {
            "ratio": ratio <= COLD_RATIO_TARGET,
            "peak_rss": with_bytecode["peak_rss_mb"] < COLD_RSS_TARGET_MB,
        },
    }


def build_packages(out: Path) -> Packages:
    """The code packages exactly as `make build` writes them (its dependency cache included)."""
    archives = build(out, ROOT / "build", list(PACKAGE_OF.values()))
    return Packages(
        python=find_runtime_python(),
        archives={archive.stem: archive for archive in archives},
    )


# --- report ---------------------------------------------------------------------------------------

_SHORT: Final = {
    "DescribeInstances": "describe",
    "StopInstances": "stop",
    "DeleteInstances": "delete",
    "ModifyInstanceAutoReleaseTime": "modify",
}


def _by_operation(calls: dict[str, int], bound: dict[str, int]) -> str:
    operations = sorted(
        set(calls) | set(bound), key=lambda op: list(_SHORT).index(op) if op in _SHORT else 99
    )
    return ", ".join(
        f"{_SHORT.get(op, op)} {calls.get(op, 0)}/{bound.get(op, 0)}" for op in operations
    )


def _verdict(holds: bool) -> str:
    return "holds" if holds else "MISSED"


def _largest_release(results: Sequence[RunResult]) -> RunResult | None:
    largest = max((r.fleet for r in results), default=0)
    return next((r for r in results if r.scenario == "release" and r.fleet == largest), None)


def _memory_verdict(result: RunResult) -> str:
    """The release's peak RSS against the target; a miss says by how much and where it went."""
    holds = result.peak_rss_mb < RSS_TARGET_MB
    line = (
        f"- release of {result.fleet:,}, started cold: peak RSS {result.peak_rss_mb:.0f} MB "
        f"(target < {RSS_TARGET_MB:.0f}, FC's smallest memory size): {_verdict(holds)}"
    )
    if not holds:
        run_share = result.peak_rss_mb - result.rss_after_import_mb
        line += (
            f", by {result.peak_rss_mb - RSS_TARGET_MB:.0f} MB: {result.rss_after_import_mb:.0f}"
            f" MB are held once the handler is imported (the SDK, pydantic, the interpreter), "
            f"{run_share:.0f} MB are the run's own (instances, requests, threads)"
        )
    return line


def render_targets(results: Sequence[RunResult], cold: dict[str, Any]) -> list[str]:
    lines = ["Targets:"]
    with_bytecode = cold["runs"]["bytecode"]
    lines += [
        f"- cold start with bytecode {cold['ratio']:.2f} x the same package without (target <= "
        f"{COLD_RATIO_TARGET}): {_verdict(cold['targets']['ratio'])}",
        f"- cold start peak RSS {with_bytecode['peak_rss_mb']:.0f} MB (target < "
        f"{COLD_RSS_TARGET_MB:.0f}): {_verdict(cold['targets']['peak_rss'])}",
    ]
    release = _largest_release(results)
    if release is not None:
        lines += [
            f"- release of {release.fleet:,}: ECS calls {release.calls_ratio:.2f} x the lower bound"
            f" (target <= {CALLS_TARGET}): {_verdict(release.calls_ratio <= CALLS_TARGET)}",
            f"- release of {release.fleet:,}: {release.speedup or 0:,.0f} x faster than the naive "
            f"baseline (target >= {SPEEDUP_TARGET:.0f}): "
            f"{_verdict((release.speedup or 0) >= SPEEDUP_TARGET)}",
            _memory_verdict(release),
        ]
    return lines


def render_cold_start(cold: dict[str, Any]) -> list[str]:
    """The cold start table, and the import time by part."""
    lines = [
        f"Cold start of the built `{cold['function']}` package ({cold['event']}, a dry run, "
        f"against the emulator without latency; median of {cold['repeats']} fresh interpreters, "
        "each on a freshly unpacked read-only copy):",
        "",
        "| package | wall s | import s | first event s | CPU s | RSS after import MB | "
        "peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for variant, label in (("bytecode", "as built (bytecode)"), ("source only", "without .pyc")):
        run = cold["runs"][variant]
        lines.append(
            f"| {label} | {run['wall_seconds']:.2f} | {run['import_seconds']:.2f} | "
            f"{run['handle_seconds']:.2f} | {run['cpu_seconds']:.2f} | "
            f"{run['rss_after_import_mb']:.0f} | {run['peak_rss_mb']:.0f} |"
        )
    lines += [
        "",
        f"With bytecode: {cold['ratio']:.2f} x the wall time, {cold['cpu_ratio']:.2f} x the CPU "
        "time of the same package without.",
        "",
        "Import of the handler by part (ms, `-X importtime`, median; standard-library modules "
        "count for the part that imported them):",
        "",
        "| part | as built (bytecode) | without .pyc |",
        "|---|---:|---:|",
    ]
    breakdown = cold["import_milliseconds"]
    parts = sorted(breakdown["source only"], key=lambda part: -breakdown["source only"][part])
    for part in parts:
        lines.append(
            f"| {part} | {breakdown['bytecode'].get(part, 0.0):,.0f} | "
            f"{breakdown['source only'][part]:,.0f} |"
        )
    totals = {variant: sum(values.values()) for variant, values in breakdown.items()}
    lines.append(f"| total | {totals['bytecode']:,.0f} | {totals['source only']:,.0f} |")
    return lines


def render_table(results: Sequence[RunResult], cold: dict[str, Any], notes: Sequence[str]) -> str:
    lines = [
        "| function | fleet | ECS calls (by operation: made/lower bound) | calls | lower bound | "
        "ratio | calls/instance | wall s | naive s (scaled) | speed-up | RSS after import MB | "
        "peak RSS MB | CPU s |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        naive = f"{result.naive_seconds:,.0f}" if result.naive_seconds is not None else "-"
        speedup = f"{result.speedup:,.0f}x" if result.speedup is not None else "-"
        lines.append(
            f"| {result.scenario} | {result.fleet:,} | "
            f"{_by_operation(result.calls, result.lower_bound)} | {result.total_calls:,} | "
            f"{result.total_bound:,} | {result.calls_ratio:.2f} | "
            f"{result.total_calls / result.fleet:.3f} | {result.wall_seconds:.1f} | {naive} | "
            f"{speedup} | {result.rss_after_import_mb:.0f} | {result.peak_rss_mb:.0f} | "
            f"{result.cpu_seconds:.1f} |"
        )
    lines += [
        "",
        *render_cold_start(cold),
        "",
        *render_targets(results, cold),
        "",
        *[f"- {note}" for note in notes],
    ]
    return "\n".join(lines) + "\n"


def check_targets(results: Sequence[RunResult], cold: dict[str, Any]) -> dict[str, Any]:
    targets: dict[str, Any] = {
        "cold_start_ratio": cold["targets"]["ratio"],
        "cold_start_peak_rss": cold["targets"]["peak_rss"],
    }
    release = _largest_release(results)
    if release is not None:
        targets.update(
            release_fleet=release.fleet,
            release_calls_ratio=release.calls_ratio <= CALLS_TARGET,
            release_speedup=(release.speedup or 0.0) >= SPEEDUP_TARGET,
            release_peak_rss=release.peak_rss_mb < RSS_TARGET_MB,
        )
    targets["all_runs_correct"] = all(
        not any(note.startswith("MISMATCH") for note in r.notes) and r.exit_code == 0
        for r in results
    )
    return targets


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000", help="fleet sizes, comma-separated")
    parser.add_argument(
        "--large-manual",
        action="store_true",
        help="also run the manual release_after at the largest size (one call per instance)",
    )
    parser.add_argument("--naive-per-kind", type=int, default=2)
    parser.add_argument(
        "--cold-repeats", type=int, default=7, help="cold starts of each package variant"
    )
    parser.add_argument("--output", default=str(RESULTS / "latest"))
    parser.add_argument(
        "--only",
        choices=("fanout",),
        help="run one section alone: fanout (the hub over many accounts, about 1-2 minutes)",
    )
    parser.add_argument("--fanout-output", default=str(RESULTS / "fanout"))
    options = parser.parse_args(argv)
    if options.only == "fanout":
        return run_fanout(Path(options.fanout_output))
    sizes = [int(size) for size in options.sizes.split(",") if size]
    largest = max(sizes)
    notes = [
        f"Emulator: {LATENCY * 1000:.0f} ms latency per call, Stopping->Stopped after "
        f"{STOP_DELAY:.0f} s (real clock); fleets over {', '.join(REGIONS)}, "
        "half Running, half Stopped, 5% each protect-tagged, deletion-protected, PrePaid; "
        "one in ten tagged auto-release=30d.",
        "Defaults: ECS_CALLS_PER_SECOND, ECS_CONCURRENCY and ECS_POLL_SECONDS unset. Every run "
        "is a cold start of the built package in a fresh python3.10 (bench/coldstart.py); wall "
        "time, CPU time and peak RSS are the child process's own (interpreter start to exit).",
    ]
    started = time.perf_counter()
    results: list[RunResult] = []
    with (
        tempfile.TemporaryDirectory(prefix="ecs-bench-") as scratch,
        EcsEmulator(clock=SystemClock(), stop_delay=STOP_DELAY) as emulator,
    ):
        workdir = Path(scratch)
        print("building the packages ...", flush=True)  # noqa: T201
        packages = build_packages(workdir / "build")
        print("timing cold starts ...", flush=True)  # noqa: T201
        cold = measure_cold_start(emulator, packages, options.cold_repeats, workdir)
        naive = measure_naive(emulator, options.naive_per_kind)
        notes.append(
            "Naive baseline (describe, StopInstance, poll DescribeInstances every "
            f"{NAIVE_POLL_SECONDS:.0f} s, DeleteInstance; one instance at a time, raw SDK) "
            "timed on "
            f"{naive.sample['running']} running, {naive.sample['stopped']} stopped and "
            f"{naive.sample['kept']} kept (protect-tagged, deletion-protected, PrePaid) instances "
            f"({naive.running[0]:.1f} s, "
            f"{naive.stopped[0]:.2f} s and {naive.kept[0]:.2f} s each), scaled linearly to each "
            "fleet's mix."
        )
        for size in sizes:
            fleet = build_fleet(size)
            for scenario in SCENARIOS:
                if (
                    scenario.name == "auto-release (manual release_after)"
                    and size == largest
                    and len(sizes) > 1
                    and not options.large_manual
                ):
                    notes.append(
                        f"Not run at {size:,}: the manual release_after "
                        "(ModifyInstanceAutoReleaseTime has no batch form: one call per "
                        "instance, paced at 20 calls/s). "
                        "`--large-manual` runs it."
                    )
                    continue
                print(f"running {scenario.name} on {size:,} instances ...", flush=True)  # noqa: T201
                result = run_scenario(emulator, scenario, fleet, workdir, packages)
                if scenario.name == "release":
                    mixes = [region_mix(fleet, region) for region in REGIONS]
                    seconds, calls = naive.scale(mixes)
                    result.naive_seconds, result.naive_calls = round(seconds, 1), calls
                results.append(result)
    targets = check_targets(results, cold)
    notes.append(f"Benchmark took {time.perf_counter() - started:.0f} s on {os.cpu_count()} cores.")
    table = render_table(results, cold, notes)
    output = Path(options.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        # The interpreter by name only: a path would record this machine, not the benchmark.
        "runtime_python": Path(packages.python).name,
        "settings": {
            "latency_seconds": LATENCY,
            "stop_delay_seconds": STOP_DELAY,
            "regions": REGIONS,
        },
        "naive": asdict(naive),
        "runs": [result.to_dict() for result in results],
        "cold_start": cold,
        "targets": targets,
        "notes": notes,
    }
    output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)  # noqa: T201 - the benchmark's output
    print(json.dumps({"targets": targets}, indent=2))  # noqa: T201
    return run_fanout(Path(options.fanout_output))


def run_fanout(output: Path) -> int:
    """The fan-out section (bench/fanout.py), written to `output`.{json,md}."""
    result = fanout.measure()
    machine = f"{os.cpu_count()} cores (shared with other work: timings are noisy)"
    table = fanout.render(result, machine)
    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": machine,
        **result,
    }
    output.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    output.with_suffix(".md").write_text(table, encoding="utf-8")
    print(table)  # noqa: T201 - the benchmark's output
    print(json.dumps({"targets": result["targets"]}, indent=2))  # noqa: T201
    return 0 if all(result["targets"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
