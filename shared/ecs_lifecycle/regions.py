"""The regions a run names, checked against ECS's own list before anything is read or changed.

A region that does not exist (`cn-hangzou`) would otherwise read as "no instance matched" and
look like success. The list is DescribeRegions' answer for the account, asked once per run: no
hand-kept list to go stale as regions open.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

from ecs_lifecycle.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ecs_lifecycle.ecs import Gateway
    from ecs_lifecycle.settings import RunRequest


def check_regions(
    gateway: Gateway, request: RunRequest, context: Any, environ: Mapping[str, str]
) -> None:
    """Refuse the run if a region it names is not in ECS's list of regions.

    Raises:
        InvalidInputError: naming each unknown region, where the list came from, and the
            closest real region when one is close.
        EcsApiError: DescribeRegions failed (the run then fails before any change).
    """
    regions = request.selection.regions
    asked_in = _home_region(context, environ) or regions[0]
    known = gateway.describe_regions(asked_in)
    unknown = [region for region in regions if region not in known]
    if not unknown:
        return
    field = "TARGET_REGIONS" if regions == request.settings.regions else "regions"
    source = f"ECS DescribeRegions, asked in {asked_in}"
    if not known:
        raise InvalidInputError(field, f"{source}, listed no region; nothing was read or changed")
    problems = []
    for region in unknown:
        close = difflib.get_close_matches(region, sorted(known), n=1)
        problems.append(f"{region!r}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise InvalidInputError(
        field,
        f"not an ECS region: {', '.join(problems)}; {source}, lists {', '.join(sorted(known))}. "
        "Nothing was read or changed",
    )


def _home_region(context: Any, environ: Mapping[str, str]) -> str:
    """The function's own region (FC's context, or FC_REGION): a region known to exist."""
    region = getattr(context, "region", None)
    return region if isinstance(region, str) and region else environ.get("FC_REGION", "").strip()
