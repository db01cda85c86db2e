"""The ECS gateway: the only package that talks to the Alibaba Cloud ECS SDK.

It owns the SDK's request models and exceptions, and gives the rest of the package our own types:
`Instance` records (only the fields decisions need), per-instance batch results, and `EcsApiError`
for failures that retrying will not fix. Its rooms:

- protocol.py: the `Gateway` Protocol (the seam), its value types and `GatewayFactory`;
- codes.py:    ECS's error codes, transient or a verdict, and our errors for the SDK's;
- retry.py:    pacing, the two retry budgets (`RetryPolicy`), the deadline and a stop request;
- clients.py:  the SDK clients' configuration, one client per region;
- reads.py:    DescribeRegions, and DescribeInstances, DescribeDisks, DescribeSnapshots, paged;
- changes.py:  CreateSnapshot, StopInstances, DeleteInstances, ModifyInstanceAutoReleaseTime;
- gateway.py:  `EcsGateway`, which puts them together, and `make_gateway`.

The names below are the package's API: callers import them from `ecs_lifecycle.ecs`.
"""

from ecs_lifecycle.ecs.clients import client_config
from ecs_lifecycle.ecs.codes import (
    DEADLINE_CODE,
    INTERRUPTED_CODE,
    NEVER_RETRIED_5XX,
    RETRYABLE_CODES,
    is_throttling,
    is_transient,
)
from ecs_lifecycle.ecs.gateway import EcsGateway, make_gateway
from ecs_lifecycle.ecs.protocol import (
    BATCH_SIZE,
    BatchItemResult,
    DiskInfo,
    Gateway,
    GatewayFactory,
    SnapshotInfo,
)
from ecs_lifecycle.ecs.reads import MAX_PAGES, PAGE_SIZE, TAG_FILTER_CAP
from ecs_lifecycle.ecs.retry import Pacer, RetryPolicy, stop_when

__all__ = [
    "BATCH_SIZE",
    "DEADLINE_CODE",
    "INTERRUPTED_CODE",
    "MAX_PAGES",
    "NEVER_RETRIED_5XX",
    "PAGE_SIZE",
    "RETRYABLE_CODES",
    "TAG_FILTER_CAP",
    "BatchItemResult",
    "DiskInfo",
    "EcsGateway",
    "Gateway",
    "GatewayFactory",
    "Pacer",
    "RetryPolicy",
    "SnapshotInfo",
    "client_config",
    "is_throttling",
    "is_transient",
    "make_gateway",
    "stop_when",
]
