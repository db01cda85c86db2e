"""The hub's pure plan: which accounts, which targets, which task ids (fanout/plan.py)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.errors import ConfigError, InvalidInputError
from ecs_lifecycle.fanout.plan import (
    HUB_KEY,
    MAX_TASK_ID,
    TASK_ID,
    Target,
    account_refusal,
    check_cap,
    check_workers,
    choose_accounts,
    targets,
    task_id,
    worker_payload,
)
from tests.twin_accounts import member

AT = datetime(2026, 12, 4, 19, 0, tzinfo=timezone.utc)
A, B, C, M = "1" * 16, "2" * 16, "3" * 16, "9" * 16

account_ids = st.text("0123456789", min_size=16, max_size=16)


def settings(**kw: object) -> AccountSettings:
    base: dict[str, object] = {"spoke_role_name": "ecs-lifecycle-spoke"}
    base.update(kw)
    return AccountSettings(**base)  # type: ignore[arg-type]


def test_nothing_configured_means_no_account_at_all() -> None:
    plain = AccountSettings.from_env({})
    assert not plain.configured
    assert choose_accounts(plain, [], None).admitted == ()


def test_settings_refuse_a_malformed_account_id_and_a_missing_spoke_role() -> None:
    with pytest.raises(ConfigError, match="TARGET_ACCOUNTS"):
        AccountSettings.from_env({"TARGET_ACCOUNTS": "123", "SPOKE_ROLE_NAME": "r"})
    with pytest.raises(ConfigError, match="SPOKE_ROLE_NAME"):
        AccountSettings.from_env({"TARGET_ACCOUNTS": A})
    with pytest.raises(ConfigError, match="FANOUT_PAUSED"):
        AccountSettings.from_env({"FANOUT_PAUSED": "maybe"})
    parsed = AccountSettings.from_env(
        {"TARGET_ACCOUNTS": f"{A}, {B}", "EXCLUDE_ACCOUNTS": B, "SPOKE_ROLE_NAME": "r"}
    )
    assert parsed.target_accounts == {A, B}
    assert parsed.exclude_accounts == {B}


def test_folder_members_unjoined_and_management_are_skipped_with_reasons() -> None:
    folder = [member(A), member(B, status="Removing"), member(M, mgmt=True)]
    chosen = choose_accounts(settings(target_folder="fd-dev"), folder, M)
    assert chosen.admitted == (A,)
    reasons = {s.account_id: s.reason for s in chosen.skipped}
    assert "status Removing" in reasons[B]
    assert "management account" in reasons[M]


def test_the_management_account_is_acted_in_when_listed_explicitly() -> None:
    chosen = choose_accounts(settings(target_accounts=frozenset({M})), [], M)
    assert chosen.admitted == (M,)
    folder = [member(M, mgmt=True)]
    chosen = choose_accounts(settings(target_folder="f", target_accounts=frozenset({M})), folder, M)
    assert chosen.admitted == (M,)


@given(
    allow=st.frozensets(account_ids, max_size=6),
    deny=st.frozensets(account_ids, max_size=6),
    folder=st.lists(account_ids, max_size=6),
)
def test_deny_always_wins_and_nothing_outside_allow_list_or_folder(
    allow: frozenset[str], deny: frozenset[str], folder: list[str]
) -> None:
    s = settings(target_accounts=allow, exclude_accounts=deny, target_folder="fd")
    chosen = choose_accounts(s, [member(a) for a in folder], None)
    assert not set(chosen.admitted) & deny
    assert set(chosen.admitted) <= allow | set(folder)
    assert len(set(chosen.admitted)) == len(chosen.admitted)
    every = set(chosen.admitted) | {s.account_id for s in chosen.skipped}
    assert every == allow | set(folder)  # every account read gets a result


@given(
    accounts=st.frozensets(account_ids, min_size=1, max_size=8),
    regions=st.lists(
        st.sampled_from(["cn-hangzhou", "cn-shanghai", "ap-southeast-1", "eu-central-1"]),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    minutes=st.integers(0, 10_000),
)
def test_task_ids_are_unique_valid_and_the_same_on_a_retried_run(
    accounts: frozenset[str], regions: list[str], minutes: int
) -> None:
    at = AT + timedelta(minutes=minutes)
    functions = ["ecs-stop", "ecs-release"]
    first = list(targets(sorted(accounts), regions, functions, at))
    retried = list(targets(sorted(accounts), regions, functions, at))
    ids = [t.task_id for t in first]
    assert len(set(ids)) == len(ids) == len(accounts) * len(regions) * len(functions)
    assert ids == [t.task_id for t in retried]
    assert all(TASK_ID.match(i) for i in ids)


def test_a_long_task_id_stays_inside_fcs_limit_and_distinct() -> None:
    long_fn = "f" * 64
    one = task_id(long_fn, A, "cn-hangzhou-finance-1", AT)
    other = task_id(long_fn, B, "cn-hangzhou-finance-1", AT)
    assert len(one) <= MAX_TASK_ID
    assert TASK_ID.match(one)
    assert one != other
    assert task_id("ecs-stop", A, "cn-hangzhou", AT) != task_id(
        "ecs-stop", A, "cn-hangzhou", AT + timedelta(days=1)
    )


def test_the_hub_never_invokes_itself_nor_an_unnamed_function() -> None:
    s = settings(worker_functions=("ecs-stop", "ecs-release"), own_function_name="ecs-fanout")
    assert check_workers(s, []) == ("ecs-stop", "ecs-release")
    with pytest.raises(InvalidInputError, match="never invokes itself"):
        check_workers(s, ["ecs-fanout"])
    with pytest.raises(InvalidInputError, match="not named by WORKER_FUNCTIONS"):
        check_workers(s, ["ecs-other"])
    selfish = settings(worker_functions=("ecs-fanout",), own_function_name="ecs-fanout")
    with pytest.raises(InvalidInputError, match="never invokes itself"):
        check_workers(selfish, [])


def test_the_cap_refuses_a_run_over_it() -> None:
    check_cap(settings(max_targets=4), 4)
    with pytest.raises(InvalidInputError, match="FANOUT_MAX_TARGETS"):
        check_cap(settings(max_targets=4), 5)


def test_the_workers_payload_is_a_timer_event_narrowed_to_the_region() -> None:
    target = Target("ecs-stop", A, "cn-shanghai", task_id("ecs-stop", A, "cn-shanghai", AT))
    document = json.loads(worker_payload(target, AT, "nightly", {"dry_run": True}))
    assert document[HUB_KEY]["account"] == A
    assert document["event"]["triggerTime"] == "2026-12-04T19:00:00Z"
    assert json.loads(document["event"]["payload"]) == {"dry_run": True, "regions": ["cn-shanghai"]}


def test_the_worker_refuses_accounts_outside_its_lists() -> None:
    listed = settings(target_accounts=frozenset({A}), exclude_accounts=frozenset({B}))
    assert account_refusal(listed, A) is None
    assert "not in TARGET_ACCOUNTS" in (account_refusal(listed, C) or "")
    assert "EXCLUDE_ACCOUNTS" in (account_refusal(listed, B) or "")
    assert "no accounts are configured" in (account_refusal(AccountSettings(), A) or "")
    assert "16-digit" in (account_refusal(listed, "12") or "")
