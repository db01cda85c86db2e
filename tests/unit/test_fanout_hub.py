"""The hub's run through its seams' in-memory twins (tests/twin_accounts.py)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from ecs_emulator.clock import FakeClock
from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.ports import AccountDirectory, AsyncInvocation, AsyncInvoker, Dispatched
from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.fanout.hub import HubServices, handle_hub
from ecs_lifecycle.fanout.plan import HUB_KEY
from tests.twin_accounts import DirectoryTwin, InvokerTwin, member

A, B, C, M = "1" * 16, "2" * 16, "3" * 16, "9" * 16
START = datetime(2026, 12, 4, 19, 0, 5, tzinfo=timezone.utc)
TIMER = json.dumps(
    {"triggerName": "nightly", "triggerTime": "2026-12-04T19:00:00Z", "payload": ""}
).encode()
ENV = {
    "TARGET_ACCOUNT_FOLDER": "fd-dev",
    "TARGET_ACCOUNTS": M,
    "EXCLUDE_ACCOUNTS": C,
    "TARGET_REGIONS": "cn-hangzhou,cn-shanghai",
    "WORKER_FUNCTIONS": "ecs-stop,ecs-release",
    "SPOKE_ROLE_NAME": "ecs-lifecycle-spoke",
    "FC_FUNCTION_NAME": "ecs-fanout",
}


class _Ctx:
    class function:  # noqa: N801 - the FC context's shape
        timeout = 300


def run(
    event: bytes,
    directory: DirectoryTwin,
    invoker: AsyncInvoker,
    env: dict[str, str] | None = None,
    clock: FakeClock | None = None,
) -> dict[str, object]:
    built: list[str] = []

    def directory_factory(_: AccountSettings) -> AccountDirectory:
        built.append("directory")
        return directory

    def invoker_factory(_: AccountSettings) -> AsyncInvoker:
        return invoker

    services = HubServices(
        clock=clock or FakeClock(START),
        environ=env if env is not None else ENV,
        directory_factory=directory_factory,
        invoker_factory=invoker_factory,
    )
    return handle_hub(event, _Ctx(), services)


def fleet() -> DirectoryTwin:
    twin = DirectoryTwin(
        folders={
            "fd-dev": [member(A), member(B, status="Removing"), member(C), member(M, mgmt=True)]
        },
        management=M,
    )
    return twin


def test_a_timer_run_dispatches_one_task_per_function_account_and_region() -> None:
    invoker = InvokerTwin()
    summary = run(TIMER, fleet(), invoker)
    assert summary["counts"] == {
        "dispatched": 8, "duplicate": 0, "planned": 0, "failed": 0, "skipped": 2,
    }  # fmt: skip
    accounts = {json.loads(i.payload)[HUB_KEY]["account"] for i in invoker.queued}
    assert accounts == {A, M}  # C denied, B not joined; M listed explicitly
    assert {i.function_name for i in invoker.queued} == {"ecs-stop", "ecs-release"}
    assert max(len(i.payload) for i in invoker.queued) < 1024  # payload small
    skipped = {s["account"]: s["reason"] for s in summary["skipped_accounts"]}  # type: ignore[attr-defined]
    assert "EXCLUDE_ACCOUNTS" in skipped[C]
    assert "Removing" in skipped[B]


def test_a_retried_hub_run_dispatches_no_duplicate() -> None:
    invoker = InvokerTwin()
    run(TIMER, fleet(), invoker)
    again = run(TIMER, fleet(), invoker, clock=FakeClock(START.replace(minute=3)))
    assert again["counts"]["duplicate"] == 8  # type: ignore[index]
    assert again["counts"]["dispatched"] == 0  # type: ignore[index]
    assert len(invoker.queued) == 8


def test_a_hub_dry_run_plans_and_invokes_nothing(caplog: pytest.LogCaptureFixture) -> None:
    invoker = InvokerTwin()
    event = json.dumps({"dry_run": True, "scheduled_time": "2026-12-04T19:00:00Z"}).encode()
    with caplog.at_level("INFO"):
        summary = run(event, fleet(), invoker)
    assert invoker.calls == 0
    assert summary["counts"]["planned"] == 8  # type: ignore[index]
    planned = [r for r in caplog.messages if '"fanout_planned"' in r]
    assert len(planned) == 8
    assert all('"task_id"' in line for line in planned)


def test_the_hub_refuses_its_own_name_before_any_call() -> None:
    invoker = InvokerTwin()
    directory = fleet()
    event = json.dumps({"functions": ["ecs-fanout"]}).encode()
    with pytest.raises(InvalidInputError, match="never invokes itself"):
        run(event, directory, invoker)
    assert directory.reads == 0
    assert invoker.calls == 0
    with pytest.raises(InvalidInputError, match="never invokes itself"):
        run(TIMER, directory, invoker, env={**ENV, "WORKER_FUNCTIONS": "ecs-stop,ecs-fanout"})
    assert directory.reads == invoker.calls == 0


def test_the_kill_switch_dispatches_nothing() -> None:
    invoker = InvokerTwin()
    directory = fleet()
    summary = run(TIMER, directory, invoker, env={**ENV, "FANOUT_PAUSED": "true"})
    assert invoker.calls == 0
    assert directory.reads == 0
    assert "FANOUT_PAUSED" in summary["notes"][0]  # type: ignore[index]


def test_a_run_over_the_cap_is_refused_whole() -> None:
    invoker = InvokerTwin()
    with pytest.raises(InvalidInputError, match="FANOUT_MAX_TARGETS"):
        run(TIMER, fleet(), invoker, env={**ENV, "FANOUT_MAX_TARGETS": "7"})
    assert invoker.calls == 0


class _Flaky:
    """Throttles the first call of each task, fails every call for one account."""

    def __init__(self, broken: str) -> None:
        self.inner = InvokerTwin()
        self.broken = broken
        self.attempts: dict[str, int] = {}

    def invoke_async(self, invocation: AsyncInvocation) -> Dispatched:
        n = self.attempts[invocation.task_id] = self.attempts.get(invocation.task_id, 0) + 1
        if self.broken in invocation.task_id:
            raise RuntimeError("AccessDenied")
        if n == 1:
            raise RuntimeError("ResourceThrottled")
        return self.inner.invoke_async(invocation)


def test_throttled_dispatches_are_retried_and_one_failing_account_stops_no_other() -> None:
    flaky = _Flaky(broken=M)
    clock = FakeClock(START)
    summary = run(TIMER, fleet(), flaky, clock=clock)
    assert summary["counts"]["dispatched"] == 4  # type: ignore[index]
    assert summary["counts"]["failed"] == 4  # type: ignore[index]
    failed = summary["failed_targets"]
    assert all(f["account"] == M and "AccessDenied" in f["reason"] for f in failed)  # type: ignore[attr-defined]
    assert (clock.now() - START).total_seconds() >= 8 / 20  # paced: at least the pacing floor


def test_nothing_configured_is_refused_by_the_hub() -> None:
    env = {k: v for k, v in ENV.items() if k not in {"TARGET_ACCOUNTS", "TARGET_ACCOUNT_FOLDER"}}
    with pytest.raises(InvalidInputError, match="no accounts are configured"):
        run(TIMER, fleet(), InvokerTwin(), env=env)
