"""Reading request parameters the way the Alibaba SDK writes them, and writing ECS times.

The SDK flattens everything into the query string (the SDK's own code: aliyun/darabonba-openapi,
``python/alibabacloud_tea_openapi/utils.py``): lists as ``Name.N``,
tag pairs as ``Tag.N.Key``/``Tag.N.Value``, booleans as ``True``/``False``, and a few lists as
JSON-array strings (``InstanceIds``, ``DiskIds``, ``SnapshotIds``). :class:`Params` turns those
back into Python values and raises the gateway's errors for values it cannot use.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Final

from ecs_emulator.errors import api_error, invalid_parameter, missing_parameter

_INDEXED: Final = re.compile(r"^(?P<name>[A-Za-z]+)\.(?P<index>\d+)(?:\.(?P<field>[A-Za-z]+))?$")

# Parameters that carry authentication, not business data. They never enter the call log.
SIGNATURE_PARAMS: Final = frozenset(
    {
        "Signature",
        "AccessKeyId",
        "SecurityToken",
        "SignatureNonce",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureType",
        "Timestamp",
        "Format",
        "Version",
        "Action",
    }
)


class Params:
    """The business parameters of one call (authentication parameters already removed)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)

    def as_dict(self) -> dict[str, str]:
        return dict(self._values)

    def get(self, name: str) -> str | None:
        return self._values.get(name)

    def has(self, name: str) -> bool:
        return name in self._values

    def text(self, name: str, default: str = "") -> str:
        value = self._values.get(name)
        return default if value is None else value

    def require(self, name: str) -> str:
        value = self._values.get(name)
        if value is None or value == "":
            raise missing_parameter(name)
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        lowered = value.lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
        raise invalid_parameter(name)

    def integer(self, name: str, *, default: int) -> int:
        value = self._values.get(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError:
            raise invalid_parameter(name) from None

    def repeat_list(self, name: str) -> list[str]:
        """``Name.1``, ``Name.2``, ... in index order (gaps are tolerated, as the gateway does)."""
        indexed: list[tuple[int, str]] = []
        for key, value in self._values.items():
            match = _INDEXED.match(key)
            if match and match["name"] == name and match["field"] is None:
                indexed.append((int(match["index"]), value))
        return [value for _, value in sorted(indexed)]

    def tag_pairs(self, name: str = "Tag") -> list[tuple[str | None, str | None]]:
        """``Tag.N.Key``/``Tag.N.Value`` pairs in index order; either side may be absent.

        The deprecated lower-case ``Tag.N.key``/``Tag.N.value`` spellings are accepted too.
        """
        pairs: dict[int, dict[str, str]] = {}
        for key, value in self._values.items():
            match = _INDEXED.match(key)
            if match and match["name"] == name and match["field"] is not None:
                field = match["field"].lower()
                if field in ("key", "value"):
                    pairs.setdefault(int(match["index"]), {})[field] = value
        return [(pair.get("key"), pair.get("value")) for _, pair in sorted(pairs.items())]

    def json_list(self, name: str) -> list[str] | None:
        """A JSON-array string parameter such as ``InstanceIds='["i-1", "i-2"]'``."""
        value = self._values.get(name)
        if value is None or value == "":
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            raise invalid_parameter(name, "is not a valid JSON array") from None
        if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
            raise invalid_parameter(name, "is not a valid JSON array of strings")
        return list(parsed)


def format_minutes(moment: datetime | None) -> str:
    """Instance times as DescribeInstances writes them: ``yyyy-MM-ddTHH:mmZ`` (no seconds)."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


def format_seconds(moment: datetime | None) -> str:
    """Disk and snapshot times: ``yyyy-MM-ddTHH:mm:ssZ``."""
    if moment is None:
        return ""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_AUTO_RELEASE_FORMAT: Final = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2}))?Z$"
)


def parse_auto_release_time(value: str) -> datetime:
    """Parse ``yyyy-MM-ddTHH:mm:ssZ`` and drop the seconds, as ECS does.

    The documented format has seconds; the form without seconds (the one DescribeInstances
    returns) is accepted too, because reading a value back and sending it again should work.
    UNCONFIRMED whether the real service accepts the seconds-less form.

    Raises:
        ApiError: ``InvalidAutoReleaseTime.Malformed`` for anything else.
    """
    match = _AUTO_RELEASE_FORMAT.match(value)
    if not match:
        raise api_error("InvalidAutoReleaseTime.Malformed")
    try:
        parsed = datetime.strptime(
            f"{match['date']}T{match['hour']}:{match['minute']}+0000", "%Y-%m-%dT%H:%M%z"
        )
    except ValueError:
        raise api_error("InvalidAutoReleaseTime.Malformed") from None
    second = match["second"]
    if second is not None and int(second) > 59:
        raise api_error("InvalidAutoReleaseTime.Malformed")
    return parsed.astimezone(timezone.utc)
