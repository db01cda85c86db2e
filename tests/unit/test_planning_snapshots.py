"""Which releases snapshot first, and with what tags: the pure planner, as tables."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from ecs_lifecycle.errors import InvalidInputError
from ecs_lifecycle.model import SNAPSHOT_INSTANCE_TAG, Action, Decision, Function, Instance
from ecs_lifecycle.planning import Policy, plan_release, snapshot_tags
from ecs_lifecycle.settings import Settings, build_request, parse_options

STARTED = datetime(2026, 11, 25, 8, 0, tzinfo=timezone.utc)
NOW = datetime(2026, 11, 26, 6, 0, tzinfo=timezone.utc)


def instance(
    status: str = "Stopped", tags: dict[str, str] | None = None, instance_id: str = "i-test0001"
) -> Instance:
    return Instance(
        instance_id=instance_id,
        region="cn-hangzhou",
        status=status,
        charge_type="PostPaid",
        deletion_protection=False,
        auto_release_time=None,
        creation_time=STARTED,
        tags=tuple((tags or {"env": "dev"}).items()),
        start_time=STARTED,
    )


def only(decisions: list[Decision]) -> Decision:
    assert len(decisions) == 1
    return decisions[0]


@pytest.mark.parametrize(
    ("option", "tag", "wanted", "reason_part"),
    [
        (False, None, False, None),
        (True, None, True, "snapshot before release is on"),
        (False, "true", True, "tag snapshot-before-release='true'"),
        (False, " True ", True, "tag snapshot-before-release"),
        (True, "false", False, "no snapshot (tag snapshot-before-release='false')"),
        (True, "FALSE", False, "no snapshot"),
    ],
)
def test_the_tag_wins_over_the_option_both_ways(
    option: bool, tag: str | None, wanted: bool, reason_part: str | None
) -> None:
    tags = {"env": "dev", **({"snapshot-before-release": tag} if tag is not None else {})}
    decision = only(plan_release([instance(tags=tags)], Policy(snapshot=option), NOW))
    assert decision.action is Action.RELEASE
    assert decision.changes
    assert (decision.snapshot is not None) is wanted
    if reason_part is None:
        assert decision.reason == "is Stopped"
    else:
        assert reason_part in decision.reason


def test_an_unreadable_tag_skips_the_instance() -> None:
    tags = {"env": "dev", "snapshot-before-release": "yes please"}
    decision = only(plan_release([instance(tags=tags)], Policy(snapshot=True), NOW))
    assert decision.skipped
    assert "neither true nor false" in decision.reason


def test_a_custom_tag_key() -> None:
    tags = {"env": "dev", "backup": "true"}
    decision = only(plan_release([instance(tags=tags)], Policy(snapshot_tag="backup"), NOW))
    assert decision.snapshot is not None


@pytest.mark.parametrize("force", [False, True])
def test_a_running_instance_is_stopped_first_even_with_force(force: bool) -> None:
    decision = only(plan_release([instance("Running")], Policy(force=force, snapshot=True), NOW))
    assert decision.stop_first
    assert decision.snapshot is not None


def test_without_snapshots_force_still_releases_directly() -> None:
    decision = only(plan_release([instance("Running")], Policy(force=True), NOW))
    assert not decision.stop_first
    assert decision.snapshot is None


def test_protected_instances_are_skipped_before_snapshots_are_considered() -> None:
    tags = {"env": "dev", "protected": "true", "snapshot-before-release": "true"}
    decision = only(plan_release([instance(tags=tags)], Policy(snapshot=True), NOW))
    assert decision.skipped
    assert decision.snapshot is None


def test_the_plan_carries_the_last_start_for_reuse() -> None:
    decision = only(plan_release([instance()], Policy(snapshot=True), NOW))
    assert decision.snapshot is not None
    assert decision.snapshot.reuse_after == STARTED


def test_snapshot_tags_put_ours_first_drop_system_keys_and_stop_at_twenty() -> None:
    own = {f"k{n:02d}": str(n) for n in range(25)}
    tagged = instance(tags={"acs:ecs:x": "1", "Aliyun-thing": "2", **own}, instance_id="i-abc")
    tags = snapshot_tags(tagged)
    assert tags[0] == (SNAPSHOT_INSTANCE_TAG, "i-abc")
    assert len(tags) == 20
    assert [key for key, _ in tags[1:]] == [f"k{n:02d}" for n in range(19)]


def test_a_copied_instance_id_tag_is_not_doubled() -> None:
    tagged = instance(tags={SNAPSHOT_INSTANCE_TAG: "i-other"}, instance_id="i-abc")
    assert snapshot_tags(tagged) == ((SNAPSHOT_INSTANCE_TAG, "i-abc"),)


# ----- the option, the setting and the retention ---------------------------------------------
ENV = {"FC_REGION": "cn-hangzhou", "TARGET_TAGS": "env=dev"}


@pytest.mark.parametrize(
    ("env", "options", "expected"),
    [
        ({}, {}, False),
        ({"SNAPSHOT_BEFORE_RELEASE": "true"}, {}, True),
        ({"SNAPSHOT_BEFORE_RELEASE": "true"}, {"snapshot": False}, False),
        ({}, {"snapshot": True}, True),
    ],
)
def test_the_option_overrides_the_setting(
    env: dict[str, str], options: dict[str, object], expected: bool
) -> None:
    settings = Settings.from_env(Function.RELEASE, {**ENV, **env})
    request = build_request(settings, parse_options(Function.RELEASE, options))
    assert request.snapshot is expected


def test_the_option_is_strictly_boolean() -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_options(Function.RELEASE, {"snapshot": "yes"})
    assert refused.value.field == "snapshot"


def test_snapshot_is_not_an_option_of_stop() -> None:
    with pytest.raises(InvalidInputError):
        parse_options(Function.STOP, {"snapshot": True})


@pytest.mark.parametrize(("value", "expected"), [("", None), ("1", 1), ("65536", 65536)])
def test_retention_days(value: str, expected: int | None) -> None:
    settings = Settings.from_env(Function.RELEASE, {**ENV, "SNAPSHOT_RETENTION_DAYS": value})
    assert settings.snapshot_retention_days == expected


@pytest.mark.parametrize("value", ["0", "65537", "ten"])
def test_retention_days_out_of_range_is_refused(value: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        Settings.from_env(Function.RELEASE, {**ENV, "SNAPSHOT_RETENTION_DAYS": value})
    assert refused.value.field == "SNAPSHOT_RETENTION_DAYS"
