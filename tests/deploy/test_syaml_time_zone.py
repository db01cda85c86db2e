"""s.yaml's TIME_ZONE: the zone a keep-until date ends in is the zone the timers run in."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from ecs_lifecycle.model import Function
from ecs_lifecycle.settings import Settings


def test_every_function_s_time_zone_is_every_timer_s_cron_tz(
    props: dict[str, dict[str, Any]],
) -> None:
    zones = {
        name: resource["environmentVariables"].get("TIME_ZONE") for name, resource in props.items()
    }
    cron_zones = {
        trigger["triggerConfig"]["cronExpression"].split()[0].removeprefix("CRON_TZ=")
        for resource in props.values()
        for trigger in resource.get("triggers", [])
        if trigger["triggerType"] == "timer"
    }
    assert len(cron_zones) == 1, f"the timers should share one zone, not {cron_zones}"
    assert set(zones.values()) == cron_zones, zones
    settings = Settings.from_env(
        Function.RELEASE,
        {**props["ecs-release"]["environmentVariables"], "FC_REGION": "cn-hangzhou"},
    )
    assert settings.time_zone == ZoneInfo(cron_zones.pop())
