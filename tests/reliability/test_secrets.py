"""No secret in anything a run prints or returns, with failures included.

Every function runs through the real CLI in a child process with STS credentials in its
environment (as FC 3.0 provides a role's credentials), against an emulator that accepts only
those: successful runs, runs with faults, a failing instance, a refused event, an EventBridge
event, and runs with a wrong secret or a wrong token (whose refusals must surface as our errors,
without the secret). Everything each child wrote (stdout: the returned summary; stderr: the logs
and errors) is searched for the access key secret and the security token, and for the
notification webhooks' token and signing secret: every run also reports to a local DingTalk robot
(signed) and to a Slack webhook that refuses with an answer quoting the URL it was sent to.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ecs_emulator import EcsEmulator, EmulatorCredentials, FaultRule
from ecs_lifecycle.errors import EcsLifecycleError
from ecs_lifecycle.model import Function
from tests.support import REPO, Runner

from .conftest import cli_command, cli_env

STS = EmulatorCredentials.default_sts()
WRONG_SECRET = "wrong-secret-" + "also-not-real"  # pragma: allowlist secret
WRONG_TOKEN = "wrong-token-" + "also-not-real"
NOTIFY_TOKEN = "notify-token-" + "0123456789abcdef"
NOTIFY_SECRET = "SEC" + "notify-secret-not-real-0123"  # pragma: allowlist secret
SLACK_PATH = f"/services/T000/B000/{NOTIFY_TOKEN}"


def _notify_env(server: HTTPServer) -> dict[str, str]:
    """NOTIFY_* pointing at `server`: a DingTalk robot that accepts, a Slack hook that refuses.

    Slack's refusal quotes the whole request URL, token included, as a careless service might.
    """
    server.expect_request("/robot/send", method="POST").respond_with_json(
        {"errcode": 0, "errmsg": "ok"}
    )

    def refuse(request: Request) -> Response:
        return Response(f"channel_not_found for {request.url}", status=404)

    server.expect_request(SLACK_PATH, method="POST").respond_with_handler(refuse)
    dingtalk = f"{server.url_for('/robot/send')}?access_token={NOTIFY_TOKEN}"
    return {
        "NOTIFY_URLS": f"dingtalk={dingtalk},slack={server.url_for(SLACK_PATH)}",
        "NOTIFY_DINGTALK_SECRET": NOTIFY_SECRET,
        "NOTIFY_ON": "always",
    }


def _state_change(instance_id: str) -> dict[str, Any]:
    return {
        "id": "e-1",
        "source": "acs.ecs",
        "specversion": "1.0",
        "type": "ecs:Instance:StateChange",
        "aliyunregionid": "cn-hangzhou",
        "data": {"resourceId": instance_id, "state": "Running"},
    }


def test_nothing_printed_or_returned_contains_a_secret(
    live_emulator: EcsEmulator, httpserver: HTTPServer
) -> None:
    emulator = live_emulator
    emulator.set_credentials(STS)
    emulator.settings.stop_delay = 0

    def add(role: str, status: str, **extra: Any) -> str:
        tags = {"env": "dev", "role": role}
        return emulator.add_instance(
            region="cn-hangzhou", status=status, tags=tags, **extra
        ).instance_id

    add("stop", "Running")
    add("stop", "Running")
    add("release", "Stopped")
    refused_release = add("release", "Stopped")
    add("auto", "Running")
    refused_auto = add("auto", "Running")
    tagged = emulator.add_instance(
        region="cn-hangzhou", status="Running", tags={"env": "lab", "auto-release": "3d"}
    ).instance_id
    emulator.fail_instance(refused_release, operation="DeleteInstances", code="Forbidden.RAM")
    emulator.fail_instance(
        refused_auto, operation="ModifyInstanceAutoReleaseTime", code="Forbidden.RAM"
    )
    emulator.set_faults(
        # Throttled with the server's retry-after (50 ms): the same retries and their log lines,
        # without the seconds of backoff a bare throttle costs each child on the real clock.
        [FaultRule(throttle_rate=0.2, retry_after_ms=50, drop_rate=0.05, non_json_rate=0.05)],
        seed=3,
    )
    good = cli_env(emulator, {"MAX_INSTANCES": "50", **_notify_env(httpserver)}, credentials=STS)
    wrong_secret = cli_env(emulator, credentials=replace(STS, access_key_secret=WRONG_SECRET))
    wrong_token = cli_env(emulator, credentials=replace(STS, security_token=WRONG_TOKEN))
    runs: dict[str, tuple[Function, bytes, dict[str, str], set[int]]] = {
        "stop": (Function.STOP, _event({"tags": {"role": "stop"}}), good, {0}),
        "release, one refused": (
            Function.RELEASE,
            _event({"tags": {"role": "release"}, "dry_run": False}),
            good,
            {1},
        ),
        "auto-release, one refused": (
            Function.AUTO_RELEASE,
            _event({"tags": {"role": "auto"}, "release_after": "8h"}),
            good,
            {1},
        ),
        "auto-release from an event": (
            Function.AUTO_RELEASE,
            _event(_state_change(tagged)),
            good,
            {0},
        ),
        "a notice one channel refused": (
            Function.RELEASE,
            _event({"tags": {"role": "release"}, "dry_run": False, "notice": "1h"}),
            good,
            {1},
        ),
        "refused event": (Function.RELEASE, b'{"tags": {"env": "dev"}, "dryrun": 1}', good, {2}),
        "wrong secret": (Function.STOP, _event({"tags": {"role": "stop"}}), wrong_secret, {1}),
        "wrong token": (Function.STOP, _event({"tags": {"role": "stop"}}), wrong_token, {1}),
    }
    children = {
        name: subprocess.Popen(  # noqa: S603 - our own command, no shell
            cli_command(function),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        for name, (function, _, env, _) in runs.items()
    }
    secrets = [
        value.encode()
        for value in (
            STS.access_key_secret,
            STS.security_token,
            WRONG_SECRET,
            WRONG_TOKEN,
            NOTIFY_TOKEN,
            NOTIFY_SECRET,
        )
        if value
    ]
    for name, child in children.items():
        _, event, _, exit_codes = runs[name]
        stdout, stderr = child.communicate(event, timeout=60)
        assert child.returncode in exit_codes, (name, child.returncode, stderr.decode())
        for secret in secrets:
            assert secret not in stdout, (name, secret)
            assert secret not in stderr, (name, secret)
        if name == "wrong secret":
            assert b"SignatureDoesNotMatch" in stderr
        if name == "wrong token":
            assert b"InvalidSecurityToken" in stderr
        if name == "a notice one channel refused":
            assert b"slack#2" in stderr
            assert b"channel_not_found" in stderr
    # The robot was reached, signed: the runs did send, so the search above searched something.
    assert any(b"sign=" in request.query_string for request, _ in httpserver.log)
    assert sum(n for kind, n in emulator.fault_counts.items() if ":" not in kind) > 0


def _event(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_in_process_results_logs_and_errors_carry_no_secret(
    run: Runner,
    ecs_emulator: EcsEmulator,
    caplog: pytest.LogCaptureFixture,
    httpserver: HTTPServer,
) -> None:
    """The same search in-process, at DEBUG: the returned summary, every log record, every error."""
    secret = ecs_emulator.credentials.access_key_secret
    caplog.set_level("DEBUG")
    instance = ecs_emulator.add_instance(
        region="cn-hangzhou", status="Stopped", tags={"env": "dev"}
    )
    ecs_emulator.fail_instance(
        instance.instance_id, operation="DeleteInstances", code="Forbidden.RAM"
    )
    ecs_emulator.set_faults([FaultRule(throttle_rate=0.5, drop_rate=0.1)], seed=1)
    run.env.update(_notify_env(httpserver))
    seen: list[str] = []
    for function, event in (
        (Function.STOP, {"tags": {"env": "dev"}}),
        (Function.RELEASE, {"tags": {"env": "dev"}, "dry_run": False}),
        (Function.AUTO_RELEASE, {"tags": {"env": "dev"}, "release_after": "8h"}),
        (Function.RELEASE, {"tags": {"env": "dev"}, "typo": True}),
        (Function.RELEASE, {"tags": {"env": "dev"}, "dry_run": False, "notice": "1h"}),
    ):
        try:
            seen.append(json.dumps(run(function, event)))
        except EcsLifecycleError as error:
            seen.extend([str(error), repr(error), json.dumps(getattr(error, "summary", None))])
    seen.extend(record.getMessage() for record in caplog.records)
    assert any("Forbidden.RAM" in text for text in seen)
    assert any("channel_not_found" in text for text in seen)
    for hidden in (secret, NOTIFY_TOKEN, NOTIFY_SECRET):
        assert not [text for text in seen if hidden in text], hidden
