"""The emulator's front: one object a test starts, fills and inspects, for every service.

The parts live in their own modules: the HTTP server and the request's steps
(:mod:`ecs_emulator.server`), the services and their registry (:mod:`ecs_emulator.services`),
building and editing the world behind the API's back (:mod:`ecs_emulator.world`), the fault
rules (:mod:`ecs_emulator.faults`) and the mid-run changes (:mod:`ecs_emulator.changes`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from types import TracebackType

from ecs_emulator import world
from ecs_emulator.actiontrail import TrailLog
from ecs_emulator.auth import EmulatorCredentials
from ecs_emulator.clock import Clock, FakeClock, SystemClock
from ecs_emulator.fleet import DiskSpec, InstanceSpec
from ecs_emulator.hooks import FaultHooks
from ecs_emulator.iam import DEFAULT_MAX_SESSION_SECONDS, HOME_ACCOUNT, Role, check_account
from ecs_emulator.model import CallRecord, DiskView, InstanceView, ReleaseRecord, SnapshotView
from ecs_emulator.server import Backend, Dispatcher, Listener
from ecs_emulator.state import EmulatorSettings, FleetState


class EcsEmulator(FaultHooks):
    """A local Alibaba Cloud (ECS 2014-05-26, ActionTrail, ...). See the package docstring.

    The fault and mid-run hooks (``set_faults``, ``fail_instance``, ``on_call``, ...) come from
    :class:`~ecs_emulator.hooks.FaultHooks`.
    """

    def __init__(
        self,
        *,
        credentials: EmulatorCredentials | None = None,
        clock: Clock | None = None,
        stop_delay: float = 30.0,
        force_stop_delay: float | None = None,
        start_delay: float | None = None,
        snapshot_duration: float = 60.0,
        seed: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self._initial_credentials = credentials or EmulatorCredentials.default()
        self._initial_settings = EmulatorSettings(
            stop_delay=stop_delay,
            force_stop_delay=force_stop_delay,
            start_delay=start_delay,
            snapshot_duration=snapshot_duration,
        )
        self.seed = seed
        self._lock = threading.RLock()
        self._credentials = [self._initial_credentials]
        self._backend = self._new_backend(clock or SystemClock())
        self._listener = Listener(host, port, Dispatcher(self._lock, lambda: self._backend).handle)

    def _new_backend(self, clock: Clock) -> Backend:
        state = FleetState(replace(self._initial_settings), self.seed)
        return Backend(clock, state, self._credentials, seed=self.seed)

    # ----- server lifecycle (server.py's Listener) ----------------------------------------
    def start(self) -> EcsEmulator:
        self._listener.start()
        return self

    def stop(self) -> None:
        self._listener.stop()

    def __enter__(self) -> EcsEmulator:
        return self if self.running else self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._listener.running

    @property
    def endpoint(self) -> str:
        """``host:port`` - what the SDK's ``Config.endpoint`` wants (no scheme)."""
        return self._listener.endpoint

    # ----- configuration ---------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        return self._backend.clock

    @property
    def settings(self) -> EmulatorSettings:
        """Lifecycle timings; change them between calls (``emu.settings.stop_delay = 0``)."""
        return self._backend.state.settings

    @property
    def credentials(self) -> EmulatorCredentials:
        return self._credentials[0]

    def set_credentials(
        self, credentials: EmulatorCredentials, *others: EmulatorCredentials
    ) -> None:
        """Accept ``credentials`` (and ``others``) from now on, instead of the current ones."""
        with self._lock:
            self._credentials = [credentials, *others]
            self._backend.accept(self._credentials)

    @property
    def internal_errors(self) -> list[BaseException]:
        """Exceptions the emulator's own code raised while answering (each answered 500)."""
        return self._backend.internal_errors

    def now(self) -> datetime:
        return self._backend.clock.now()

    def advance(self, seconds: float) -> None:
        """Move a :class:`FakeClock` forward (a test convenience)."""
        if not isinstance(self._backend.clock, FakeClock):
            raise TypeError("advance() needs the emulator to run on a FakeClock")
        self._backend.clock.advance(seconds)

    def reset(self, *, clock: Clock | None = None) -> None:
        """Empty the fleet, the call log, faults and failures; restore constructor settings."""
        with self._lock:
            self._credentials = [self._initial_credentials]
            self._backend = self._new_backend(clock or self._backend.clock)

    # ----- the world, behind the API's back (world.py does the work) ----------------------
    def add_instance(
        self,
        *,
        region: str = "cn-hangzhou",
        instance_id: str | None = None,
        status: str = "Running",
        tags: dict[str, str] | None = None,
        charge_type: str = "PostPaid",
        spot_strategy: str = "NoSpot",
        deletion_protection: bool = False,
        auto_release_time: datetime | None = None,
        creation_time: datetime | None = None,
        name: str | None = None,
        disks: int | Sequence[DiskSpec] | None = None,
        expired: bool = False,
        resource_group_id: str = "",
        instance_type: str = "ecs.g7.large",
        zone: str | None = None,
        lock_reasons: Sequence[str] = (),
        account: str | None = None,
    ) -> InstanceView:
        """Add one instance (by default running, untagged, pay-as-you-go): InstanceSpec's fields;
        ``account``: it lives there, seen only by that account's sessions (default: home)."""
        fields = {k: v for k, v in locals().items() if k not in ("self", "tags", "lock_reasons")}
        del fields["account"]
        spec = InstanceSpec(**fields, tags=dict(tags or {}), lock_reasons=tuple(lock_reasons))
        return self.add_fleet([spec], account=account)[0]

    def add_fleet(
        self, specs: Iterable[InstanceSpec], *, account: str | None = None
    ) -> list[InstanceView]:
        with self._lock:
            now, state = self._backend.clock.now(), self._account(account)
            return [world.add_instance(state, spec, now).view() for spec in specs]

    def add_role(
        self,
        account: str,
        name: str,
        *,
        trusted_accounts: Iterable[str] = (HOME_ACCOUNT,),
        external_id: str | None = None,
        max_session_seconds: int = DEFAULT_MAX_SESSION_SECONDS,
    ) -> str:
        """A RAM role in ``account`` that ``trusted_accounts`` may assume (with ``external_id``,
        if given); returns its ARN. The emulator's own keys are HOME_ACCOUNT's."""
        trusted = frozenset(check_account(a) for a in trusted_accounts)
        role = Role(check_account(account), name, trusted, external_id, max_session_seconds)
        self._backend.iam.add_role(role)
        return role.arn

    def _account(self, account: str | None) -> FleetState:  # hold the lock
        return self._backend.account(check_account(account or HOME_ACCOUNT))

    def update_instance(
        self,
        instance_id: str,
        *,
        status: str | None = None,
        tags: dict[str, str] | None = None,
        deletion_protection: bool | None = None,
        auto_release_time: datetime | None = None,
        cancel_auto_release: bool = False,
        lock_reasons: Sequence[str] | None = None,
    ) -> InstanceView:
        """Change an instance behind the API's back, as a console user or another tool does
        (:func:`ecs_emulator.world.update_instance`; ``lock_reasons=[]`` lifts every lock)."""
        changes = {k: v for k, v in locals().items() if k not in ("self", "instance_id")}
        with self._lock:
            return world.update_instance(self._holding(instance_id), instance_id, **changes).view()

    def attach_disk(self, instance_id: str, spec: DiskSpec | None = None) -> DiskView:
        """Attach a new data disk to an instance (what AttachDisk does), behind the API's back."""
        with self._lock:
            state, now = self._holding(instance_id), self._backend.clock.now()
            return world.attach_disk(state, instance_id, spec or DiskSpec(), now).view()

    def release_now(self, instance_id: str) -> None:
        """Release an instance outside the API (someone else did it, e.g. in the console)."""
        with self._lock:
            state = self._holding(instance_id)
            state.release(world.live_instance(state, instance_id), self.now(), "external")

    def _settled(self, account: str | None = None) -> FleetState:
        """The account's state with every time-driven change due by now applied (hold the lock)."""
        state = self._account(account)
        state.settle(self._backend.clock.now())
        return state

    def _holding(self, instance_id: str | None) -> FleetState:
        """The settled state of the account holding (or that held) it, instance or disk; home's."""
        for account, state in list(self._backend.accounts.items()):
            if any(instance_id in held for held in (state.instances, state.released, state.disks)):
                return self._settled(account)
        return self._settled()

    # ----- what the world holds ------------------------------------------------------------
    def instance(self, instance_id: str, *, include_released: bool = False) -> InstanceView | None:
        """The instance as of now, or None once it is released (or if it never existed)."""
        with self._lock:
            return world.find_instance(self._holding(instance_id), instance_id, include_released)

    def instances(
        self, region: str | None = None, *, account: str | None = None
    ) -> list[InstanceView]:
        """Live instances in creation order (of one region, or all; of one account, or home)."""
        with self._lock:
            return world.instances(self._settled(account), region)

    @property
    def released_ids(self) -> dict[str, ReleaseRecord]:
        """Released instance ids, in release order, with when and how (call or auto-release)."""
        with self._lock:
            return {record.instance_id: record for record in self._settled().release_log}

    def disks(self, instance_id: str | None = None) -> list[DiskView]:
        with self._lock:
            return world.disks(self._holding(instance_id), instance_id)

    def snapshots(
        self, *, instance_id: str | None = None, disk_id: str | None = None
    ) -> list[SnapshotView]:
        with self._lock:
            return world.snapshots(self._backend.state, self.now(), instance_id, disk_id)

    @property
    def trail(self) -> TrailLog:
        """ActionTrail's records: the stop calls made here; ``trail.add(...)`` adds others."""
        with self._lock:
            return self._backend.state.trail

    # ----- the call log --------------------------------------------------------------------
    @property
    def calls(self) -> list[CallRecord]:
        with self._lock:
            return list(self._backend.calls)

    def calls_to(self, operation: str) -> list[CallRecord]:
        with self._lock:
            return [c for c in self._backend.calls if c.operation == operation]

    def clear_calls(self) -> None:
        with self._lock:
            self._backend.calls.clear()
