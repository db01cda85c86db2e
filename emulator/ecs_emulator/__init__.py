"""A local ECS 2014-05-26 API emulator for tests, the demo and benchmarks. Never shipped to FC.

The unmodified Alibaba SDK talks to it over HTTP on loopback::

    from ecs_emulator import EcsEmulator, FakeClock, make_sdk_client

    with EcsEmulator(clock=FakeClock(), stop_delay=30) as emu:
        emu.add_instance(region="cn-hangzhou", tags={"env": "dev"})
        client = make_sdk_client(emu)          # Config(endpoint=emu.endpoint, protocol="http")
        ...                                    # the SDK's StopInstances, DeleteInstances, ...
        emu.advance(30)                        # Stopping -> Stopped, without sleeping
        emu.calls_to("StopInstances")          # what was called, with which parameters

In pytest, the ``ecs_emulator`` fixture (``ecs_emulator.pytest_plugin``) gives each test a
fresh fleet on a shared server; ``python -m ecs_emulator`` runs it standalone.
"""

from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.client import make_sdk_client
from ecs_emulator.clock import Clock, FakeClock, SystemClock
from ecs_emulator.emulator import EcsEmulator
from ecs_emulator.errors import ApiError
from ecs_emulator.faults import FaultRule
from ecs_emulator.fleet import DiskSpec, FleetSpec, InstanceSpec, generate_fleet, load_fleet_file
from ecs_emulator.model import CallRecord, DiskView, InstanceView, ReleaseRecord, SnapshotView

__all__ = [
    "ApiError",
    "CallRecord",
    "Clock",
    "DiskSpec",
    "DiskView",
    "EcsEmulator",
    "EmulatorCredentials",
    "FakeClock",
    "FaultRule",
    "FleetSpec",
    "InstanceSpec",
    "InstanceView",
    "ReleaseRecord",
    "SnapshotView",
    "SystemClock",
    "generate_fleet",
    "load_fleet_file",
    "make_sdk_client",
]
