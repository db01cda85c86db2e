"""The ECS room (API 2014-05-26): its operations, with parameters, limits, effects and answers
as the reference documents them.

Each handler takes the fleet and one call and returns the JSON body of a 200 answer (the server
adds ``RequestId``), or raises :class:`~ecs_emulator.errors.ApiError`. Handlers run under the
emulator's lock after :meth:`FleetState.settle`, so they see the fleet as of the call's time.

Where the reference marks a behaviour UNCONFIRMED, the choice made here is noted next to it.
"""

from __future__ import annotations

from typing import Final

from ecs_emulator.service import Handler, Service
from ecs_emulator.services.ecs.instances import (
    delete_instance,
    delete_instances,
    describe_instance_attribute,
    describe_instance_status,
    describe_instances,
    modify_instance_attribute,
    modify_instance_auto_release_time,
    start_instance,
    start_instances,
    stop_instance,
    stop_instances,
)
from ecs_emulator.services.ecs.regions import describe_regions
from ecs_emulator.services.ecs.storage import create_snapshot, describe_disks, describe_snapshots
from ecs_emulator.services.ecs.tags import (
    add_tags,
    list_tag_resources,
    remove_tags,
    tag_resources,
    untag_resources,
)

API_VERSION: Final = "2014-05-26"

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
    "AddTags": add_tags,
    "RemoveTags": remove_tags,
}

SERVICE: Final = Service(name="Ecs", api_version=API_VERSION, operations=OPERATIONS)
