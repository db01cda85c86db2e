"""Findings of the adversarial review of the merged branches, each a test first, then a fix.

Each test drives a handler through the real SDK against the emulator and changes the world
mid-run (`EcsEmulator.on_call`) where the seam needs it.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ecs_emulator import EcsEmulator
from ecs_lifecycle.errors import BlastRadiusExceededError
from ecs_lifecycle.model import Function
from tests.support import Runner, alive, sample

DEV = {"env": "dev"}
LATER = datetime(2026, 12, 24, 10, 0, tzinfo=timezone.utc)


def test_a_refused_run_s_cancellation_never_becomes_a_release_time_on_the_re_check(
    run: Runner, ecs_emulator: EcsEmulator
) -> None:
    # Over the cap, the run carries out only its cancellations. The protect tag comes off
    # between the read and the write: the re-check must not turn the cancellation into a new
    # release time, a destructive change the refused run was never allowed to make.
    guarded = ecs_emulator.add_instance(
        tags={**DEV, "auto-release": "30d", "protected": "yes"}, auto_release_time=LATER
    )
    held = [ecs_emulator.add_instance(tags={**DEV, "auto-release": "30d"}) for _ in range(2)]
    ecs_emulator.on_call(
        "DescribeInstances",
        lambda: ecs_emulator.update_instance(
            guarded.instance_id, tags={**DEV, "auto-release": "30d"}
        ),
        nth=2,
        before=True,
    )
    with pytest.raises(BlastRadiusExceededError):
        run(Function.AUTO_RELEASE, sample("timer-empty-payload.json"), MAX_INSTANCES="1")
    sets = [
        call.params["InstanceId"]
        for call in ecs_emulator.calls_to("ModifyInstanceAutoReleaseTime")
        if call.params.get("AutoReleaseTime")
    ]
    assert sets == [], "a run refused by max_instances set a release time"
    assert all(alive(ecs_emulator, i.instance_id).auto_release_time is None for i in held)
