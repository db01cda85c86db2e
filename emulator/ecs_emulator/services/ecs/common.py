"""What every ECS operation shares: limits, and the checks and paging written once for all of
them (the call and the answer's shape are every service's: :mod:`ecs_emulator.service`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Final, TypeVar

from ecs_emulator.errors import ApiError, api_error, invalid_parameter, missing_parameter
from ecs_emulator.service import Body, Call
from ecs_emulator.state import FleetState, Sequenced, page_by_number, page_by_position
from ecs_emulator.wire import Params

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

_T = TypeVar("_T", bound=Sequenced)


# ----- shared checks ------------------------------------------------------------------------
def dry_run_error(code: str) -> ApiError:
    return api_error(code)


def batch_ids(params: Params) -> list[str]:
    ids = list(dict.fromkeys(params.repeat_list("InstanceId")))
    if not ids:
        # Reference 4.1: 403 InvalidInstanceId.NotFound "InstanceId should not be null."
        raise api_error(
            "InvalidInstanceId.NotFound", status=403, message="InstanceId should not be null."
        )
    if len(ids) > MAX_BATCH_IDS:
        raise api_error("InvalidParameter.TooManyInstanceIds")
    return ids


def region_for_single(call: Call) -> str | None:
    """Ops without RegionId take the region from the host name, or find the id anywhere."""
    return call.params.get("RegionId") or call.host_region


def tag_filter(params: Params) -> list[tuple[str, str | None]]:
    pairs = params.tag_pairs("Tag")
    if len(pairs) > MAX_TAGS:
        raise api_error("InvalidTagCount")
    wanted: list[tuple[str, str | None]] = []
    for key, value in pairs:
        if not key:
            raise api_error("InvalidTag.Mismatch")
        wanted.append((key, value))
    return wanted


def has_tags(tags: dict[str, str], wanted: Sequence[tuple[str, str | None]]) -> bool:
    """All wanted tags present; a key given without a value matches any value."""
    return all(key in tags and (value is None or tags[key] == value) for key, value in wanted)


def tags_body(tags: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    return {"Tag": [{"TagKey": key, "TagValue": value} for key, value in tags.items()]}


def validate_new_tags(pairs: list[tuple[str | None, str | None]]) -> dict[str, str]:
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


def paging(
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


def describe_page(
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
    token_mode, _, page_number, size = paging(
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


def checked_id_list(params: Params, name: str) -> list[str] | None:
    ids = params.json_list(name)
    if ids is not None and len(ids) > MAX_BATCH_IDS:
        raise invalid_parameter(name, f"cannot hold more than {MAX_BATCH_IDS} items")
    return ids


# ----- ClientToken idempotency (DeleteInstances, CreateSnapshot) --------------------------
def request_fingerprint(params: Params) -> str:
    business = {k: v for k, v in params.as_dict().items() if k != "ClientToken"}
    return json.dumps(business, sort_keys=True)


def client_token(params: Params) -> str | None:
    token = params.get("ClientToken")
    if token is None or token == "":
        return None
    if len(token) > 64 or not token.isascii():
        raise invalid_parameter("ClientToken")
    return token


def replay(state: FleetState, operation: str, token: str | None, params: Params) -> Body | None:
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
    if fingerprint != request_fingerprint(params):
        raise api_error("IdempotentParameterMismatch")
    return dict(body)
