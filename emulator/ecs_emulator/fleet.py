"""Describing fleets: one instance (:class:`InstanceSpec`), a generated mix (:class:`FleetSpec`),
or a JSON file.

A fleet file is a JSON list of objects with the :class:`InstanceSpec` field names, times as
ISO-8601 strings with a zone, for example::

    [{"region": "cn-hangzhou", "status": "Running", "tags": {"env": "dev"}},
     {"region": "cn-hangzhou", "instance_id": "i-prod1", "tags": {"env": "prod"},
      "deletion_protection": true, "auto_release_time": "2026-12-01T00:00:00Z"}]
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ecs_emulator.model import INSTANCE_STATUSES, LOCK_REASONS


@dataclass(frozen=True)
class DiskSpec:
    disk_type: str = "data"  # "system" or "data"
    size_gib: int = 40
    category: str = "cloud_essd"
    delete_with_instance: bool = True


@dataclass(frozen=True)
class InstanceSpec:
    """Everything :meth:`EcsEmulator.add_instance` accepts, as data."""

    region: str = "cn-hangzhou"
    instance_id: str | None = None
    status: str = "Running"
    tags: Mapping[str, str] = field(default_factory=dict)
    charge_type: str = "PostPaid"
    spot_strategy: str = "NoSpot"
    deletion_protection: bool = False
    auto_release_time: datetime | None = None
    creation_time: datetime | None = None
    name: str | None = None
    disks: int | Sequence[DiskSpec] | None = None
    expired: bool = False
    resource_group_id: str = ""
    instance_type: str = "ecs.g7.large"
    zone: str | None = None
    lock_reasons: Sequence[str] = ()

    def __post_init__(self) -> None:
        check_lock_reasons(self.lock_reasons)
        if self.status not in INSTANCE_STATUSES:
            raise ValueError(f"unknown instance status {self.status!r}")
        if self.charge_type not in ("PostPaid", "PrePaid"):
            raise ValueError(f"unknown charge type {self.charge_type!r}")
        if self.spot_strategy not in ("NoSpot", "SpotWithPriceLimit", "SpotAsPriceGo"):
            raise ValueError(f"unknown spot strategy {self.spot_strategy!r}")
        for moment in (self.auto_release_time, self.creation_time):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("instance times must be aware datetimes (UTC)")


def check_lock_reasons(reasons: Sequence[str]) -> None:
    """Refuse a lock reason ECS does not document (a typo would otherwise lock nothing)."""
    if isinstance(reasons, str):
        raise TypeError("lock_reasons is a list of reasons, not one string")
    unknown = [reason for reason in reasons if reason not in LOCK_REASONS]
    if unknown:
        raise ValueError(f"unknown lock reason(s) {unknown}; known: {', '.join(LOCK_REASONS)}")


@dataclass(frozen=True)
class FleetSpec:
    """A generated fleet: ``count`` instances spread over ``regions``, reproducible by ``seed``.

    Shares are fractions of the fleet. ``tag_mix`` maps a tag key to the values drawn for it
    (uniformly); ``protected_share`` of the instances carry ``protect_tag``=``"true"``.
    """

    count: int
    regions: Sequence[str] = ("cn-hangzhou",)
    seed: int = 0
    running_share: float = 0.5
    pending_share: float = 0.0
    prepaid_share: float = 0.0
    spot_share: float = 0.0
    deletion_protected_share: float = 0.0
    protected_share: float = 0.0
    protect_tag: str = "protected"
    tag_mix: Mapping[str, Sequence[str]] = field(
        default_factory=lambda: {"env": ("dev", "test", "prod"), "team": ("alpha", "beta")}
    )
    untagged_share: float = 0.0
    data_disks: int = 0

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError("count cannot be negative")
        if not self.regions:
            raise ValueError("a fleet needs at least one region")
        shares = (
            self.running_share,
            self.pending_share,
            self.prepaid_share,
            self.spot_share,
            self.deletion_protected_share,
            self.protected_share,
            self.untagged_share,
        )
        if any(not 0 <= share <= 1 for share in shares):
            raise ValueError("shares are fractions between 0 and 1")
        if self.running_share + self.pending_share > 1:
            raise ValueError("running_share + pending_share cannot exceed 1")


def generate_fleet(spec: FleetSpec) -> list[InstanceSpec]:
    """Instances for ``spec``, round-robin over its regions; same spec -> same fleet."""
    rng = random.Random(spec.seed)
    fleet: list[InstanceSpec] = []
    for index in range(spec.count):
        draw = rng.random()
        if draw < spec.running_share:
            status = "Running"
        elif draw < spec.running_share + spec.pending_share:
            status = "Pending"
        else:
            status = "Stopped"
        prepaid = rng.random() < spec.prepaid_share
        spot = not prepaid and rng.random() < spec.spot_share
        tags: dict[str, str] = {}
        if rng.random() >= spec.untagged_share:
            tags = {key: rng.choice(list(values)) for key, values in spec.tag_mix.items() if values}
        if rng.random() < spec.protected_share:
            tags[spec.protect_tag] = "true"
        # Deletion protection is only valid for pay-as-you-go, non-spot instances.
        protected = not prepaid and not spot and rng.random() < spec.deletion_protected_share
        fleet.append(
            InstanceSpec(
                region=spec.regions[index % len(spec.regions)],
                status=status,
                tags=tags,
                charge_type="PrePaid" if prepaid else "PostPaid",
                spot_strategy="SpotAsPriceGo" if spot else "NoSpot",
                deletion_protection=protected,
                name=f"fleet-{index:05d}",
                disks=1 + spec.data_disks,
            )
        )
    return fleet


def _parse_time(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be an ISO-8601 string")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone: {value!r}")
    return moment


def instance_spec_from_dict(data: Mapping[str, Any]) -> InstanceSpec:
    known = {f.name for f in fields(InstanceSpec)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown instance field(s): {', '.join(sorted(unknown))}")
    values = dict(data)
    for name in ("auto_release_time", "creation_time"):
        values[name] = _parse_time(values.get(name), name)
    disks = values.get("disks")
    if isinstance(disks, list):
        values["disks"] = [DiskSpec(**disk) for disk in disks]
    return InstanceSpec(**values)


def load_fleet_file(path: str | Path) -> list[InstanceSpec]:
    """Read a fleet file (a JSON list of instance objects, see the module docstring).

    Raises:
        TypeError, ValueError: the file is not a list of valid instance objects.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list):
        raise TypeError("a fleet file holds a JSON list of instances")
    specs = []
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise TypeError(f"fleet entry {position} is not an object")
        try:
            specs.append(instance_spec_from_dict(item))
        except (TypeError, ValueError) as error:
            raise ValueError(f"fleet entry {position}: {error}") from error
    return specs


DEFAULT_CREATION_AGE = timedelta(days=3)
