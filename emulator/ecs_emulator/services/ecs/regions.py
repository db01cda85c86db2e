"""DescribeRegions: the public regions, as the API lists them."""

from __future__ import annotations

from typing import Final

from ecs_emulator.errors import api_error
from ecs_emulator.service import Body, Call
from ecs_emulator.state import FleetState

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
