"""The ECS operations: parameters, limits, effects and answers as the reference documents them.

Each handler takes the fleet and one call and returns the JSON body of a 200 answer (the server
adds ``RequestId``), or raises :class:`~ecs_emulator.errors.ApiError`. Handlers run under the
emulator's lock after :meth:`FleetState.settle`, so they see the fleet as of the call's time.

Where the reference marks a behaviour UNCONFIRMED, the choice made here is noted next to it.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from ecs_emulator.errors import ApiError, api_error, invalid_parameter, missing_parameter
from ecs_emulator.model import INSTANCE_STATUSES, LOCK_REASONS, Disk, Instance, Snapshot
from ecs_emulator.state import FleetState, Sequenced, page_by_number, page_by_position
from ecs_emulator.wire import Params, format_minutes, format_seconds, parse_auto_release_time

MAX_BATCH_IDS: Final = 100
MAX_TAG_RESOURCES: Final = 50
MAX_TAGS: Final = 20
MAX_SNAPSHOTS_PER_DISK: Final = 256
# UNCONFIRMED: ListTagResources has no page-size parameter; the server's page size is not
# documented.
LIST_TAG_RESOURCES_PAGE: Final = 50
AUTO_RELEASE_MIN_LEAD: Final = timedelta(minutes=30)
TAGGABLE_TYPES: Final = ("instance", "disk", "snapshot")
# Resource types TagResources knows but the emulator holds none of: their ids are never found.
OTHER_TAGGABLE_TYPES: Final = ("image", "securitygroup", "eni", "ddh", "keypair", "launchtemplate")

Body = dict[str, object]
_T = TypeVar("_T", bound=Sequenced)


@dataclass(frozen=True)
class Call:
    """One authenticated request: its business parameters, the time, and the host's region."""

    params: Params
    now: datetime
    host_region: str | None


Handler = Callable[[FleetState, Call], Body]


# ----- shared checks ------------------------------------------------------------------------
def _dry_run(code: str) -> ApiError:
    return api_error(code)


def _batch_ids(params: Params) -> list[str]:
    ids = list(dict.fromkeys(params.repeat_list("InstanceId")))
    if not ids:
        # Reference 4.1: 403 InvalidInstanceId.NotFound "InstanceId should not be null."
        raise api_error(
            "InvalidInstanceId.NotFound", status=403, message="InstanceId should not be null."
        )
    if len(ids) > MAX_BATCH_IDS:
        raise api_error("InvalidParameter.TooManyInstanceIds")
    return ids


def _region_for_single(call: Call) -> str | None:
    """Ops without RegionId take the region from the host name, or find the id anywhere."""
    return call.params.get("RegionId") or call.host_region


def _tag_filter(params: Params) -> list[tuple[str, str | None]]:
    pairs = params.tag_pairs("Tag")
    if len(pairs) > MAX_TAGS:
        raise api_error("InvalidTagCount")
    wanted: list[tuple[str, str | None]] = []
    for key, value in pairs:
        if not key:
            raise api_error("InvalidTag.Mismatch")
        wanted.append((key, value))
    return wanted


def _has_tags(tags: dict[str, str], wanted: Sequence[tuple[str, str | None]]) -> bool:
    """All wanted tags present; a key given without a value matches any value."""
    return all(key in tags and (value is None or tags[key] == value) for key, value in wanted)


def _tags_body(tags: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"Tag": [{"TagKey": key, "TagValue": value} for key, value in tags.items()]}


def _validate_new_tags(pairs: list[tuple[str | None, str | None]]) -> dict[str, str]:
    if len(pairs) > MAX_TAGS:
        raise api_error("NumberExceed.Tags")
    tags: dict[str, str] = {}
    seen_lower: set[str] = set()
    for key, value in pairs:
        if not key:
            raise missing_parameter("Tag.N.Key")
        if (
            len(key) > 128
            or key.lower().startswith(("aliyun", "acs:"))
            or re.search(r"https?://", key)
        ):
            raise api_error("InvalidTagKey.Malformed")
        text = value or ""
        if len(text) > 128 or re.search(r"https?://", text):
            raise api_error("InvalidTagValue.Malformed")
        if key in tags:
            raise api_error("Duplicate.TagKey")
        if key.lower() in seen_lower:
            raise api_error(
                "TagKey.Duplication",
                status=403,
                message="The tag key is duplicated (case-insensitive).",
            )
        seen_lower.add(key.lower())
        tags[key] = text
    return tags


def _paging(
    params: Params,
    *,
    default_max: int,
    max_results_range: tuple[int, int],
    max_page_size: int,
) -> tuple[bool, int, int, int]:
    """Resolve the two paging styles: (token mode, after seq, page number, page size).

    If MaxResults or NextToken is set, PageNumber/PageSize are ignored (reference 7.1).
    """
    low, high = max_results_range
    next_token = params.text("NextToken")
    if params.has("MaxResults") or next_token:
        requested = params.integer("MaxResults", default=default_max)
        size = min(max(requested, low), high)
        return True, 0, 1, size
    page_number = params.integer("PageNumber", default=1)
    page_size = params.integer("PageSize", default=10)
    if page_number < 1:
        raise invalid_parameter("PageNumber")
    if not 1 <= page_size <= max_page_size:
        # UNCONFIRMED code: the reference gives the range, not the error for leaving it.
        raise invalid_parameter("PageSize")
    return False, 0, page_number, page_size


def _describe_page(
    state: FleetState,
    params: Params,
    items: Sequence[_T],
    keep: Callable[[_T], bool],
    *,
    default_max: int,
    max_results_range: tuple[int, int],
    max_page_size: int,
    token_mode_total: bool = True,
) -> tuple[list[_T], Body]:
    """One page in either paging style, plus the paging fields of the answer.

    The last page carries an empty ``NextToken`` (reference: "An empty NextToken means no more
    data"). A PageNumber-style answer carries a NextToken too, so either loop style terminates.
    ``token_mode_total=False``: in NextToken mode ``TotalCount`` is the page's own length, not
    the total, for operations whose TotalCount is documented as meaningless in that mode.
    """
    token_mode, _, page_number, size = _paging(
        params,
        default_max=default_max,
        max_results_range=max_results_range,
        max_page_size=max_page_size,
    )
    if token_mode:
        token = params.text("NextToken")
        after = state.decode_token(token) if token else 0
        page, resume, total = page_by_position(
            items, after_seq=after, limit=size, keep=keep, count_total=token_mode_total
        )
    else:
        page, resume, total = page_by_number(
            items, page_number=page_number, page_size=size, keep=keep
        )
    meta: Body = {
        "TotalCount": total,
        "PageNumber": page_number,
        "PageSize": size,
        "NextToken": state.encode_token(resume) if resume is not None else "",
    }
    return page, meta


def _checked_id_list(params: Params, name: str) -> list[str] | None:
    ids = params.json_list(name)
    if ids is not None and len(ids) > MAX_BATCH_IDS:
        raise invalid_parameter(name, f"cannot hold more than {MAX_BATCH_IDS} items")
    return ids


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
        body["Tags"] = _tags_body(instance.tags)
    return body


def describe_instances(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    ids = _checked_id_list(params, "InstanceIds")
    status = params.get("Status")
    if status and status not in INSTANCE_STATUSES:
        raise api_error("InvalidStatus.NotFound")
    charge_type = params.get("InstanceChargeType")
    if charge_type and charge_type not in ("PostPaid", "PrePaid"):
        raise api_error("InvalidInstanceChargeType.NotFound")
    wanted_tags = _tag_filter(params)
    lock_reason = params.get("LockReason")
    if lock_reason and lock_reason not in LOCK_REASONS:
        raise api_error("InvalidLockReason.NotFound")
    resource_group = params.get("ResourceGroupId")
    name_pattern = params.get("InstanceName")
    # Reference 18: a DescribeInstances dry run checks the key, RAM and required parameters
    # only, so it answers before the tag filter's cap can refuse anything.
    if params.boolean("DryRun", default=False):
        raise _dry_run("DryRunOperation")

    def keep(instance: Instance) -> bool:
        return (
            not instance.released
            and (not status or instance.status == status)
            and (not charge_type or instance.charge_type == charge_type)
            and (not lock_reason or lock_reason in instance.lock_reasons)
            and (not resource_group or instance.resource_group_id == resource_group)
            and (not name_pattern or fnmatch.fnmatchcase(instance.name, name_pattern))
            and _has_tags(instance.tags, wanted_tags)
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
    page, meta = _describe_page(
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
    instance = state.find_instance(instance_id, _region_for_single(call))
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
    instance = state.find_instance(instance_id, _region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    refusal = _stop_refusal(state, instance, "StopInstance")
    if refusal is not None:
        raise refusal
    if dry_run:
        raise _dry_run("DryRunOperation")
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
    ids = _batch_ids(params)
    dry_run = params.boolean("DryRun", default=False)
    batch = params.text("BatchOptimization", "AllTogether") or "AllTogether"
    if batch not in ("AllTogether", "SuccessFirst"):
        raise invalid_parameter("BatchOptimization")

    if batch == "SuccessFirst":
        if dry_run:
            raise _dry_run("DRYRUN.SUCCESS")
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
        raise _dry_run("DRYRUN.SUCCESS")
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
    instance = state.find_instance(instance_id, _region_for_single(call))
    if instance is None:
        raise api_error("InvalidInstanceId.NotFound")
    refusal = _start_refusal(state, instance, "StartInstance")
    if refusal is not None:
        raise refusal
    if dry_run:
        # UNCONFIRMED: DryRunOperation, as the other single-instance operations answer (ref. 14).
        raise _dry_run("DryRunOperation")
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
    instance = state.find_instance(instance_id, _region_for_single(call))
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
        raise _dry_run("DryRunOperation")
    state.release(instance, call.now, "DeleteInstance")
    return {}


def _fingerprint(params: Params) -> str:
    business = {k: v for k, v in params.as_dict().items() if k != "ClientToken"}
    return json.dumps(business, sort_keys=True)


def _client_token(params: Params) -> str | None:
    token = params.get("ClientToken")
    if token is None or token == "":
        return None
    if len(token) > 64 or not token.isascii():
        raise invalid_parameter("ClientToken")
    return token


def _replay(state: FleetState, operation: str, token: str | None, params: Params) -> Body | None:
    """The stored answer for a reused ClientToken, or None if the token is new.

    Same token and same parameters: the first answer again, nothing done a second time. Same
    token, other parameters: IdempotentParameterMismatch. Only successful calls store their
    token, so a call that failed can be retried with the same token.
    """
    if token is None:
        return None
    stored = state.idempotency.get((operation, token))
    if stored is None:
        return None
    fingerprint, body = stored
    if fingerprint != _fingerprint(params):
        raise api_error("IdempotentParameterMismatch")
    return dict(body)


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
    token = _client_token(params)
    replayed = _replay(state, "DeleteInstances", token, params)
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
        raise _dry_run("DRYRUN.SUCCESS")
    for instance in instances:
        state.release(instance, call.now, "DeleteInstances")
    body: Body = {}
    if token is not None:
        state.idempotency[("DeleteInstances", token)] = (_fingerprint(params), body)
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
    instance = state.find_instance(instance_id, _region_for_single(call))
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
    instance = state.find_instance(instance_id, _region_for_single(call))
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


# ----- disks and snapshots -----------------------------------------------------------------
def _disk_body(disk: Disk) -> Body:
    return {
        "DiskId": disk.disk_id,
        "DiskName": "",
        "Description": "",
        "RegionId": disk.region,
        "ZoneId": disk.zone,
        "InstanceId": disk.instance_id,
        "Type": disk.disk_type,
        "Category": disk.category,
        "Size": disk.size_gib,
        "Status": disk.status(),
        "Device": disk.device if disk.instance_id else "",
        "DeleteWithInstance": disk.delete_with_instance,
        "DeleteAutoSnapshot": True,
        "EnableAutoSnapshot": False,
        "DiskChargeType": "PostPaid",
        "Portable": disk.disk_type == "data",
        "Encrypted": False,
        "CreationTime": format_seconds(disk.creation_time),
        "AttachedTime": format_seconds(disk.creation_time) if disk.instance_id else "",
        "Attachments": {
            "Attachment": (
                [{"InstanceId": disk.instance_id, "Device": disk.device}]
                if disk.instance_id
                else []
            )
        },
        # Observed in real output: disks carry {"Tag": []} even when untagged.
        "Tags": _tags_body(disk.tags),
    }


def describe_disks(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    instance_id = params.get("InstanceId")
    disk_ids = _checked_id_list(params, "DiskIds")
    disk_type = (params.get("DiskType") or "all").lower()
    if disk_type not in ("all", "system", "data"):
        raise invalid_parameter("DiskType")
    wanted_tags = _tag_filter(params)
    dry_run = params.boolean("DryRun", default=False)

    def keep(disk: Disk) -> bool:
        return (
            not disk.released
            and disk.region == region
            and (not instance_id or disk.instance_id == instance_id)
            and disk_type in ("all", disk.disk_type)
            and _has_tags(disk.tags, wanted_tags)
        )

    candidates: Sequence[Disk]
    if disk_ids is not None:
        found = [state.disks.get(d) for d in dict.fromkeys(disk_ids)]
        candidates = sorted((d for d in found if d is not None), key=lambda d: d.seq)
    elif instance_id:
        found = [state.disks.get(d) for d in state.disks_by_instance.get(instance_id, [])]
        candidates = sorted((d for d in found if d is not None), key=lambda d: d.seq)
    else:
        candidates = state.region_disks(region)
    page, meta = _describe_page(
        state,
        params,
        candidates,
        keep,
        default_max=10,
        # Reference 11.1: MaxResults 10-500, below 10 -> 10, above 500 -> 500.
        max_results_range=(10, 500),
        max_page_size=100,
    )
    if dry_run:
        raise _dry_run("DryRunOperation")
    return {**meta, "Disks": {"Disk": [_disk_body(d) for d in page]}}


_SNAPSHOT_NAME: Final = re.compile(r"^[A-Za-z\u4e00-\u9fff][\w\u4e00-\u9fff.:-]{1,127}$")


def _check_snapshot_text(params: Params) -> tuple[str, str, int | None]:
    name = params.text("SnapshotName")
    if name and (
        not _SNAPSHOT_NAME.match(name)
        or name.lower().startswith("auto")
        or name.lower().startswith(("http://", "https://"))
    ):
        raise api_error("InvalidSnapshotName.Malformed")
    description = params.text("Description")
    if description and (
        not 2 <= len(description) <= 256 or description.startswith(("http://", "https://"))
    ):
        raise api_error("InvalidDescription.Malformed")
    retention: int | None = None
    if params.get("RetentionDays"):
        retention = params.integer("RetentionDays", default=0)
        if not 1 <= retention <= 65536:
            raise api_error("InvalidRetentionDays.Malformed")
    return name, description, retention


def create_snapshot(state: FleetState, call: Call) -> Body:
    params = call.params
    disk_id = params.require("DiskId")
    name, description, retention = _check_snapshot_text(params)
    tags = _validate_new_tags(params.tag_pairs("Tag")) if params.tag_pairs("Tag") else {}
    token = _client_token(params)
    replayed = _replay(state, "CreateSnapshot", token, params)
    if replayed is not None:
        return replayed
    disk = state.disks.get(disk_id)
    region = _region_for_single(call)
    if disk is None or disk.released or (region is not None and disk.region != region):
        raise api_error("InvalidDiskId.NotFound")
    failure = state.failure_for(disk_id, "CreateSnapshot")
    if failure is not None:
        raise failure
    if disk.instance_id:
        instance = state.instances.get(disk.instance_id)
        if instance is not None and instance.security_locked:
            # The security-lock API page (S18): refused only for a disk attached (In_use) to a
            # locked instance, which is every attached disk here.
            raise api_error("InstanceLockedForSecurity")
        if instance is None or instance.status not in ("Running", "Stopped"):
            raise api_error("IncorrectInstanceStatus")
    of_disk = [s for s in state.region_snapshots(disk.region) if s.disk_id == disk_id]
    if any(s.status(call.now) == "progressing" for s in of_disk):
        raise api_error("IncorrectDiskStatus.CreatingSnapshot")
    if len(of_disk) >= MAX_SNAPSHOTS_PER_DISK:
        raise api_error("QuotaExceed.Snapshot")
    snapshot = Snapshot(
        snapshot_id=state.new_id("s-", disk.region),
        region=disk.region,
        disk_id=disk.disk_id,
        disk_type=disk.disk_type,
        instance_id=disk.instance_id,
        name=name,
        description=description,
        retention_days=retention,
        tags=tags,
        creation_time=call.now,
        duration=timedelta(seconds=state.settings.snapshot_duration),
        will_fail=state.fail_all_snapshots or disk_id in state.failing_snapshot_disks,
        seq=state.next_seq(),
    )
    state.add_snapshot(snapshot)
    body: Body = {"SnapshotId": snapshot.snapshot_id}
    if token is not None:
        state.idempotency[("CreateSnapshot", token)] = (_fingerprint(params), body)
    return dict(body)


def _snapshot_body(snapshot: Snapshot, now: datetime, disk_size: int) -> Body:
    status = snapshot.status(now)
    return {
        "SnapshotId": snapshot.snapshot_id,
        "SnapshotName": snapshot.name,
        "Description": snapshot.description,
        "Status": status,
        "Progress": f"{snapshot.progress_percent(now)}%",
        "RemainTime": snapshot.remaining_seconds(now),
        "SourceDiskId": snapshot.disk_id,
        "SourceDiskType": snapshot.disk_type,
        "SourceDiskSize": str(disk_size),
        "SourceStorageType": "disk",
        "Available": status == "accomplished",
        "CreationTime": format_seconds(snapshot.creation_time),
        "LastModifiedTime": format_seconds(now),
        "RetentionDays": snapshot.retention_days or 0,
        "SnapshotType": "user",
        "Category": "standard",
        "Usage": "none",
        "Encrypted": False,
        "InstantAccess": False,
        "ResourceGroupId": "",
        "RegionId": snapshot.region,
        # UNCONFIRMED for snapshots: shaped like disks, {"Tag": []} when untagged.
        "Tags": _tags_body(snapshot.tags),
    }


def describe_snapshots(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    snapshot_ids = _checked_id_list(params, "SnapshotIds")
    instance_id = params.get("InstanceId")
    disk_id = params.get("DiskId")
    status = (params.get("Status") or "all").lower()
    if status not in ("progressing", "accomplished", "failed", "all"):
        raise invalid_parameter("Status")
    wanted_tags = _tag_filter(params)
    dry_run = params.boolean("DryRun", default=False)
    now = call.now

    def keep(snapshot: Snapshot) -> bool:
        return (
            snapshot.region == region
            and (not instance_id or snapshot.instance_id == instance_id)
            and (not disk_id or snapshot.disk_id == disk_id)
            and (status == "all" or snapshot.status(now) == status)
            and _has_tags(snapshot.tags, wanted_tags)
        )

    candidates: Sequence[Snapshot]
    if snapshot_ids is not None:
        found = [state.snapshots.get(s) for s in dict.fromkeys(snapshot_ids)]
        candidates = sorted((s for s in found if s is not None), key=lambda s: s.seq)
    else:
        candidates = state.region_snapshots(region)
    page, meta = _describe_page(
        state,
        params,
        candidates,
        keep,
        default_max=10,
        max_results_range=(1, 100),
        max_page_size=100,
    )
    if dry_run:
        raise _dry_run("DryRunOperation")

    def size_of(snapshot: Snapshot) -> int:
        disk = state.disks.get(snapshot.disk_id)
        return disk.size_gib if disk else 40

    return {**meta, "Snapshots": {"Snapshot": [_snapshot_body(s, now, size_of(s)) for s in page]}}


# ----- tags ------------------------------------------------------------------------------
def _resource_type(params: Params) -> str:
    resource_type = params.require("ResourceType").lower()
    if resource_type not in TAGGABLE_TYPES and resource_type not in OTHER_TAGGABLE_TYPES:
        raise api_error("InvalidResourceType.NotFound")
    return resource_type


def _tagged_resource(
    state: FleetState, resource_type: str, resource_id: str, region: str
) -> Instance | Disk | Snapshot | None:
    resource: Instance | Disk | Snapshot | None
    if resource_type == "instance":
        resource = state.instances.get(resource_id)
    elif resource_type == "disk":
        resource = state.disks.get(resource_id)
    elif resource_type == "snapshot":
        resource = state.snapshots.get(resource_id)
    else:
        resource = None
    if resource is None or resource.region != region:
        return None
    return resource


def _resource_ids(params: Params) -> list[str]:
    ids = list(dict.fromkeys(params.repeat_list("ResourceId")))
    if len(ids) > MAX_TAG_RESOURCES:
        raise api_error("NumberExceed.ResourceIds")
    return ids


def tag_resources(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    resource_type = _resource_type(params)
    ids = _resource_ids(params)
    if not ids:
        raise missing_parameter("ResourceId")
    pairs = params.tag_pairs("Tag")
    if not pairs:
        raise missing_parameter("Tag")
    new_tags = _validate_new_tags(pairs)
    resources = []
    for resource_id in ids:
        resource = _tagged_resource(state, resource_type, resource_id, region)
        if resource is None:
            raise api_error("InvalidResourceId.NotFound")
        failure = state.failure_for(resource_id, "TagResources")
        if failure is not None:
            raise failure
        if len({**resource.tags, **new_tags}) > MAX_TAGS:
            raise api_error("QuotaExceed.Tags")
        resources.append(resource)
    for resource in resources:
        # An existing key gets the new value (standard behaviour; wording UNCONFIRMED).
        resource.tags.update(new_tags)
    return {}


def untag_resources(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    resource_type = _resource_type(params)
    ids = _resource_ids(params)
    if not ids:
        raise missing_parameter("ResourceId")
    keys = params.repeat_list("TagKey")
    if len(keys) > MAX_TAGS:
        raise api_error("NumberExceed.Tags")
    remove_all = params.boolean("All", default=False)
    if remove_all and keys:
        raise api_error("Param.Conflict")
    resources = []
    for resource_id in ids:
        resource = _tagged_resource(state, resource_type, resource_id, region)
        if resource is None:
            raise api_error("InvalidResourceId.NotFound")
        resources.append(resource)
    for resource in resources:
        if remove_all:
            resource.tags.clear()
        for key in keys:
            resource.tags.pop(key, None)
    return {}


def list_tag_resources(state: FleetState, call: Call) -> Body:
    params = call.params
    region = params.require("RegionId")
    resource_type = _resource_type(params)
    ids = _resource_ids(params)
    pairs = params.tag_pairs("Tag")
    if len(pairs) > MAX_TAGS:
        raise api_error("NumberExceed.Tags")
    wanted: list[tuple[str, str | None]] = []
    for key, value in pairs:
        if not key:
            raise api_error("InvalidParameter.TagValue")
        wanted.append((key, value))
    if not ids and not wanted:
        raise api_error("BothEmpty.TagsAndResources")
    token = params.text("NextToken")
    start = state.decode_token(token) if token else 0

    candidates: list[Instance | Disk | Snapshot]
    if ids:
        found = [_tagged_resource(state, resource_type, i, region) for i in ids]
        candidates = [r for r in found if r is not None]
    elif resource_type == "instance":
        candidates = list(state.region_instances(region))
    elif resource_type == "disk":
        candidates = list(state.region_disks(region))
    elif resource_type == "snapshot":
        candidates = list(state.region_snapshots(region))
    else:
        candidates = []
    # UNCONFIRMED: with a Tag filter, each matching resource is listed with all its tags.
    rows = [
        {
            "ResourceId": _resource_id(resource),
            "ResourceType": resource_type,
            "TagKey": key,
            "TagValue": value,
        }
        for resource in candidates
        if not getattr(resource, "released", False) and _has_tags(resource.tags, wanted)
        for key, value in resource.tags.items()
    ]
    page = rows[start : start + LIST_TAG_RESOURCES_PAGE]
    more = start + LIST_TAG_RESOURCES_PAGE < len(rows)
    return {
        "NextToken": state.encode_token(start + LIST_TAG_RESOURCES_PAGE) if more else "",
        "TagResources": {"TagResource": page},
    }


def _resource_id(resource: Instance | Disk | Snapshot) -> str:
    if isinstance(resource, Instance):
        return resource.instance_id
    if isinstance(resource, Disk):
        return resource.disk_id
    return resource.snapshot_id


# ----- DescribeRegions ------------------------------------------------------------------------
# The public ECS regions, with their English names, as Alibaba's "Regions and zones" and "common
# region ID" pages list them (help.aliyun.com/document_detail/140601, ACS "open service area",
# 2026). A real account's DescribeRegions answer depends on the account; this is a plausible one.
ECS_REGIONS: Final[dict[str, str]] = {  # region id -> English name
    "cn-qingdao": "China (Qingdao)",
    "cn-beijing": "China (Beijing)",
    "cn-zhangjiakou": "China (Zhangjiakou)",
    "cn-huhehaote": "China (Hohhot)",
    "cn-wulanchabu": "China (Ulanqab)",
    "cn-hangzhou": "China (Hangzhou)",
    "cn-shanghai": "China (Shanghai)",
    "cn-shenzhen": "China (Shenzhen)",
    "cn-heyuan": "China (Heyuan)",
    "cn-guangzhou": "China (Guangzhou)",
    "cn-chengdu": "China (Chengdu)",
    "cn-hongkong": "China (Hong Kong)",
    "ap-northeast-1": "Japan (Tokyo)",
    "ap-northeast-2": "South Korea (Seoul)",
    "ap-southeast-1": "Singapore",
    "ap-southeast-3": "Malaysia (Kuala Lumpur)",
    "ap-southeast-5": "Indonesia (Jakarta)",
    "ap-southeast-6": "Philippines (Manila)",
    "ap-southeast-7": "Thailand (Bangkok)",
    "us-east-1": "US (Virginia)",
    "us-west-1": "US (Silicon Valley)",
    "eu-central-1": "Germany (Frankfurt)",
    "eu-west-1": "UK (London)",
    "me-east-1": "UAE (Dubai)",
}
DESCRIBE_REGIONS_LANGUAGES: Final = ("zh-CN", "zh-TW", "en-US", "ja", "fr", "de", "ko")


def describe_regions(state: FleetState, call: Call) -> Body:
    """The regions, as ECS's DescribeRegions answers (API reference "DescribeRegions", 2025).

    No RegionId parameter in the SDK's request: any region's endpoint answers with the whole list.
    InstanceChargeType and ResourceType only narrow the list in ECS; every public region offers
    pay-as-you-go instances and disks, so the emulator answers the same list. LocalName is the
    English name whatever AcceptLanguage asks for (ECS translates it; the functions never read it).
    """
    del state
    language = call.params.get("AcceptLanguage")
    if language is not None and language not in DESCRIBE_REGIONS_LANGUAGES:
        # The reference: 404 InvalidAcceptLanguage.NotFound.
        raise api_error(
            "InvalidAcceptLanguage.NotFound",
            status=404,
            message="Only Chinese (zh-CN), English (en-US), and Japanese (ja) are allowed.",
        )
    return {
        "Regions": {
            "Region": [
                {
                    "RegionId": region,
                    "LocalName": name,
                    "RegionEndpoint": f"ecs.{region}.aliyuncs.com",
                    "Status": "available",
                }
                for region, name in ECS_REGIONS.items()
            ]
        }
    }


OPERATIONS: Final[dict[str, Handler]] = {
    "DescribeRegions": describe_regions,
    "DescribeInstances": describe_instances,
    "DescribeInstanceStatus": describe_instance_status,
    "DescribeInstanceAttribute": describe_instance_attribute,
    "StopInstance": stop_instance,
    "StopInstances": stop_instances,
    "StartInstance": start_instance,
    "StartInstances": start_instances,
    "DeleteInstance": delete_instance,
    "DeleteInstances": delete_instances,
    "ModifyInstanceAutoReleaseTime": modify_instance_auto_release_time,
    "ModifyInstanceAttribute": modify_instance_attribute,
    "DescribeDisks": describe_disks,
    "CreateSnapshot": create_snapshot,
    "DescribeSnapshots": describe_snapshots,
    "TagResources": tag_resources,
    "UntagResources": untag_resources,
    "ListTagResources": list_tag_resources,
}
