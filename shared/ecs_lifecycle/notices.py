"""What a run tells people, and when: the notice before it, the report after it, the digest.

notify/ renders and delivers; this module decides what a run owes: a notice run (the `notice`
option) sends what the real run will do, and fails when nobody received it; any other run sends
a report when NOTIFY_ON asks for one; a reconcile with the `digest` option lists what ECS itself
auto-releases soon. A report or digest that cannot be delivered never undoes or blocks the ECS
work: its outcome is in the result (`notifications`) and the log. With no NOTIFY_URLS nothing
is sent and nothing fails.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from ecs_lifecycle.audit import log_line
from ecs_lifecycle.clock import Clock
from ecs_lifecycle.ecs import Gateway
from ecs_lifecycle.errors import EcsApiError
from ecs_lifecycle.model import Action, FromTag, Instance, TagWrites, format_api_time
from ecs_lifecycle.notify.channel import Channel
from ecs_lifecycle.notify.channels import build_channels
from ecs_lifecycle.notify.message import KeepHint, MessageKind, Notification
from ecs_lifecycle.notify.send import DeliveryOutcome, require_delivered, send_all
from ecs_lifecycle.notify.transport import Budget
from ecs_lifecycle.notify_settings import (
    NotifyOn,
)
from ecs_lifecycle.planning import (
    Policy,
    decide_auto_release,
    keep_reason,
    keep_until,
    show_in_zone,
)
from ecs_lifecycle.policy import policy_for
from ecs_lifecycle.selection import TagSelector
from ecs_lifecycle.settings import RunRequest, Settings

NO_CHANNEL: Final = "no NOTIFY_URLS set: this notice was sent to nobody"
NO_TIME_LEFT: Final = "not sent: the run reached its deadline (the function's time limit is near)"
# What a dry run's reason starts with; a notice is a dry run, but its readers care for the real run.
_DRY_RUN_PREFIX: Final = "dry run: "


def tell_people(
    request: RunRequest,
    result: dict[str, Any],
    instances: Sequence[Instance],
    *,
    gateway: Gateway,
    clock: Clock,
    now: datetime,
    deadline: datetime | None = None,
    channels: Sequence[Channel] | None = None,
    refused: bool = False,
    tag_writes: TagWrites | None = None,
) -> None:
    """Send what this run owes people, and record it in `result` (`notifications`, `notes`).

    `now` is the run's start; `instances` what it read (their owners and names); no message is
    started after `deadline`. `channels`: None builds them from the settings (NOTIFY_URLS),
    retrying on `clock`. `refused`: the run was refused (max_instances), which reports as a
    failure does. `tag_writes`: the run's anchors of the minimum notice, so the digest's due
    times are the ones the run's results said.

    Raises:
        NotificationUndeliveredError: a notice run whose notice some channel did not take.
    """
    settings = request.settings
    if channels is None:
        channels = build_channels(settings.notify, clock=clock, sleep=clock.sleep)
    post = _Post(channels, clock, deadline)
    sent: list[tuple[MessageKind, DeliveryOutcome]] = []
    if request.notice is not None:
        outcomes = _notice(request, result, instances, post, now)
        _record(result, [(MessageKind.NOTICE, outcome) for outcome in outcomes])
        require_delivered(outcomes)
        return
    if channels and settings.notify.notify_on.wants_report(result["counts"], refused=refused):
        report = Notification(
            MessageKind.REPORT,
            with_people(result, instances, settings.owner_tag),
            keep=keep_hint(settings, now),
        )
        sent.extend((MessageKind.REPORT, outcome) for outcome in post.send(report))
    if request.digest is not None:
        digest = _digest(request, result, gateway, post, now, tag_writes=tag_writes)
        sent.extend((MessageKind.DIGEST, outcome) for outcome in digest)
    _record(result, sent)


def keep_hint(settings: Settings, moment: datetime) -> KeepHint:
    """The keep-until tag with a ready value: the end of the day after `moment`, in the fleet's
    zone, so it outlasts the run a notice announces (or the window a digest covers)."""
    tomorrow = moment.astimezone(settings.time_zone).date() + timedelta(days=1)
    return KeepHint(settings.keep_tag, tomorrow.isoformat())


def owner_of(instance: Instance, owner_tag: str) -> str | None:
    """The instance's owner tag; the key matches in any case (people type `Owner`)."""
    exact = instance.tag(owner_tag)
    if exact is not None:
        return exact
    folded = owner_tag.strip().casefold()
    return next((value for key, value in instance.tags if key.strip().casefold() == folded), None)


def with_people(
    result: Mapping[str, Any],
    instances: Iterable[Instance],
    owner_tag: str,
    *,
    strip_dry_run: bool = False,
) -> dict[str, Any]:
    """The result, each instance with its owner and name (what a message groups and shows).

    The result itself stays as the handler returns it. `strip_dry_run`: a notice says what the
    real run will do, so the reasons lose their "dry run: " prefix.
    """
    known = {instance.instance_id: instance for instance in instances}
    entries = []
    for raw in result.get("instances", []):
        entry = dict(raw)
        instance = known.get(str(entry.get("instance_id")))
        if instance is not None:
            entry["owner"] = owner_of(instance, owner_tag)
            entry["name"] = instance.name or None
        reason = str(entry.get("reason", ""))
        if strip_dry_run and reason.startswith(_DRY_RUN_PREFIX):
            entry["reason"] = reason[len(_DRY_RUN_PREFIX) :]
        entries.append(entry)
    return {**result, "instances": entries}


def _notice(
    request: RunRequest,
    result: dict[str, Any],
    instances: Sequence[Instance],
    post: _Post,
    now: datetime,
) -> tuple[DeliveryOutcome, ...]:
    assert request.notice is not None  # noqa: S101 - the caller checked
    settings = request.settings
    run_at = request.notice.run_at(now)
    when = show_in_zone(run_at, settings.time_zone)
    result["notice_for"] = format_api_time(run_at)
    if not post.channels:
        result["notes"].append(NO_CHANNEL)
        return ()
    nothing = result["counts"].get("planned", 0) == 0
    if nothing and settings.notify.notify_on is not NotifyOn.ALWAYS:
        result["notes"].append(f"nothing would change at {when}: no notice sent")
        return ()
    notice = Notification(
        MessageKind.NOTICE,
        with_people(result, instances, settings.owner_tag, strip_dry_run=True),
        keep=keep_hint(settings, max(now, run_at)),
        when=f"at {when}",
    )
    return post.send(notice)


def _digest(
    request: RunRequest,
    result: dict[str, Any],
    gateway: Gateway,
    post: _Post,
    now: datetime,
    *,
    tag_writes: TagWrites | None = None,
) -> tuple[DeliveryOutcome, ...]:
    """List every instance whose ECS auto-release time falls in the window, and the due times
    the tool will write from lifetime tags within it.

    Read afresh after the reconcile, so the times it just set count. Every instance the
    deployment can read in the run's regions counts (DescribeInstances is allowed on every
    instance; TARGET_REGIONS still bounds the read), whatever set its time: one outside the fence
    (TARGET_TAGS) or carrying a keep signal is flagged with the by-hand cancel, since the tool
    cannot cancel outside the fence (RAM's tag condition). ECS releases these by itself: this is
    their owners' only warning.
    """
    assert request.digest is not None  # noqa: S101 - the caller checked
    settings = request.settings
    window = request.digest
    if not post.channels:
        return ()
    policy = policy_for(request, tag_writes=tag_writes)
    try:
        read = [
            instance
            for region in request.selection.regions
            for instance in gateway.describe_instances(region)
        ]
    except EcsApiError as failure:
        result["notes"].append(f"digest not sent: reading the fleet failed ({failure.code})")
        return ()
    soon = [
        instance
        for instance in read
        if instance.auto_release_time is not None
        and now <= instance.auto_release_time <= now + window
    ]
    fence = settings.tags
    due = [
        (instance, decision.release_at)
        for instance in read
        if instance.auto_release_time is None
        and instance.tag(settings.auto_release_tag) is not None
        and (fence is None or fence.matches(instance))
        for decision in [decide_auto_release(instance, FromTag(), policy, now)]
        if decision.action is Action.NONE
        and decision.release_at is not None
        and now <= decision.release_at <= now + window
    ]
    if not soon and not due and settings.notify.notify_on is not NotifyOn.ALWAYS:
        result["notes"].append(f"digest: no auto-release within {_span(window)}; nothing sent")
        return ()
    entries = [_digest_entry(instance, settings, policy, now) for instance in soon]
    entries += [_due_entry(instance, moment, settings, policy) for instance, moment in due]
    soon += [instance for instance, _ in due]
    entries.sort(key=lambda entry: (entry["release_at"], entry["instance_id"]))
    summary = {
        "function": result["function"],
        "dry_run": False,
        "trigger": result["trigger"],
        "regions": result["regions"],
        "counts": {"auto-releasing": len(entries) - len(due), **({"due": len(due)} if due else {})},
        "instances": entries,
        "notes": [
            "ECS releases these by itself at the time shown; tag one to keep it "
            "(the reconcile then moves its time)"
        ],
    }
    digest = Notification(
        MessageKind.DIGEST,
        with_people(summary, soon, settings.owner_tag),
        keep=keep_hint(settings, now + window),
        when=f"within {_span(window)}",
    )
    return post.send(digest)


def _digest_entry(
    instance: Instance, settings: Settings, policy: Policy, now: datetime
) -> dict[str, Any]:
    assert instance.auto_release_time is not None  # noqa: S101 - filtered by the caller
    lifetime = instance.tag(settings.auto_release_tag)
    why = (
        f"its {settings.auto_release_tag} tag is {lifetime!r}"
        if lifetime is not None
        else "set by hand or in the console (no auto-release tag)"
    )
    when = show_in_zone(instance.auto_release_time, settings.time_zone)
    flags = []
    fence = settings.tags
    if fence is not None and not fence.matches(instance):
        flags.append(f"outside the fence (TARGET_TAGS {_show_fence(fence)})")
    kept = keep_reason(instance, policy) or keep_until(instance, policy, now).keeps
    if kept:
        flags.append(f"it {kept}" if kept.startswith("carries") else kept)
    reason = f"ECS releases it at {when}: {why}"
    if flags:
        reason = (
            f"{reason}; FLAGGED: {'; '.join(flags)}; this tool cannot cancel it, cancel by hand: "
            f"aliyun ecs ModifyInstanceAutoReleaseTime --RegionId {instance.region} "
            f"--InstanceId {instance.instance_id}"
        )
    return {
        "instance_id": instance.instance_id,
        "region": instance.region,
        "action": Action.SET_AUTO_RELEASE.value,
        "outcome": "scheduled",
        "reason": reason,
        "release_at": format_api_time(instance.auto_release_time),
    }


def _due_entry(
    instance: Instance, moment: datetime, settings: Settings, policy: Policy
) -> dict[str, Any]:
    """A lifetime due within the window whose ECS time is not written yet (beyond the horizon)."""
    lifetime = instance.tag(settings.auto_release_tag)
    return {
        "instance_id": instance.instance_id,
        "region": instance.region,
        "action": Action.NONE.value,
        "outcome": "due",
        "reason": (
            f"its {settings.auto_release_tag} tag {lifetime!r} is due at "
            f"{show_in_zone(moment, settings.time_zone)}; ECS's time is written within "
            f"{_span(policy.horizon)} of it while the instance stays in the fleet"
        ),
        "release_at": format_api_time(moment),
    }


def _show_fence(fence: TagSelector) -> str:
    return ",".join(f"{key}={value or '*'}" for key, value in fence.conditions)


def _span(window: timedelta) -> str:
    hours = window // timedelta(hours=1)
    if window == timedelta(hours=hours):
        return f"{hours}h"
    return f"{window // timedelta(minutes=1)}m"


@dataclass(frozen=True, slots=True)
class _Post:
    """Where and until when a run's messages go."""

    channels: Sequence[Channel]
    clock: Clock
    deadline: datetime | None  # the run's: no message is started after it

    def send(self, notification: Notification) -> tuple[DeliveryOutcome, ...]:
        """`send_all` within the time left before the run's deadline (each channel logs what it
        sent); when the time is already up, every channel failed, saying so.

        A report must not keep the function past its limit (FC would kill it and retry a run
        whose ECS work is done); a notice that could not be sent fails its run either way. The
        budget bounds every request, retry and wait of every channel (sent in parallel): what
        is not sent by then is an outcome marked `out_of_time`, in the result and the log.
        """
        if self.deadline is None:
            return send_all(self.channels, notification)
        if self.clock.now() >= self.deadline:
            outcomes = tuple(
                DeliveryOutcome(
                    channel.label, delivered=False, error=NO_TIME_LEFT, out_of_time=True
                )
                for channel in self.channels
            )
            for outcome in outcomes:
                log_line(
                    "notification_failed",
                    channel=outcome.channel,
                    kind=notification.kind.value,
                    error=outcome.error,
                )
            return outcomes
        return send_all(self.channels, notification, Budget.until(self.deadline, self.clock))


def _record(result: dict[str, Any], sent: Sequence[tuple[MessageKind, DeliveryOutcome]]) -> None:
    """One entry per channel and message kind: delivered or not, and why not; a note for each
    one the run's deadline cut, so nothing goes unsent without the summary saying so."""
    if sent:
        result["notifications"] = [
            {"kind": kind.value, **outcome.to_dict()} for kind, outcome in sent
        ]
    for kind, outcome in sent:
        if outcome.out_of_time:
            result["notes"].append(
                f"{kind.value} to {outcome.channel} not delivered by the run's deadline: "
                f"{outcome.messages} message(s) sent, {outcome.unsent or 'the rest'} not"
            )
