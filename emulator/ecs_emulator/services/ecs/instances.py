"""Instances: reading, stopping, starting, releasing, and their attributes."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from ecs_emulator.errors import ApiError, api_error, invalid_parameter, missing_parameter
from ecs_emulator.model import INSTANCE_STATUSES, LOCK_REASONS, Instance
from ecs_emulator.service import Body, Call
from ecs_emulator.services.ecs.common import (
    AUTO_RELEASE_MIN_LEAD,
    MAX_BATCH_IDS,
    batch_ids,
    checked_id_list,
    client_token,
    describe_page,
    dry_run_error,
    has_tags,
    region_for_single,
    replay,
    request_fingerprint,
    tag_filter,
    tags_body,
)
from ecs_emulator.state import FleetState, page_by_number
from ecs_emulator.wire import Params, format_minutes, parse_auto_release_time


# ----- instances: reading ---------------------------------------------------------------
def _instance_body(instance: Instance) -> Body:
    body: Body = {
        "InstanceId": instance.instance_id,
        "InstanceName": instance.name,
        "HostName": instance.name,
        "Description": "",
        "RegionId": instance.region,
        "ZoneId": instance.zone,
        "Status": instance.status,
        "InstanceChargeType": instance.charge_type,
        "InternetChargeType": "PayByTraffic",
        "SpotStrategy": instance.spot_strategy,
        "SpotPriceLimit": 0.0,
        "DeletionProtection": instance.deletion_protection,
        "AutoReleaseTime": format_minutes(instance.auto_release_time),
        "ExpiredTime": format_minutes(instance.expired_time),
        "CreationTime": format_minutes(instance.creation_time),
        "StartTime": format_minutes(instance.start_time),
        "StoppedMode": instance.stopped_mode,
        "ResourceGroupId": instance.resource_group_id,
        "InstanceType": instance.instance_type,
        "InstanceTypeFamily": instance.instance_type.rsplit(".", 1)[0],
        "InstanceNetworkType": "vpc",
        "Cpu": 2,
        "Memory": 8192,
        "OSType": "linux",
        "OSName": "Alibaba Cloud Linux 3",
        "ImageId": "aliyun_3_x64_20G_alibase_20240819.vhd",
        "Recyclable": False,
        "DeviceAvailable": True,
        "IoOptimized": True,
        "SerialNumber": "",
        # Reference 7.2: {"LockReason": [{LockReason, LockMsg}]}. The lock messages are not
        # documented; the emulator leaves them empty.
        "OperationLocks": {
            "LockReason": [
                {"LockReason": reason, "LockMsg": ""} for reason in instance.lock_reasons
            ]
        },
        "SecurityGroupIds": {"SecurityGroupId": []},
        "VpcAttributes": {"VpcId": "", "VSwitchId": "", "PrivateIpAddress": {"IpAddress": []}},
        "PublicIpAddress": {"IpAddress": []},
        "InnerIpAddress": {"IpAddress": []},
    }
    if instance.tags:
        # Observed in real output: the whole key is absent for an untagged instance.
        body["Tags"] = tags_body(instance.tags)
    return body


def describe_instances(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    ids = checked_id_list(params, "InstanceIds")
    status = params.get("Status")
    if status and status not in INSTANCE_STATUSES:
        raise api_error("InvalidStatus.NotFound")
    charge_type = params.get("InstanceChargeType")
    if charge_type and charge_type not in ("PostPaid", "PrePaid"):
        raise api_error("InvalidInstanceChargeType.NotFound")
    wanted_tags = tag_filter(params)
    lock_reason = params.get("LockReason")
    if lock_reason and lock_reason not in LOCK_REASONS:
        raise api_error("InvalidLockReason.NotFound")
    resource_group = params.get("ResourceGroupId")
    name_pattern = params.get("InstanceName")
    # Reference 18: a DescribeInstances dry run checks the key, RAM and required parameters
    # only, so it answers before the tag filter's cap can refuse anything.
    if params.boolean("DryRun", default=False):
        raise dry_run_error("DryRunOperation")

    def keep(instance: Instance) -> bool:
        return (
            not instance.released
            and (not status or instance.status == status)
            and (not charge_type or instance.charge_type == charge_type)
            and (not lock_reason or lock_reason in instance.lock_reasons)
            and (not resource_group or instance.resource_group_id == resource_group)
            and (not name_pattern or fnmatch.fnmatchcase(instance.name, name_pattern))
            and has_tags(instance.tags, wanted_tags)
        )

    candidates: Sequence[Instance]
    if ids is not None:
        # An empty JSON array is a valid filter that matches nothing; unknown ids are skipped.
        found = [state.find_instance(i, region) for i in dict.fromkeys(ids)]
        candidates = sorted((i for i in found if i is not None), key=lambda i: i.seq)
    elif wanted_tags:
        candidates = _within_tag_filter_cap(state, state.region_instances(region), keep)
    else:
        candidates = state.region_instances(region)
    page, meta = describe_page(
        state,
        params,
        candidates,
        keep,
        default_max=10,
        # Reference 7.1: "if unset or < 10 the default is 10; if > 100 it is 100".
        max_results_range=(10, 100),
        max_page_size=100,
        # Reference 7.1: with MaxResults or NextToken set, TotalCount is meaningless. The page's
        # own length is a plausible number that is never the total of a longer answer, so a
        # client that comes to rely on it fails here rather than against the real service.
        token_mode_total=False,
    )
    return {**meta, "Instances": {"Instance": [_instance_body(i) for i in page]}}


def _within_tag_filter_cap(
    state: FleetState, instances: Sequence[Instance], keep: Callable[[Instance], bool]
) -> list[Instance]:
    """The instances a tag-filtered DescribeInstances can see: at most ``tag_filter_cap``.

    Reference 7.1: tag filtering is limited to 1,000 matching resources (counted here over what
    all the call's filters match, since the reference does not say more). Past the cap the
    emulator either cuts the matches short (in creation order, the order it pages in) or refuses
    the call, as ``settings.tag_filter_overflow`` says; reference 18 leaves which one open.
    """
    settings = state.settings
    matching = [instance for instance in instances if keep(instance)]
    if len(matching) <= settings.tag_filter_cap:
        return matching
    if settings.tag_filter_overflow == "error":
        raise api_error("InvalidParameter.TagFilterResourceLimit")
    return matching[: settings.tag_filter_cap]


def describe_instance_status(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    ids = list(dict.fromkeys(params.repeat_list("InstanceId")))
    if len(ids) > MAX_BATCH_IDS:
        raise api_error("InvalidParameter.TooManyInstanceIds")
    page_number = params.integer("PageNumber", default=1)
    page_size = params.integer("PageSize", default=10)
    if page_number < 1:
        raise invalid_parameter("PageNumber")
    if not 1 <= page_size <= 50:
        raise invalid_parameter("PageSize")
    candidates: Iterable[Instance]
    if ids:
        # UNCONFIRMED: unknown ids are not listed as an error, so they are simply absent.
        found = [state.find_instance(i, region) for i in ids]
        candidates = sorted((i for i in found if i is not None), key=lambda i: i.seq)
    else:
        candidates = state.region_instances(region)
    page, _, total = page_by_number(
        candidates,
        page_number=page_number,
        page_size=page_size,
        keep=lambda i: not i.released,
    )
    return {
        "TotalCount": total,
        "PageNumber": page_number,
        "PageSize": page_size,
        "InstanceStatuses": {
            "InstanceStatus": [{"InstanceId": i.instance_id, "Status": i.status} for i in page]
        },
    }


def describe_instance_attribute(state: FleetState, call: Call) -> Body:
    instance_id = call.params.require("InstanceId")
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    full = _instance_body(instance)
    # Reference 9: this operation does NOT return DeletionProtection, AutoReleaseTime or Tags.
    for absent in ("DeletionProtection", "AutoReleaseTime", "Tags", "SpotStrategy", "StartTime"):
        full.pop(absent, None)
    return full


# ----- instances: stopping ---------------------------------------------------------------
def _stopped_mode(params: Params) -> str | None:
    mode = params.get("StoppedMode")
    if mode and mode not in ("StopCharging", "KeepCharging"):
        raise invalid_parameter("StoppedMode")
    return mode or None


def _stop(
    state: FleetState, instance: Instance, *, force: bool, mode: str | None, now: datetime
) -> None:
    # Economical mode applies to pay-as-you-go VPC instances only; anything else is "just
    # stopped" without an error (reference 4.1). All emulated instances are VPC instances.
    if mode == "StopCharging" and instance.charge_type == "PostPaid":
        instance.stopped_mode = "StopCharging"
    else:
        instance.stopped_mode = "KeepCharging"
    settings = state.settings
    delay = settings.stop_delay
    if force and settings.force_stop_delay is not None:
        delay = settings.force_stop_delay
    instance.status = "Stopping"
    if delay <= 0:
        instance.status = "Stopped"
        instance.transition_done_at = None
    else:
        state.schedule_transition(instance, delay, now)


def _stop_refusal(state: FleetState, instance: Instance, operation: str) -> ApiError | None:
    # No lock check: the security-lock API page (S18, reference 3) says stopping is unaffected,
    # and what a financial lock does to a stop is not in the reference.
    failure = state.failure_for(instance.instance_id, operation)
    if failure is not None:
        return failure
    if instance.status != "Running":
        return api_error("IncorrectInstanceStatus")
    return None


def stop_instance(state: FleetState, call: Call) -> Body:
    params = call.params
    instance_id = params.require("InstanceId")
    force = params.boolean("ForceStop", default=False)
    mode = _stopped_mode(params)
    dry_run = params.boolean("DryRun", default=False)
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    refusal = _stop_refusal(state, instance, "StopInstance")
    if refusal is not None:
        raise refusal
    if dry_run:
        raise dry_run_error("DryRunOperation")
    _stop(state, instance, force=force, mode=mode, now=call.now)
    return {}


def _batch_result(instance_id: str, code: str, message: str, previous: str, current: str) -> Body:
    """One InstanceResponse of StopInstances or StartInstances (``Code`` a string, "200" ok)."""
    return {
        "Code": code,
        "Message": message,
        "InstanceId": instance_id,
        "PreviousStatus": previous,
        "CurrentStatus": current,
    }


def stop_instances(state: FleetState, call: Call) -> Body:
    params = call.params
    force = params.boolean("ForceStop", default=False)
    mode = _stopped_mode(params)
    return _batch_change(
        state,
        call,
        refusal=lambda instance: _stop_refusal(state, instance, "StopInstances"),
        change=lambda instance: _stop(state, instance, force=force, mode=mode, now=call.now),
    )


def _batch_change(
    state: FleetState,
    call: Call,
    *,
    refusal: Callable[[Instance], ApiError | None],
    change: Callable[[Instance], None],
) -> Body:
    """StopInstances / StartInstances: the same parameters, modes and answers.

    ``BatchOptimization=AllTogether`` (the default): if any instance fails validation, none is
    changed and the call fails. ``SuccessFirst``: each instance on its own, one result per
    instance in a 200 answer. A dry run answers ``DRYRUN.SUCCESS``, always so with SuccessFirst
    (reference 4.1; the StartInstances page says the same).
    """
    params = call.params
    region = params.require("RegionId")
    ids = batch_ids(params)
    dry_run = params.boolean("DryRun", default=False)
    batch = params.text("BatchOptimization", "AllTogether") or "AllTogether"
    if batch not in ("AllTogether", "SuccessFirst"):
        raise invalid_parameter("BatchOptimization")

    if batch == "SuccessFirst":
        if dry_run:
            raise dry_run_error("DRYRUN.SUCCESS")
        results: list[Body] = []
        for instance_id in ids:
            instance = state.find_instance(instance_id, region)
            if instance is None:
                not_found = api_error("InvalidInstanceId.NotFound")
                results.append(
                    _batch_result(instance_id, not_found.code, not_found.message, "", "")
                )
                continue
            refused = refusal(instance)
            if refused is not None:
                # UNCONFIRMED: the per-instance code for an instance in the wrong state.
                results.append(
                    _batch_result(
                        instance_id, refused.code, refused.message, instance.status, instance.status
                    )
                )
                continue
            previous = instance.status
            change(instance)
            results.append(_batch_result(instance_id, "200", "success", previous, instance.status))
        return {"InstanceResponses": {"InstanceResponse": results}}

    instances: list[Instance] = []
    for instance_id in ids:
        instance = state.find_instance(instance_id, region)
        if instance is None:
            raise api_error("InvalidInstanceId.NotFound")
        refused = refusal(instance)
        if refused is not None:
            raise refused
        instances.append(instance)
    if dry_run:
        raise dry_run_error("DRYRUN.SUCCESS")
    responses: list[Body] = []
    for instance in instances:
        previous = instance.status
        change(instance)
        responses.append(
            _batch_result(instance.instance_id, "200", "success", previous, instance.status)
        )
    return {"InstanceResponses": {"InstanceResponse": responses}}


# ----- instances: starting ----------------------------------------------------------------
# StartInstance / StartInstances (API reference pages api-ecs-2014-05-26-startinstance(s)):
# asynchronous; the instance must be Stopped, goes to Starting, then Running; a security-locked
# instance is refused with InstanceLockedForSecurity (also the security-lock API page, S18).
# StartInstances takes RegionId, InstanceId.N (1-100), BatchOptimization and DryRun like
# StopInstances and answers per-instance InstanceResponses. What a financial lock does to a start
# (the older error list has InsufficientBalance / InstanceExpiredOrInArrears) is not in the
# reference, so a financially locked instance starts here.
def _start_refusal(state: FleetState, instance: Instance, operation: str) -> ApiError | None:
    failure = state.failure_for(instance.instance_id, operation)
    if failure is not None:
        return failure
    if instance.security_locked:
        return api_error("InstanceLockedForSecurity")
    if instance.status != "Stopped":
        return api_error("IncorrectInstanceStatus")
    return None


def _start(state: FleetState, instance: Instance, *, now: datetime) -> None:
    instance.stopped_mode = "Not-applicable"
    delay = state.settings.start_delay
    if delay is None or delay <= 0:
        instance.status = "Running"
        instance.start_time = now
        instance.transition_done_at = None
    else:
        # StartTime becomes the moment it is Running again (FleetState.settle).
        instance.status = "Starting"
        state.schedule_transition(instance, delay, now)


def start_instance(state: FleetState, call: Call) -> Body:
    params = call.params
    instance_id = params.require("InstanceId")
    params.boolean(
        "InitLocalDisk", default=False
    )  # validated; emulated instances have no local disks
    dry_run = params.boolean("DryRun", default=False)
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    refusal = _start_refusal(state, instance, "StartInstance")
    if refusal is not None:
        raise refusal
    if dry_run:
        # UNCONFIRMED: DryRunOperation, as the other single-instance operations answer (ref. 14).
        raise dry_run_error("DryRunOperation")
    _start(state, instance, now=call.now)
    return {}


def start_instances(state: FleetState, call: Call) -> Body:
    return _batch_change(
        state,
        call,
        refusal=lambda instance: _start_refusal(state, instance, "StartInstances"),
        change=lambda instance: _start(state, instance, now=call.now),
    )


# ----- instances: releasing ------------------------------------------------------------
def _release_refusal(
    state: FleetState,
    instance: Instance,
    *,
    operation: str,
    force: bool,
    terminate_subscription: bool,
    now: datetime,
) -> ApiError | None:
    # No lock check: releasing a security-locked instance is allowed (S18, reference 3), and it
    # takes the disks marked DeleteWithInstance=false with it (FleetState.release).
    failure = state.failure_for(instance.instance_id, operation)
    if failure is not None:
        return failure
    if instance.deletion_protection:
        return api_error("InvalidOperation.DeletionProtection")
    if instance.charge_type == "PrePaid" and not (
        instance.is_expired(now) and terminate_subscription
    ):
        # Only an expired subscription instance may be released, and only with
        # TerminateSubscription=true (reference 5.1).
        return api_error("ChargeTypeViolation")
    if instance.status == "Pending":
        return api_error("IncorrectInstanceStatus.Initializing")
    if instance.status != "Stopped" and not force:
        return api_error("IncorrectInstanceStatus")
    return None


def delete_instance(state: FleetState, call: Call) -> Body:
    params = call.params
    instance_id = params.require("InstanceId")
    force = params.boolean("Force", default=False)
    params.boolean("ForceStop", default=True)  # validated; release is immediate either way
    terminate = params.boolean("TerminateSubscription", default=False)
    dry_run = params.boolean("DryRun", default=False)
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    refusal = _release_refusal(
        state,
        instance,
        operation="DeleteInstance",
        force=force,
        terminate_subscription=terminate,
        now=call.now,
    )
    if refusal is not None:
        raise refusal
    if dry_run:
        raise dry_run_error("DryRunOperation")
    state.release(instance, call.now, "DeleteInstance")
    return {}


def delete_instances(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    ids = params.repeat_list("InstanceId")
    if not ids:
        raise missing_parameter("InstanceId")
    ids = list(dict.fromkeys(ids))
    if len(ids) > MAX_BATCH_IDS:
        raise api_error("InvalidParameter.TooManyInstanceIds")
    force = params.boolean("Force", default=False)
    params.boolean("ForceStop", default=True)  # validated; release is immediate either way
    terminate = params.boolean("TerminateSubscription", default=False)
    dry_run = params.boolean("DryRun", default=False)
    token = client_token(params)
    replayed = replay(state, "DeleteInstances", token, params)
    if replayed is not None:
        return replayed
    instances: list[Instance] = []
    for instance_id in ids:
        instance = state.find_instance(instance_id, region)
        if instance is None:
            # Reference 5.2 and 18: both codes are listed (404); DeleteInstances uses the plural
            # form for an unknown id, so a caller must accept both.
            raise api_error("InvalidInstanceIds.NotFound")
        refusal = _release_refusal(
            state,
            instance,
            operation="DeleteInstances",
            force=force,
            terminate_subscription=terminate,
            now=call.now,
        )
        if refusal is not None:
            # All-or-nothing (reference 5.2: no per-instance results): nothing is released.
            raise refusal
        instances.append(instance)
    if dry_run:
        raise dry_run_error("DRYRUN.SUCCESS")
    for instance in instances:
        state.release(instance, call.now, "DeleteInstances")
    body: Body = {}
    if token is not None:
        state.idempotency[("DeleteInstances", token)] = (request_fingerprint(params), body)
    return dict(body)


# ----- instances: attributes -------------------------------------------------------------
def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def modify_instance_auto_release_time(state: FleetState, call: Call) -> Body:
    params = call.params
    instance_id = params.get("InstanceId")
    if not instance_id:
        raise ApiError("MissingParameter", 400, "InstanceId should not be null.")
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        # Reference 6: NoSuchResource, not InvalidInstanceId.NotFound, is this operation's code.
        raise api_error("NoSuchResource")
    failure = state.failure_for(instance_id, "ModifyInstanceAutoReleaseTime")
    if failure is not None:
        raise failure
    if instance.security_locked:
        # The security-lock API page (reference S18) lists this operation as refused.
        raise api_error("InstanceLockedForSecurity")
    if instance.charge_type == "PrePaid":
        raise api_error("ChargeTypeViolation")
    raw = params.get("AutoReleaseTime")
    if raw is None:
        # Omitting the parameter cancels auto-release (documented).
        instance.auto_release_time = None
        return {}
    # An explicit empty value is UNCONFIRMED in the reference; the emulator treats it as
    # malformed so that code relying on "" to cancel fails loudly here instead of in production.
    release_at = parse_auto_release_time(raw)
    # The documented window: at least 30 minutes and at most 3 years after now. The error for a
    # well-formed time outside it is UNCONFIRMED; Malformed is the reference's best guess.
    if release_at < call.now + AUTO_RELEASE_MIN_LEAD or release_at > _add_years(call.now, 3):
        raise api_error("InvalidAutoReleaseTime.Malformed")
    instance.auto_release_time = release_at
    state.schedule(release_at, "auto-release", instance.instance_id)
    return {}


def modify_instance_attribute(state: FleetState, call: Call) -> Body:
    params = call.params
    instance_id = params.require("InstanceId")
    instance = state.find_instance(instance_id, region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    failure = state.failure_for(instance_id, "ModifyInstanceAttribute")
    if failure is not None:
        raise failure
    if instance.security_locked:
        # Reference 3 and 10: a security-locked instance cannot be modified.
        raise api_error("InstanceLockedForSecurity")
    if params.has("DeletionProtection"):
        protect = params.boolean("DeletionProtection", default=False)
        if instance.charge_type == "PrePaid" or instance.spot_strategy != "NoSpot":
            raise api_error("InvalidChargeType.ValueNotSupported")
        instance.deletion_protection = protect
    name = params.get("InstanceName")
    if name:
        instance.name = name
    return {}
