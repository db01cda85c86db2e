"""Bad input, end to end: refused with an error naming the problem, before any ECS call.

The parsers have their own property tests (tests/unit/test_events.py, test_settings.py); here the
whole handler runs against the emulator, which proves the refusal comes before the first request
of any kind, and the CLI maps a refusal to exit code 2 with the reason on stderr.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ecs_emulator import EcsEmulator, FakeClock
from ecs_emulator.pytest_plugin import DEFAULT_START
from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError, RunFailedError
from ecs_lifecycle.model import Function
from tests.support import Runner

from .conftest import changing_calls, cli_command, cli_env, named_ids

STOP, RELEASE, AUTO = Function.STOP, Function.RELEASE, Function.AUTO_RELEASE


def _cloud_event(event_type: str, data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "id": "e-1",
            "source": "acs.ecs",
            "specversion": "1.0",
            "type": event_type,
            "aliyunregionid": "cn-hangzhou",
            "data": data,
        }
    ).encode()


def _json(document: object) -> bytes:
    return json.dumps(document).encode()


TAGS = {"tags": {"env": "dev"}}
# (function, event bytes, what the error must name)
BAD: dict[str, tuple[Function, bytes, str]] = {
    # malformed bytes
    "not UTF-8": (STOP, b"\xff\xfe{}", "not UTF-8"),
    "truncated JSON": (STOP, b'{"tags": {"env": "dev"}', "not valid JSON"),
    "nested too deeply": (STOP, b"[" * 100_000, "event"),
    "over 1 MiB": (STOP, b" " * (1024 * 1024 + 1), "bytes is more than"),
    # JSON, but not an object
    "a list": (STOP, b'[{"tags": {"env": "dev"}}]', "must be a JSON object, not list"),
    "a string": (RELEASE, b'"release everything"', "must be a JSON object, not str"),
    "a number": (AUTO, b"42", "must be a JSON object, not int"),
    "null": (STOP, b"null", "must be a JSON object, not NoneType"),
    # wrong types
    "ids as a string": (STOP, _json({"instance_ids": "i-abcd1234"}), "instance_ids"),
    "dry_run as a string": (RELEASE, _json({**TAGS, "dry_run": "false"}), "dry_run"),
    "max_instances as a string": (STOP, _json({**TAGS, "max_instances": "5"}), "max_instances"),
    "negative max_instances": (STOP, _json({**TAGS, "max_instances": -1}), "max_instances"),
    "tags as a number": (STOP, _json({"tags": 5}), "tags"),
    "tag value as a number": (STOP, _json({"tags": {"env": 1}}), "tags"),
    "cancel false": (AUTO, _json({**TAGS, "cancel": False}), "cancel"),
    "timer payload not JSON": (
        STOP,
        _json({"triggerTime": "t", "triggerName": "n", "payload": "tags=env:dev"}),
        "timer payload",
    ),
    # unknown options
    "dryrun (typo)": (RELEASE, _json({**TAGS, "dryrun": False}), "unknown option"),
    "max_instance (typo)": (STOP, _json({**TAGS, "max_instance": 5}), "unknown option"),
    "force on auto-release": (AUTO, _json({**TAGS, "force": True}), "unknown option"),
    "release_at on stop": (STOP, _json({**TAGS, "release_at": "2026-12-24T18:00:00Z"}), "unknown"),
    # unknown event types
    "disk state change": (AUTO, _cloud_event("ecs:Disk:StateChange", {}), "is not handled"),
    "not a tag call": (
        AUTO,
        _cloud_event("ecs:Instance:ActionTrail:ApiCall", {"eventName": "DeleteInstance"}),
        "not a tag call",
    ),
    "EventBridge to stop": (
        STOP,
        _cloud_event("ecs:Instance:StateChange", {"resourceId": "i-abcd1234", "state": "Running"}),
        "does not handle EventBridge",
    ),
    # impossible times
    "30 February": (AUTO, _json({**TAGS, "release_at": "2026-02-30T10:00:00Z"}), "release_at"),
    "no zone": (AUTO, _json({**TAGS, "release_at": "2026-12-24T18:00:00"}), "with a zone"),
    "in the past": (AUTO, _json({**TAGS, "release_at": "2020-01-01T00:00:00Z"}), "in the past"),
    "over 3 years": (AUTO, _json({**TAGS, "release_after": "1200d"}), "3 years"),
    "absurd duration": (AUTO, _json({**TAGS, "release_after": "999999w"}), "release_after"),
    "zero duration": (AUTO, _json({**TAGS, "release_after": "0m"}), "release_after"),
    "two schedules": (
        AUTO,
        _json({**TAGS, "release_after": "8h", "cancel": True}),
        "only one of",
    ),
    # oversized lists
    "1001 ids": (
        STOP,
        _json({"instance_ids": [f"i-{n:08d}" for n in range(1001)]}),
        "instance_ids",
    ),
    "21 tag conditions": (STOP, _json({"tags": {f"k{n}": "v" for n in range(21)}}), "at most 20"),
    # odd characters
    "id with a quote": (RELEASE, _json({"instance_ids": ["i-abcd1234' OR 1=1"]}), "instance id"),
    "id with a newline": (STOP, _json({"instance_ids": ["i-abcd1234\n"]}), "instance id"),
    "id upper case": (STOP, _json({"instance_ids": ["i-ABCD1234"]}), "instance id"),
    "id path": (STOP, _json({"instance_ids": ["../i-abcd1234"]}), "instance id"),
    "id wildcard": (RELEASE, _json({"instance_ids": ["i-*"]}), "instance id"),
    "empty id list": (STOP, _json({"instance_ids": []}), "empty list"),
    "tag value with NUL": (RELEASE, _json({"tags": {"env": "dev\u0000"}}), "control characters"),
    "tag key with newline": (STOP, _json({"tags": {"env\n": "dev"}}), "control characters"),
    "tag value of 129": (STOP, _json({"tags": {"env": "d" * 129}}), "1-128"),
    "reserved tag key": (STOP, _json({"tags": {"aliyun:env": "dev"}}), "reserved prefix"),
    "empty tag selector": (RELEASE, _json({"tags": {}}), "empty tag selector"),
    "region with a slash": (STOP, _json({**TAGS, "regions": "cn-hangzhou/x"}), "region id"),
    # no selector at all: stop and release never act on "everything"
    "no selector": (RELEASE, b"{}", "refuses to run without a selector"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_input_is_refused_before_any_call(
    run: Runner, ecs_emulator: EcsEmulator, name: str
) -> None:
    function, event, named = BAD[name]
    ecs_emulator.add_instance(region="cn-hangzhou", status="Stopped", tags={"env": "dev"})

    with pytest.raises(InvalidInputError) as refused:
        run(function, event)

    assert named in str(refused.value)
    assert ecs_emulator.calls == []


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("TARGET_TAGS", "env"),
        ("TARGET_REGIONS", "cn hangzhou"),
        ("DRY_RUN", "maybe"),
        ("MAX_INSTANCES", "many"),
        ("ECS_CONCURRENCY", "0"),
    ],
)
def test_bad_settings_are_refused_before_any_call(
    ecs_emulator: EcsEmulator, setting: str, value: str
) -> None:
    run = Runner(ecs_emulator, env={setting: value})
    with pytest.raises(InvalidInputError) as refused:
        run(Function.STOP, {"tags": {"env": "dev"}})
    assert setting in str(refused.value)
    assert ecs_emulator.calls == []


CLI_CASES = ["not UTF-8", "a list", "dryrun (typo)", "id with a quote", "30 February"]


def test_the_cli_refuses_with_exit_code_2(ecs_emulator: EcsEmulator) -> None:
    env = cli_env(ecs_emulator)
    children = {}
    for name in CLI_CASES:  # in parallel: each child pays the interpreter's start-up
        function, _, _ = BAD[name]
        children[name] = subprocess.Popen(  # noqa: S603 - our own command, no shell
            cli_command(function),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
    for name, child in children.items():
        _, event, named = BAD[name]
        stdout, stderr = child.communicate(event, timeout=30)
        assert child.returncode == 2, (name, stderr)
        assert stdout == b""
        assert b"refused: " in stderr
        assert named in stderr.decode()
    assert ecs_emulator.calls == []


# --- property: whatever options arrive, a run is either refused or touches only the selection --

_FLEET_IDS = ("i-dev000001", "i-dev000002", "i-dev000003", "i-prd000001", "i-prot00001")
_ID_CHOICES = st.sampled_from([*_FLEET_IDS, "i-zzzz9999"])
_TAG_KEYS = st.sampled_from(["env", "team", "protected", "auto-release"])
_TAG_VALUES = st.sampled_from(["dev", "prod", "core", "*", "true", "3d"])
_COMMON = {
    "regions": st.sampled_from(["cn-hangzhou", "cn-hangzhou,cn-shanghai", ["cn-hangzhou"]]),
    "instance_ids": st.lists(_ID_CHOICES, min_size=1, max_size=4),
    "tags": st.one_of(
        st.dictionaries(_TAG_KEYS, _TAG_VALUES, min_size=1, max_size=2),
        st.sampled_from(["env=dev", "team=core,env=*", "env=prod"]),
    ),
    "dry_run": st.booleans(),
    "max_instances": st.integers(min_value=0, max_value=6),
}
_STOPPING = {
    "force": st.booleans(),
    "stopped_mode": st.sampled_from(["StopCharging", "KeepCharging"]),
}
_SCHEDULES: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {},
        {"release_at": "2026-12-24T18:00:00Z"},
        {"release_at": "2026-11-26T06:10:00+08:00"},
        {"release_after": "8h"},
        {"release_after": "10m"},
        {"cancel": True},
    ]
)
# One in three runs also gets one bad option (wrong type, unknown name, impossible value).
_BAD_OPTION: st.SearchStrategy[dict[str, Any]] = st.sampled_from(
    [
        {"dryrun": False},
        {"regions": "bad region"},
        {"instance_ids": ["bad id"]},
        {"instance_ids": "i-dev000001"},
        {"tags": {}},
        {"tags": {"env": "dev\n"}},
        {"dry_run": "false"},
        {"max_instances": -1},
        {"stopped_mode": "Off"},
        {"force": "yes"},
        {"release_at": "2026-02-30T00:00:00Z"},
        {"release_after": "0m"},
        {"cancel": False},
    ]
)


@st.composite
def _options(draw: st.DrawFn, function: Function) -> dict[str, Any]:
    extra: st.SearchStrategy[dict[str, Any]] = (
        _SCHEDULES if function is Function.AUTO_RELEASE else st.just({})
    )
    own = {} if function is Function.AUTO_RELEASE else _STOPPING
    options: dict[str, Any] = draw(st.fixed_dictionaries({}, optional={**_COMMON, **own}))
    options.update(draw(extra))
    if draw(st.integers(min_value=0, max_value=2)) == 0:
        options.update(draw(_BAD_OPTION))
    return options


def _add_fleet(emulator: EcsEmulator) -> None:
    for instance_id, tags in (
        ("i-dev000001", {"env": "dev", "team": "core"}),
        ("i-dev000002", {"env": "dev", "team": "core", "auto-release": "3d"}),
        ("i-dev000003", {"env": "dev"}),
        ("i-prd000001", {"env": "prod", "team": "core"}),
        ("i-prot00001", {"env": "dev", "team": "core", "protected": "true"}),
    ):
        emulator.add_instance(
            region="cn-hangzhou", instance_id=instance_id, status="Running", tags=tags
        )


def _selected(options: dict[str, Any], instance_id: str, tags: dict[str, str]) -> bool:
    ids = options.get("instance_ids")
    if isinstance(ids, list) and instance_id not in ids:
        return False
    wanted = options.get("tags")
    if isinstance(wanted, str):
        wanted = dict(pair.split("=", 1) for pair in wanted.split(","))
    if isinstance(wanted, dict):
        return all(k in tags and v in ("*", tags[k]) for k, v in wanted.items())
    return True


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.data())
def test_generated_options_are_refused_or_touch_only_the_selection(
    ecs_emulator_server: EcsEmulator, data: st.DataObject
) -> None:
    function = data.draw(st.sampled_from(list(Function)), label="function")
    options = data.draw(_options(function), label="options")
    emulator = ecs_emulator_server
    emulator.reset(clock=FakeClock(DEFAULT_START))
    _add_fleet(emulator)
    fleet_tags = {view.instance_id: view.tags for view in emulator.instances()}
    run = Runner(emulator)

    try:
        run(function, options)
    except BlastRadiusExceededError:
        event("refused after reading the fleet")
        assert changing_calls(emulator) == []  # it read the fleet, then changed nothing
        return
    except InvalidInputError:
        event("refused before any call")
        assert emulator.calls == []
        return
    except RunFailedError:
        event("ran, some instances failed")  # what was touched is still checked below
    else:
        event("ran")
    for call in changing_calls(emulator):
        for instance_id in named_ids(call):
            assert _selected(options, instance_id, fleet_tags[instance_id]), (call, options)
            assert "protected" not in fleet_tags[instance_id], (call, options)
    assert emulator.internal_errors == []
