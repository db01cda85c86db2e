"""s.yaml against the fc3 schema and the project's deploy rules; broken copies must fail them."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from ecs_lifecycle.model import Function
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings import Settings, parse_options
from tests.support import SAMPLES

from .checks import (
    DESTRUCTIVE_FUNCTIONS,
    REPO_ROOT,
    S_YAML,
    TEST_ENV,
    cron_problems,
    event_matches,
    fc3_deployed_triggers,
    load_spec,
    project_problems,
    resolved_props,
)

EVENTS = SAMPLES
STATE_CHANGE_RULE = REPO_ROOT / "deploy" / "eventbridge-state-changes.json"
FUNCTION_OF = {
    "ecs-stop": Function.STOP,
    "ecs-release": Function.RELEASE,
    "ecs-auto-release": Function.AUTO_RELEASE,
}

Spec = dict[str, Any]


def test_s_yaml_passes_the_schema_and_every_project_rule(
    spec: Spec, schema: dict[str, Any], packages: Path
) -> None:
    assert project_problems(spec, schema, packages, S_YAML.read_text()) == []


def test_s_yaml_declares_exactly_the_three_functions(spec: Spec) -> None:
    assert spec["edition"] == "3.0.0"
    assert set(spec["resources"]) == set(FUNCTION_OF)


def test_every_environment_parses_into_settings(props: dict[str, Spec]) -> None:
    for name, function in FUNCTION_OF.items():
        env = {**props[name]["environmentVariables"], "FC_REGION": props[name]["region"]}
        settings = Settings.from_env(function, env)
        assert settings.tags is not None, f"{name} must be scoped to the dev fleet (TARGET_TAGS)"
    release = Settings.from_env(Function.RELEASE, props["ecs-release"]["environmentVariables"])
    assert release.dry_run, "manual release runs must default to dry run"


def _timers(props: Spec) -> list[Spec]:
    return [t for t in props.get("triggers", []) if t["triggerType"] == "timer"]


def test_timer_payloads_are_valid_run_options_for_their_function(props: dict[str, Spec]) -> None:
    for name, function in FUNCTION_OF.items():
        for trigger in _timers(props[name]):
            payload = trigger["triggerConfig"].get("payload", "")
            if payload:
                # The handler's own parser: a typo such as "dryrun" fails here, not at 22:00.
                parse_options(function, json.loads(payload))


def _named(props: Spec, name: str) -> Spec:
    (found,) = [t for t in _timers(props) if t["triggerName"] == name]
    return found


def test_the_nightly_release_acts_on_the_dev_fleet(props: dict[str, Spec]) -> None:
    nightly = _named(props["ecs-release"], "nightly-release")
    config = nightly["triggerConfig"]
    assert config["enable"] is True
    assert config["cronExpression"].startswith("CRON_TZ=")
    payload = json.loads(config["payload"])
    assert payload["dry_run"] is False
    fleet = TagSelector.parse(
        "TARGET_TAGS", props["ecs-release"]["environmentVariables"]["TARGET_TAGS"]
    )
    assert TagSelector.parse("tags", payload["tags"]) == fleet


def test_the_nightly_stop_is_optional_and_off(props: dict[str, Spec]) -> None:
    nightly = _named(props["ecs-stop"], "nightly-stop")
    assert nightly["triggerConfig"]["enable"] is False


def _hour_before(cron: str) -> str:
    """The same CRON_TZ schedule an hour earlier (the timers here fire at a fixed hour)."""
    zone, seconds, minutes, hours, *rest = cron.split()
    return " ".join([zone, seconds, minutes, str((int(hours) - 1) % 24), *rest])


@pytest.mark.parametrize("function", sorted(DESTRUCTIVE_FUNCTIONS))
def test_every_destructive_timer_has_a_notice_an_hour_before_enabled_with_it(
    props: dict[str, Spec], function: str
) -> None:
    timers = _timers(props[function])
    real = [t for t in timers if "notice" not in json.loads(t["triggerConfig"]["payload"])]
    assert real, f"{function} has no destructive timer"
    for timer in real:
        config = timer["triggerConfig"]
        notice = _named(props[function], f"{timer['triggerName']}-notice")["triggerConfig"]
        assert notice["cronExpression"] == _hour_before(config["cronExpression"])
        assert notice["enable"] is config["enable"]
        assert json.loads(notice["payload"]) == {**json.loads(config["payload"]), "notice": "1h"}


# Feishu's custom bot guide (https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot,
# "Precautions") asks senders to avoid the full and half hour (10:00, 17:30), when its 11232 rate
# limit is common; every timer here sends (a notice, a report or the digest).
_CROWDED_MINUTES = {"0", "30"}


def test_no_timer_fires_on_the_full_or_half_hour(props: dict[str, Spec]) -> None:
    for name, resource in props.items():
        for trigger in _timers(resource):
            minutes = trigger["triggerConfig"]["cronExpression"].split()[2]
            where = f"{name}/{trigger['triggerName']} fires at minute {minutes}"
            assert minutes not in _CROWDED_MINUTES, where
            assert minutes.isdigit(), where


def test_the_notification_settings_come_from_the_deployers_environment(spec: Spec) -> None:
    environment = spec["vars"]["common_environment"]
    for name in ("NOTIFY_URLS", "NOTIFY_DINGTALK_SECRET", "NOTIFY_FEISHU_SECRET"):
        assert environment[name] == f"${{env('{name}', '')}}", name
    digest = _named(resolved_props(spec)["ecs-auto-release"], "daily-digest")
    assert json.loads(digest["triggerConfig"]["payload"]) == {"digest": "24h"}


def _eventbridge_pattern(props: dict[str, Spec]) -> Spec:
    """The auto-release function's one EventBridge trigger's filter pattern."""
    (trigger,) = [
        t for t in props["ecs-auto-release"]["triggers"] if t["triggerType"] == "eventbridge"
    ]
    pattern: Spec = json.loads(trigger["triggerConfig"]["eventRuleFilterPattern"])
    return pattern


def _as_console_operation(event: Spec) -> Spec:
    """The same ActionTrail record as the console writes it (same data fields, another type)."""
    return {**event, "type": "ecs:ActionTrail:ConsoleOperation"}


def _state_change_rule() -> Spec:
    """The optional second rule's pattern (docs/deploy.md): state changes, made outside fc3."""
    pattern: Spec = json.loads(STATE_CHANGE_RULE.read_text())
    return pattern


@pytest.mark.parametrize(
    ("sample", "console"),
    [
        ("eventbridge-ecs-tagresources.json", False),
        ("eventbridge-ecs-untagresources.json", False),
        ("eventbridge-ecs-tagresources.json", True),
        ("eventbridge-ecs-untagresources.json", True),
    ],
)
def test_the_auto_release_filter_passes_tag_calls_and_console_edits(
    props: dict[str, Spec], sample: str, console: bool
) -> None:
    event = json.loads((EVENTS / sample).read_text())
    if console:
        event = _as_console_operation(event)
    assert event_matches(_eventbridge_pattern(props), event)
    assert not event_matches(_state_change_rule(), event)


def test_state_changes_pass_the_optional_rule_and_not_the_trigger(props: dict[str, Spec]) -> None:
    event = json.loads((EVENTS / "eventbridge-ecs-instance-statechange.json").read_text())
    assert event_matches(_state_change_rule(), event)
    assert not event_matches(_eventbridge_pattern(props), event)


def _operator_mixes(pattern: Any, where: str = "") -> list[str]:
    """Every list in `pattern` that is not all exact values or one operator alone."""
    if isinstance(pattern, dict):
        return [
            m for key, value in pattern.items() for m in _operator_mixes(value, f"{where}.{key}")
        ]
    if not isinstance(pattern, list):
        return []
    operators = [value for value in pattern if isinstance(value, dict)]
    if operators and len(pattern) > 1:
        return [f"{where or '.'}: {json.dumps(pattern)}"]
    return []


def test_no_list_in_any_event_pattern_mixes_operators(props: dict[str, Spec]) -> None:
    """EventBridge documents one operator per list; a mixed list may fail or match nothing."""
    patterns = {
        f"{name}/{t['triggerName']}": json.loads(t["triggerConfig"]["eventRuleFilterPattern"])
        for name, resource in props.items()
        for t in resource.get("triggers", [])
        if t["triggerType"] == "eventbridge"
    }
    patterns[STATE_CHANGE_RULE.name] = _state_change_rule()
    for name, pattern in patterns.items():
        assert _operator_mixes(pattern) == [], name


def test_the_operator_mix_check_finds_the_pattern_s_yaml_had() -> None:
    old = {
        "source": ["acs.ecs"],
        "data": {"eventName": ["TagResources", "UntagResources", {"exists": False}]},
    }
    assert _operator_mixes(old) == [
        '.data.eventName: ["TagResources", "UntagResources", {"exists": false}]'
    ]
    assert _operator_mixes({"data": {"eventName": [{"exists": False}]}}) == []


@pytest.mark.parametrize(
    "event",
    [
        {
            "source": "acs.ecs",
            "type": "ecs:ActionTrail:ApiCall",
            "data": {"eventName": "DeleteDisk"},
        },
        {
            "source": "acs.ecs",
            "type": "ecs:ActionTrail:ConsoleOperation",
            "data": {"eventName": "StopInstance"},
        },
        {"source": "acs.ecs", "type": "ecs:Snapshot:CreateSnapshotCompleted", "data": {}},
        {"source": "acs.ecs", "type": "ecs:ActionTrail:AliyunServiceEvent", "data": {}},
        {"source": "acs.oss", "type": "ecs:Instance:StateChange", "data": {}},
    ],
)
def test_unrelated_events_pass_no_filter(props: dict[str, Spec], event: Spec) -> None:
    assert not event_matches(_eventbridge_pattern(props), event)
    assert not event_matches(_state_change_rule(), event)


def test_every_function_has_at_most_one_eventbridge_trigger_and_it_is_last(
    props: dict[str, Spec],
) -> None:
    for name, resource in props.items():
        kinds = [t["triggerType"] for t in resource.get("triggers", [])]
        assert kinds.count("eventbridge") <= 1, name
        assert "eventbridge" not in kinds[:-1], name


def test_auto_release_runs_one_invocation_at_a_time(props: dict[str, Spec]) -> None:
    """A reconcile and a tag event never run at once; events wait on FC's async queue."""
    assert props["ecs-auto-release"]["concurrencyConfig"] == {"reservedConcurrency": 1}


def _triggers(*kinds: str) -> list[Spec]:
    return [
        {"triggerName": f"{kind}-{number}", "triggerType": kind}
        for number, kind in enumerate(kinds)
    ]


@pytest.mark.parametrize(
    ("kinds", "changed", "deployed"),
    [
        # A timer and then one eventbridge trigger: whatever changed, everything reaches FC.
        (("timer", "eventbridge"), set(), ["timer-0"]),
        (("timer", "eventbridge"), {"eventbridge-1"}, ["timer-0", "eventbridge-1"]),
        # An unchanged eventbridge trigger ends the loop: what follows is never looked at.
        (("eventbridge", "timer"), {"timer-1"}, []),
        (("timer", "eventbridge", "eventbridge"), {"eventbridge-2"}, ["timer-0"]),
        (
            ("timer", "eventbridge", "eventbridge"),
            {"eventbridge-1", "eventbridge-2"},
            ["timer-0", "eventbridge-1", "eventbridge-2"],
        ),
    ],
)
def test_the_fc3_trigger_loop_as_transcribed(
    kinds: tuple[str, ...], changed: set[str], deployed: list[str]
) -> None:
    assert fc3_deployed_triggers(_triggers(*kinds), changed) == deployed


def test_a_plain_redeploy_deploys_every_changed_trigger(props: dict[str, Spec]) -> None:
    for resource in props.values():
        triggers = resource.get("triggers", [])
        for trigger in triggers:
            name = trigger["triggerName"]
            assert name in fc3_deployed_triggers(triggers, {name}), name


def test_destructive_functions_are_the_ones_without_an_eventbridge_trigger(
    props: dict[str, Spec],
) -> None:
    for name in DESTRUCTIVE_FUNCTIONS:
        kinds = {t["triggerType"] for t in props[name].get("triggers", [])}
        assert kinds <= {"timer"}, f"{name} must not be driven by events"


def test_the_role_needs_its_variable() -> None:
    spec = load_spec()
    with pytest.raises(Exception, match="ECS_LIFECYCLE_ROLE_ARN"):
        resolved_props(spec, env={})
    assert (
        resolved_props(spec, env=TEST_ENV)["ecs-stop"]["role"] == TEST_ENV["ECS_LIFECYCLE_ROLE_ARN"]
    )


@pytest.mark.parametrize(
    "expression",
    ["CRON_TZ=Asia/Shanghai 0 0 22 * * *", "0 0 4 * * *", "0 */15 * * * *", "@every 5m"],
)
def test_cron_accepts_six_fields_or_every(expression: str) -> None:
    assert cron_problems(expression) == []


@pytest.mark.parametrize(
    "expression",
    ["0 22 * * *", "CRON_TZ=Asia/Shanghai 0 22 * * *", "0 0 0 22 * * *", "CRON_TZ= 0 0 22 * * *"],
)
def test_cron_refuses_anything_else(expression: str) -> None:
    assert cron_problems(expression) != []


# --- broken copies of s.yaml must fail -----------------------------------------------------------


def _trigger(spec: Spec, resource: str, name: str) -> Spec:
    triggers = spec["resources"][resource]["props"]["triggers"]
    found: Spec = next(t for t in triggers if t["triggerName"] == name)
    return found


def _five_field_cron(spec: Spec) -> None:
    _trigger(spec, "ecs-release", "nightly-release")["triggerConfig"]["cronExpression"] = (
        "0 22 * * *"
    )


def _non_string_env(spec: Spec) -> None:
    spec["resources"]["ecs-release"]["props"]["environmentVariables"]["DRY_RUN"] = True


def _numeric_env(spec: Spec) -> None:
    spec["resources"]["ecs-stop"]["props"]["environmentVariables"]["MAX_INSTANCES"] = 100


def _unresolvable_handler(spec: Spec) -> None:
    spec["template"]["ecs_lifecycle_base"]["handler"] = "index.main"


def _missing_handler_file(spec: Spec) -> None:
    spec["resources"]["ecs-stop"]["props"]["handler"] = "main.handler"


def _payload_as_map(spec: Spec) -> None:
    _trigger(spec, "ecs-release", "nightly-release")["triggerConfig"]["payload"] = {
        "dry_run": False
    }


def _payload_not_json(spec: Spec) -> None:
    _trigger(spec, "ecs-release", "nightly-release")["triggerConfig"]["payload"] = "{tags: env=dev}"


def _pattern_as_map(spec: Spec) -> None:
    _trigger(spec, "ecs-auto-release", "ecs-events")["triggerConfig"]["eventRuleFilterPattern"] = {
        "source": ["acs.ecs"]
    }


def _actiontrail_source(spec: Spec) -> None:
    _trigger(spec, "ecs-auto-release", "ecs-events")["triggerConfig"]["eventSourceConfig"] = {
        "eventSourceType": "ActionTrail"
    }


def _eventbridge_first(spec: Spec) -> None:
    triggers = spec["resources"]["ecs-auto-release"]["props"]["triggers"]
    triggers.insert(0, triggers.pop())


def _two_eventbridge_triggers(spec: Spec) -> None:
    """Tag changes and state changes as two triggers, as s.yaml had them before."""
    triggers = spec["resources"]["ecs-auto-release"]["props"]["triggers"]
    state_changes = copy.deepcopy(_trigger(spec, "ecs-auto-release", "ecs-events"))
    state_changes["triggerName"] = "ecs-state-changes"
    state_changes["triggerConfig"]["eventRuleFilterPattern"] = json.dumps(
        {"source": ["acs.ecs"], "type": ["ecs:Instance:StateChange"]}
    )
    triggers.append(state_changes)


def _overlapping_auto_release(spec: Spec) -> None:
    del spec["resources"]["ecs-auto-release"]["props"]["concurrencyConfig"]


def _no_timeout(spec: Spec) -> None:
    del spec["template"]["ecs_lifecycle_base"]["timeout"]


def _short_timeout(spec: Spec) -> None:
    spec["template"]["ecs_lifecycle_base"]["timeout"] = 60


def _typo_prop(spec: Spec) -> None:
    props = spec["resources"]["ecs-stop"]["props"]
    props["enviromentVariables"] = props.pop("environmentVariables")


def _overlapping_release(spec: Spec) -> None:
    del spec["resources"]["ecs-release"]["props"]["concurrencyConfig"]


def _default_async_retries(spec: Spec) -> None:
    del spec["template"]["ecs_lifecycle_base"]["asyncInvokeConfig"]


def _hard_coded_key(spec: Spec) -> None:
    env = spec["resources"]["ecs-stop"]["props"]["environmentVariables"]
    env["ALIBABA_CLOUD_ACCESS_KEY_ID"] = "LTAI5tAbCdEfGhIjKlMnOpQr"  # pragma: allowlist secret


def _literal_role(spec: Spec) -> None:
    spec["template"]["ecs_lifecycle_base"]["role"] = "acs:ram::1234567890123456:role/admin"


def _python_3_11(spec: Spec) -> None:
    spec["template"]["ecs_lifecycle_base"]["runtime"] = "python3.11"


def _memory_not_multiple_of_64(spec: Spec) -> None:
    spec["template"]["ecs_lifecycle_base"]["memorySize"] = 500


def _undefined_var(spec: Spec) -> None:
    spec["resources"]["ecs-stop"]["props"]["code"] = "${vars.nowhere}"


BREAKAGES: dict[str, tuple[Callable[[Spec], None], str]] = {
    "five-field cron": (_five_field_cron, "has 5 fields"),
    "non-string env value": (_non_string_env, "DRY_RUN is bool"),
    "numeric env value": (_numeric_env, "MAX_INSTANCES is int"),
    "handler function missing": (_unresolvable_handler, "defines no module-level main()"),
    "handler file missing": (_missing_handler_file, "main.py is not in the package"),
    "payload as a map": (_payload_as_map, "payload is dict"),
    "payload not JSON": (_payload_not_json, "payload is not valid JSON"),
    "filter pattern as a map": (_pattern_as_map, "must be a string holding JSON"),
    "ActionTrail source type": (_actiontrail_source, "eventSourceType 'ActionTrail'"),
    "eventbridge trigger first": (
        _eventbridge_first,
        "trigger reconcile (timer) would not be deployed when changed",
    ),
    "two eventbridge triggers": (
        _two_eventbridge_triggers,
        "trigger ecs-state-changes (eventbridge) would not be deployed when changed",
    ),
    "no timeout": (_no_timeout, "the fc3 default is 3 s"),
    "short timeout": (_short_timeout, "timeout 60 is below"),
    "misspelt prop": (_typo_prop, "unknown prop 'enviromentVariables'"),
    "overlapping release runs": (_overlapping_release, "reservedConcurrency: 1"),
    "overlapping auto-release runs": (
        _overlapping_auto_release,
        "ecs-auto-release must run one invocation at a time",
    ),
    "default async retries": (_default_async_retries, "asyncInvokeConfig is not set"),
    "hard-coded AccessKey": (_hard_coded_key, "looks like a credential"),
    "role written down": (_literal_role, "is written down"),
    "python3.11 runtime": (_python_3_11, "schema: runtime"),
    "memory not a multiple of 64": (_memory_not_multiple_of_64, "schema: memorySize"),
    "undefined variable": (_undefined_var, "no such var"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_s_yaml_fails_the_checks(
    breakage: str, spec: Spec, schema: dict[str, Any], packages: Path
) -> None:
    broken = copy.deepcopy(spec)
    mutate, expected = BREAKAGES[breakage]
    mutate(broken)
    problems = project_problems(broken, schema, packages)
    assert any(expected in problem for problem in problems), problems


def _reconcile_interval(cron: str) -> timedelta:
    """How far apart the reconcile's runs are: `0 30 * * * *` (seconds first) is hourly."""
    fields = cron.split()[-6:]
    seconds, minutes, hours = fields[:3]
    assert all(f == "*" for f in fields[3:]), cron  # runs every day
    assert seconds.isdigit(), cron
    if hours == "*" and minutes.isdigit():
        return timedelta(hours=1)
    if hours == "*" and minutes.startswith("*/"):
        return timedelta(minutes=int(minutes[2:]))
    raise AssertionError(f"the reconcile cron {cron!r} is not one this check reads")


def test_the_horizon_exceeds_the_reconcile_interval_plus_ecs_minimum(
    props: dict[str, Spec],
) -> None:
    # A lifetime's ECS time is written only within AUTO_RELEASE_HORIZON of it (issue 20): one
    # reconcile must fall inside the horizon with ECS's 30-minute minimum still ahead.
    auto = props["ecs-auto-release"]
    settings = Settings.from_env(Function.AUTO_RELEASE, auto["environmentVariables"])
    cron = _named(auto, "reconcile")["triggerConfig"]["cronExpression"]
    interval = _reconcile_interval(cron)
    assert settings.auto_release_horizon > interval + timedelta(minutes=30), (
        f"AUTO_RELEASE_HORIZON={settings.auto_release_horizon} with a reconcile every {interval}"
    )
