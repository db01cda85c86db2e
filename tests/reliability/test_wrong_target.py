"""Wrong-target protection: a prod twin, protected and deletion-protected instances, under faults.

The prod instance shares every tag but one with the dev fleet (env=prod instead of env=dev; the
same team and app), which is what a too-loose selector or a typo would catch. Throttling and 5xx
answers are on for every call, so retries, batch splitting and re-reads all run: none of it may
name an instance outside the selection, or one the rules keep alive.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ecs_emulator import EcsEmulator, FaultRule
from ecs_lifecycle.errors import RunFailedError
from ecs_lifecycle.model import Function
from tests.support import Runner

from .conftest import changing_calls, fleet_state, named_ids

SHARED = {"team": "core", "app": "web"}
DEV = {"env": "dev", **SHARED}
FAULTS = [FaultRule(throttle_rate=0.3, unavailable_rate=0.05, internal_error_rate=0.05)]


def _fleet(emulator: EcsEmulator) -> dict[str, list[str]]:
    def add(count: int, **kwargs: Any) -> list[str]:
        return [
            emulator.add_instance(region="cn-hangzhou", **kwargs).instance_id for _ in range(count)
        ]

    return {
        "dev": add(6, status="Running", tags=DEV) + add(6, status="Stopped", tags=DEV),
        "prod": add(1, status="Running", tags={"env": "prod", **SHARED})
        + add(1, status="Stopped", tags={"env": "prod", **SHARED}),
        "protected": add(1, status="Running", tags={**DEV, "protected": "true"})
        + add(1, status="Stopped", tags={**DEV, "protected": "yes"}),
        "deletion-protected": add(1, status="Running", tags=DEV, deletion_protection=True)
        + add(1, status="Stopped", tags=DEV, deletion_protection=True),
        "subscription": add(1, status="Stopped", tags=DEV, charge_type="PrePaid"),
    }


EVENTS: dict[str, tuple[Function, dict[str, Any]]] = {
    "stop (manual)": (Function.STOP, {"tags": DEV}),
    "stop (timer)": (
        Function.STOP,
        {"triggerTime": "t", "triggerName": "nightly", "payload": json.dumps({"tags": DEV})},
    ),
    "release": (Function.RELEASE, {"tags": DEV, "dry_run": False}),
    "release with force": (Function.RELEASE, {"tags": DEV, "dry_run": False, "force": True}),
    "set auto-release": (Function.AUTO_RELEASE, {"tags": DEV, "release_after": "8h"}),
    "auto-release from tags": (Function.AUTO_RELEASE, {"tags": {**DEV, "auto-release": "*"}}),
}
# Deletion protection guards against release: stop may stop such an instance (it is dev, and
# selected); release and auto-release (which releases despite deletion protection) must not.
MAY_STOP_DELETION_PROTECTED = {Function.STOP}


@pytest.mark.parametrize("name", list(EVENTS))
def test_prod_protected_and_deletion_protected_are_untouched(
    run: Runner, ecs_emulator: EcsEmulator, name: str
) -> None:
    function, event = EVENTS[name]
    groups = _fleet(ecs_emulator)
    if name == "auto-release from tags":
        for group in groups.values():  # every instance asks for a lifetime, prod included
            for instance_id in group:
                view = ecs_emulator.instance(instance_id)
                assert view is not None
                ecs_emulator.update_instance(instance_id, tags={**view.tags, "auto-release": "2d"})
    kept = groups["prod"] + groups["protected"] + groups["subscription"]
    if function not in MAY_STOP_DELETION_PROTECTED:
        kept += groups["deletion-protected"]
    before = fleet_state(ecs_emulator, kept)
    ecs_emulator.set_faults(FAULTS, seed=7)

    for _ in range(3):  # FC retries a failed invocation; faults can outlast one run's retries
        try:
            run(function, event)
            break
        except RunFailedError:
            continue

    assert sum(n for kind, n in ecs_emulator.fault_counts.items() if ":" not in kind) > 0
    for call in changing_calls(ecs_emulator):
        assert not named_ids(call) & set(kept), call
        assert call.operation != "ModifyInstanceAttribute"  # deletion protection never turned off
    assert fleet_state(ecs_emulator, kept) == before
    dev_after = fleet_state(ecs_emulator, groups["dev"])
    if function is Function.RELEASE:
        assert all(state is None for state in dev_after.values())
    elif function is Function.STOP:
        assert all(
            state is not None and state[0] in ("Stopping", "Stopped")
            for state in dev_after.values()
        )
    else:
        assert all(state is not None and state[2] is not None for state in dev_after.values())
