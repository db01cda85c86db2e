"""Tags: TagResources, UntagResources and ListTagResources on instances, disks, snapshots."""

from __future__ import annotations

from ecs_emulator.errors import api_error, missing_parameter
from ecs_emulator.model import Disk, Instance, Snapshot
from ecs_emulator.service import Body, Call
from ecs_emulator.services.ecs.common import (
    LIST_TAG_RESOURCES_PAGE,
    MAX_TAG_RESOURCES,
    MAX_TAGS,
    OTHER_TAGGABLE_TYPES,
    TAGGABLE_TYPES,
    has_tags,
    validate_new_tags,
)
from ecs_emulator.state import FleetState
from ecs_emulator.wire import Params


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
    new_tags = validate_new_tags(pairs)
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
        if not getattr(resource, "released", False) and has_tags(resource.tags, wanted)
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


def add_tags(state: FleetState, call: Call) -> Body:
    """AddTags, the older call: one ResourceId, ResourceType, Tag.N.Key / Tag.N.Value; the same
    effect as TagResources on that one resource (its own error codes are not modelled)."""
    return tag_resources(state, _one_resource(call))


def remove_tags(state: FleetState, call: Call) -> Body:
    """RemoveTags, the older call: one ResourceId, ResourceType, Tag.N.Key; the same effect as
    UntagResources with those keys (Tag.N.Value, which the API also takes, is not matched)."""
    one = _one_resource(call)
    keys = {
        f"TagKey.{index}": key
        for index, (key, _) in enumerate(one.params.tag_pairs("Tag"), start=1)
        if key is not None
    }
    values = {k: v for k, v in one.params.as_dict().items() if not k.startswith("Tag.")}
    return untag_resources(state, Call(Params({**values, **keys}), call.now, call.host_region))


def _one_resource(call: Call) -> Call:
    params = call.params
    resource_id = params.require("ResourceId")
    values = {k: v for k, v in params.as_dict().items() if k != "ResourceId"}
    values["ResourceId.1"] = resource_id
    return Call(Params(values), call.now, call.host_region)
