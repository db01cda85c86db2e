"""The emulator's test hooks for things going wrong: fault rules (:mod:`ecs_emulator.faults`),
resources that fail one operation, failing snapshots, and the world changing mid-run
(:mod:`ecs_emulator.changes`). A part of :class:`~ecs_emulator.emulator.EcsEmulator`'s API,
kept here so the emulator's class stays its front and nothing else."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence

from ecs_emulator.faults import FaultInjector, FaultRule, InstanceFailure
from ecs_emulator.server import Backend
from ecs_emulator.state import FleetState


class FaultHooks:
    """Mixed into EcsEmulator: acts on its current backend under its lock."""

    seed: int
    _lock: threading.RLock
    _backend: Backend

    # EcsEmulator's: the settled state of the account the resource is in.
    def _holding(self, resource_id: str | None) -> FleetState:
        raise NotImplementedError

    # ----- faults and mid-run changes (faults.py, changes.py) -------------------------------
    def set_faults(self, rules: Sequence[FaultRule], seed: int | None = None) -> None:
        """Replace the fault rules; ``seed`` (default: the emulator's) makes them reproducible."""
        with self._lock:
            seed = self.seed if seed is None else seed
            self._backend.faults = FaultInjector(list(rules), seed, clock=self._backend.clock)

    def clear_faults(self) -> None:
        self.set_faults([])

    @property
    def fault_counts(self) -> dict[str, int]:
        """Faults injected so far: by kind (``"throttle"``) and by ``"Operation:kind"``."""
        with self._lock:
            return dict(self._backend.faults.counts)

    def fail_instance(
        self,
        instance_id: str,
        *,
        operation: str,
        code: str = "IncorrectInstanceStatus",
        status: int = 403,
        message: str | None = None,
        times: int | None = None,
    ) -> None:
        """Make ``operation`` fail for this one resource with ``code`` (InstanceFailure.of)."""
        failure = InstanceFailure.of(
            instance_id, operation=operation, code=code, status=status, message=message, times=times
        )
        with self._lock:
            self._holding(instance_id).failures.append(failure)

    fail_resource = fail_instance

    def fail_snapshots(self, disk_id: str | None = None) -> None:
        """Snapshots created from now on (of ``disk_id``, or of every disk) end up ``failed``."""
        with self._lock:
            if disk_id is None:
                self._backend.state.fail_all_snapshots = True
            else:
                self._backend.state.failing_snapshot_disks.add(disk_id)

    def refuse_tagged_snapshots(self, refuse: bool = True) -> None:
        """CreateSnapshot with any Tag.N answers Forbidden.RAM, as RAM would if it authorised
        tags on create as ecs:TagResources (which the role's policy denies); untagged passes."""
        with self._lock:
            self._backend.state.refuse_tagged_snapshots = refuse

    def on_call(
        self, operation: str, change: Callable[[], object], *, nth: int = 1, before: bool = False
    ) -> None:
        """Change the world while a run is under way: someone tags, starts or protects an instance.

        ``change`` runs once, when the ``nth`` request for ``operation`` reaches the emulator:
        right after that operation took effect (before its answer is sent), or, with ``before``,
        just before it. It may call any of the emulator's own methods (``update_instance``,
        ``attach_disk``, ...), as a console user or another tool would act meanwhile.
        """
        self._backend.changes.add(operation, change, nth=nth, before=before)
