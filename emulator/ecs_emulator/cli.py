"""The standalone emulator: ``ecs-lifecycle emulator`` (or ``python -m ecs_emulator``).

It serves the demo fleet (whose ids are those of the shared sample events), a fleet file, or a
generated mix; prints the endpoint and every environment line the next command needs, a short
table of the fleet (``--list``: all of it), then serves until Ctrl-C or SIGTERM. ``--no-serve``
prints the fleet and exits (to check a fleet file). It runs on real time by default, so
instances stop and snapshots finish by themselves, as in ECS.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from types import FrameType
from typing import Final, TextIO

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import Clock, FakeClock, SystemClock
from ecs_emulator.demo import demo_fleet
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.faults import FaultRule
from ecs_emulator.fleet import FleetSpec, InstanceSpec, generate_fleet, load_fleet_file
from ecs_emulator.model import InstanceView
from ecs_lifecycle.render import table

TABLE_ROWS: Final = 25
# A generated fleet holds some of every kind the functions must keep, so that trying them shows it.
DEFAULT_SHARES: Final = {"protected": 0.1, "prepaid": 0.1, "deletion_protected": 0.1}
DEFAULT_TAG_MIX: Final = ("env=dev,test,prod", "team=alpha,beta", "owner=alice,bob,carol")
ACTIVATE: Final = ". .venv/bin/activate   # puts ecs-lifecycle on the PATH"
TRY_COMMAND: Final = "ecs-lifecycle invoke release --event events/manual-release-dry-run.json"


def _tag_mix(values: Sequence[str]) -> dict[str, tuple[str, ...]]:
    mix: dict[str, tuple[str, ...]] = {}
    for item in values:
        key, sep, choices = item.partition("=")
        if not sep or not key or not choices:
            raise argparse.ArgumentTypeError(f"--tag wants KEY=VALUE[,VALUE...], got {item!r}")
        mix[key] = tuple(choice for choice in choices.split(",") if choice)
    return mix


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a share is between 0 and 1, got {text}")
    return value


def build_parser(prog: str = "python -m ecs_emulator") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="A local ECS 2014-05-26 API for the Alibaba SDK (plain HTTP on loopback). "
        "With no --fleet or --count it serves the demo fleet, whose ids are those of the sample "
        "events in the repository's events/.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: a free port)")
    parser.add_argument(
        "--list", action="store_true", help="print every instance, not only the first 25"
    )
    parser.add_argument(
        "--no-serve",
        action="store_true",
        help="print the fleet and exit without serving (to check a fleet file)",
    )
    fleet = parser.add_argument_group("fleet (the demo fleet, a file, or a generated mix)")
    fleet.add_argument(
        "--fleet", metavar="FILE", help="JSON list of instances (see ecs_emulator.fleet)"
    )
    fleet.add_argument(
        "--count", type=int, default=None, help="generate this many instances instead"
    )
    fleet.add_argument(
        "--regions",
        default="cn-hangzhou",
        help="comma-separated regions of a generated fleet (default cn-hangzhou)",
    )
    fleet.add_argument("--seed", type=int, default=0, help="seed for the fleet, ids and faults")
    fleet.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=V1,V2",
        help="a tag key and the values drawn for it (repeatable; default "
        + " ".join(DEFAULT_TAG_MIX)
        + ")",
    )
    fleet.add_argument(
        "--running-share",
        type=_share,
        default=0.5,
        help="share Running (default 0.5); the rest Stopped, or Pending",
    )
    fleet.add_argument("--pending-share", type=_share, default=0.0, help="share Pending")
    fleet.add_argument(
        "--prepaid-share",
        type=_share,
        default=DEFAULT_SHARES["prepaid"],
        help="share subscription (PrePaid: never released; default %(default)s)",
    )
    fleet.add_argument("--spot-share", type=_share, default=0.0, help="share spot instances")
    fleet.add_argument(
        "--deletion-protected-share",
        type=_share,
        default=DEFAULT_SHARES["deletion_protected"],
        help="share with ECS deletion protection on (default %(default)s)",
    )
    fleet.add_argument(
        "--protected-share",
        type=_share,
        default=DEFAULT_SHARES["protected"],
        help="share carrying --protect-tag=true (default %(default)s)",
    )
    fleet.add_argument(
        "--protect-tag", default="protected", help="the protect tag's key (default protected)"
    )
    fleet.add_argument("--data-disks", type=int, default=0, help="data disks per instance")
    behaviour = parser.add_argument_group("behaviour")
    behaviour.add_argument(
        "--stop-delay", type=float, default=30.0, help="seconds Stopping lasts (default 30)"
    )
    behaviour.add_argument(
        "--snapshot-duration",
        type=float,
        default=60.0,
        help="seconds a snapshot takes (default 60)",
    )
    behaviour.add_argument("--latency-ms", type=float, default=0.0, help="added to every call")
    behaviour.add_argument(
        "--throttle-rate", type=_share, default=0.0, help="share of calls answered Throttling"
    )
    behaviour.add_argument(
        "--unavailable-rate",
        type=_share,
        default=0.0,
        help="share of calls answered 503 ServiceUnavailable",
    )
    behaviour.add_argument(
        "--drop-rate", type=_share, default=0.0, help="share of connections dropped unanswered"
    )
    clocks = behaviour.add_mutually_exclusive_group()
    clocks.add_argument(
        "--real-clock",
        dest="fake_clock",
        action="store_false",
        help="run on real time (the default)",
    )
    clocks.add_argument(
        "--fake-clock",
        dest="fake_clock",
        action="store_true",
        help="a fake clock at 2026-11-26T06:00Z that never moves: states change only by call",
    )
    # Without this the first of the two actions (store_false) would make the default True.
    parser.set_defaults(fake_clock=False)
    behaviour.add_argument("--sts", action="store_true", help="require the fake STS token too")
    return parser


def fleet_from_options(options: argparse.Namespace, now: datetime) -> list[InstanceSpec]:
    """The fleet file, the generated mix (--count), or else the demo fleet."""
    if options.fleet:
        return load_fleet_file(options.fleet)
    if options.count is None:
        return demo_fleet(now)
    regions = tuple(r.strip() for r in options.regions.split(",") if r.strip())
    spec = FleetSpec(
        count=options.count,
        regions=regions,
        seed=options.seed,
        running_share=options.running_share,
        pending_share=options.pending_share,
        prepaid_share=options.prepaid_share,
        spot_share=options.spot_share,
        deletion_protected_share=options.deletion_protected_share,
        protected_share=options.protected_share,
        protect_tag=options.protect_tag,
        data_disks=options.data_disks,
        tag_mix=_tag_mix(options.tag or DEFAULT_TAG_MIX),
    )
    return generate_fleet(spec)


def write_fleet_table(
    instances: Sequence[InstanceView], out: TextIO, rows: int = TABLE_ROWS
) -> None:
    """A summary by region and status, then the first ``rows`` instances, fitted to the
    terminal's width (the tags wrap)."""
    summary = Counter((i.region, i.status, i.charge_type) for i in instances)
    out.write(f"{len(instances)} instances\n")
    for (region, status, charge), count in sorted(summary.items()):
        out.write(f"  {region:<16} {status:<9} {charge:<9} {count:>6}\n")
    lines = [("INSTANCE", "NAME", "REGION", "STATUS", "CHARGE", "DELPROT", "TAGS")]
    for instance in instances[:rows]:
        lines.append(
            (
                instance.instance_id,
                instance.name,
                instance.region,
                instance.status,
                instance.charge_type,
                "yes" if instance.deletion_protection else "no",
                ",".join(f"{k}={v}" for k, v in sorted(instance.tags.items())) or "-",
            )
        )
    out.write("\n" + "\n".join(table(lines, shutil.get_terminal_size().columns)) + "\n")
    if len(instances) > rows:
        out.write(f"... and {len(instances) - rows} more (--list shows them all)\n")


def environment_lines(emulator: EcsEmulator, region: str) -> list[str]:
    """What `ecs-lifecycle invoke` needs in its environment to use this emulator (all values are
    fake), `region` being the default region of a run whose event names none."""
    credentials = emulator.credentials
    # The deployment's region fence: every region the fleet is in, so that an event naming any
    # of them (the sample dry run names two) is inside it.
    fleet_regions = sorted({view.region for view in emulator.instances()} | {region})
    lines = [
        f"FC_REGION={region}",
        f"TARGET_REGIONS={','.join(fleet_regions)}",
        f"ECS_ENDPOINT={emulator.endpoint}",
        "ECS_PROTOCOL=http",
        # The same server answers ActionTrail's LookupEvents (release's stopped_for).
        f"ACTIONTRAIL_ENDPOINT={emulator.endpoint}",
        "ACTIONTRAIL_PROTOCOL=http",
        f"ALIBABA_CLOUD_ACCESS_KEY_ID={credentials.access_key_id}",
        f"ALIBABA_CLOUD_ACCESS_KEY_SECRET={credentials.access_key_secret}",
    ]
    if credentials.security_token:
        lines.append(f"ALIBABA_CLOUD_SECURITY_TOKEN={credentials.security_token}")
    return lines


def build_emulator(options: argparse.Namespace) -> tuple[EcsEmulator, list[InstanceView]]:
    """The emulator the options describe, with its fleet added (not started yet).

    Raises:
        OSError, TypeError, ValueError: the fleet cannot be built.
    """
    clock: Clock = FakeClock() if options.fake_clock else SystemClock()
    fleet = fleet_from_options(options, clock.now())
    credentials = (
        EmulatorCredentials.default_sts() if options.sts else EmulatorCredentials.default()
    )
    emulator = EcsEmulator(
        credentials=credentials,
        clock=clock,
        stop_delay=options.stop_delay,
        snapshot_duration=options.snapshot_duration,
        seed=options.seed,
        host=options.host,
        port=options.port,
    )
    return emulator, emulator.add_fleet(fleet)


def main(argv: list[str] | None = None, prog: str = "python -m ecs_emulator") -> int:
    options = build_parser(prog).parse_args(argv)
    out = sys.stdout
    try:
        emulator, instances = build_emulator(options)
    except (OSError, TypeError, ValueError) as error:
        sys.stderr.write(f"error: cannot build the fleet: {error}\n")
        return 2
    rows = len(instances) if options.list or options.no_serve else TABLE_ROWS
    if options.no_serve:
        write_fleet_table(instances, out, rows=rows)
        return 0
    rule = FaultRule(
        latency=options.latency_ms / 1000,
        throttle_rate=options.throttle_rate,
        unavailable_rate=options.unavailable_rate,
        drop_rate=options.drop_rate,
    )
    emulator.set_faults([rule], seed=options.seed)
    stop_requested = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop_requested.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    region = instances[0].region if instances else "cn-hangzhou"
    with emulator:
        clock_text = "a fake clock that never moves" if options.fake_clock else "real time"
        out.write(
            f"ECS emulator listening on http://{emulator.endpoint}/ on {clock_text} "
            "(Ctrl-C to stop)\n\n"
            "In another shell, from the repository root (fake credentials; nothing real):\n"
        )
        out.write("".join(f"export {line}\n" for line in environment_lines(emulator, region)))
        out.write(f"{ACTIVATE}\n{TRY_COMMAND}\n\n")
        write_fleet_table(emulator.instances(), out, rows=rows)
        out.flush()
        while not stop_requested.wait(0.5):
            pass
    out.write("stopped\n")
    return 0
