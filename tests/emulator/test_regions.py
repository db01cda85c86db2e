"""DescribeRegions, driven by the real SDK."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import alibabacloud_ecs20140526.models as ecs

from ecs_emulator import EcsEmulator


def test_describe_regions_lists_the_public_regions(client: Any, ecs_emulator: EcsEmulator) -> None:
    body = client.describe_regions(ecs.DescribeRegionsRequest()).body
    regions = {region.region_id: region for region in body.regions.region}
    assert {"cn-hangzhou", "cn-shanghai", "us-east-1", "eu-central-1"} <= set(regions)
    assert "cn-hangzou" not in regions
    assert regions["cn-hangzhou"].status == "available"
    assert regions["cn-hangzhou"].local_name == "China (Hangzhou)"
    assert regions["us-east-1"].region_endpoint == "ecs.us-east-1.aliyuncs.com"
    # The SDK's request has no RegionId; the call is logged like any other.
    assert ecs_emulator.calls_to("DescribeRegions")[0].params == {}


def test_describe_regions_refuses_an_unknown_language(
    client: Any, sdk_error: Callable[[Callable[[], object]], Any]
) -> None:
    error = sdk_error(
        lambda: client.describe_regions(ecs.DescribeRegionsRequest(accept_language="xx"))
    )
    assert error.code == "InvalidAcceptLanguage.NotFound"
    assert error.data["statusCode"] == 404
    assert client.describe_regions(ecs.DescribeRegionsRequest(accept_language="en-US")).body
