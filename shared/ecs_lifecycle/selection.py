"""Which instances a run is about: ids, a tag selector, regions. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from ecs_lifecycle.errors import InvalidInputError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from ecs_lifecycle.model import Instance

ANY_VALUE: Final = "*"
MAX_TAG_CONDITIONS: Final = 20  # DescribeInstances takes Tag.1..Tag.20
_INSTANCE_ID: Final = re.compile(r"^i-[0-9a-z]{4,60}$")
_REGION: Final = re.compile(r"^[a-z]{2,8}(?:-[a-z0-9]{1,16}){1,4}$")
# Tag keys and values: printable, no control characters; ECS allows up to 128 characters.
_TAG_TEXT: Final = re.compile(r"^[^\x00-\x1f\x7f]{1,128}$")
_RESERVED_TAG_PREFIXES: Final = ("aliyun", "acs:")
_SHOWN_IDS: Final = 5  # a note names this many ids of a long list
_WILDCARD_MEANING: Final = (
    "* means any value, and only as a whole value (env=*); "
    "it is no wildcard inside a key or a value"
)


def validate_instance_id(field: str, value: str) -> str:
    if not _INSTANCE_ID.fullmatch(value):
        raise InvalidInputError(
            field, f"{value!r} is not an ECS instance id (i- and letters/digits)"
        )
    return value


def validate_region(field: str, value: str) -> str:
    if not _REGION.fullmatch(value):
        raise InvalidInputError(field, f"{value!r} is not a region id such as cn-hangzhou")
    return value


def validate_tag_text(field: str, what: str, value: str) -> str:
    if not _TAG_TEXT.fullmatch(value):
        raise InvalidInputError(
            field, f"tag {what} {value!r} must be 1-128 printable characters, no control characters"
        )
    return value


@dataclass(frozen=True, slots=True)
class TagSelector:
    """All conditions must hold. A condition with value None (`*`) needs only the key."""

    conditions: tuple[tuple[str, str | None], ...]

    def matches(self, instance: Instance) -> bool:
        for key, wanted in self.conditions:
            value = instance.tag(key)
            if value is None or (wanted is not None and value != wanted):
                return False
        return True

    def describe(self) -> str:
        return ",".join(
            f"{key}={ANY_VALUE if value is None else value}" for key, value in self.conditions
        )

    def narrowed_by(self, field: str, event: TagSelector) -> TagSelector:
        """This selector (the deployed fence) with an event's conditions added: both must hold.

        An event can only narrow the fence: a key the fence fixes to another value would select
        nothing inside it, so it is refused rather than quietly matching nothing (or, worse,
        replacing the fence).

        Raises:
            InvalidInputError: the event's value for a key contradicts the fence's.
        """
        merged = dict(self.conditions)
        for key, wanted in event.conditions:
            fenced = merged.get(key)
            if key in merged and fenced is not None and wanted not in (None, fenced):
                raise InvalidInputError(
                    field,
                    f"{key}={wanted} is outside this deployment's fence TARGET_TAGS="
                    f"{self.describe()}; an event can only narrow it",
                )
            if fenced is None:
                merged[key] = wanted
        if len(merged) > MAX_TAG_CONDITIONS:
            raise InvalidInputError(field, f"at most {MAX_TAG_CONDITIONS} tag conditions")
        return TagSelector(tuple(merged.items()))

    @classmethod
    def parse(cls, field: str, spec: str | Mapping[str, str]) -> TagSelector:
        """From `k=v,k2=v2` (environment) or `{"k": "v"}` (event); `*` means any value.

        Raises:
            InvalidInputError: an empty selector, a malformed pair, or a key given twice.
        """
        # The k=v,k2=v2 form is trimmed around each pair; an event's object is taken exactly.
        pairs = _split_pairs(field, spec) if isinstance(spec, str) else list(spec.items())
        if not pairs:
            raise InvalidInputError(field, "an empty tag selector would match everything; give k=v")
        if len(pairs) > MAX_TAG_CONDITIONS:
            raise InvalidInputError(field, f"at most {MAX_TAG_CONDITIONS} tag conditions")
        conditions: list[tuple[str, str | None]] = []
        seen: set[str] = set()
        for raw_key, raw_value in pairs:
            if not isinstance(raw_key, str) or not isinstance(raw_value, str):
                raise InvalidInputError(field, "tag keys and values must be strings")
            if ANY_VALUE in raw_key or (ANY_VALUE in raw_value and raw_value != ANY_VALUE):
                # env=dev* would match only the literal value "dev*": refuse what looks like a
                # pattern rather than match nothing.
                raise InvalidInputError(field, f"{raw_key}={raw_value}: {_WILDCARD_MEANING}")
            key = validate_tag_text(field, "key", raw_key)
            if key.lower().startswith(_RESERVED_TAG_PREFIXES):
                raise InvalidInputError(field, f"tag key {key!r} uses a reserved prefix")
            if key in seen:
                raise InvalidInputError(field, f"tag key {key!r} is given twice")
            seen.add(key)
            value = raw_value
            conditions.append(
                (key, None if value == ANY_VALUE else validate_tag_text(field, "value", value))
            )
        return cls(tuple(conditions))


def _split_pairs(field: str, text: str) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for item in text.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInputError(
                field, f"{item.strip()!r} is not key=value (use key=* for any value)"
            )
        pairs.append((key.strip(), value.strip()))
    return pairs


@dataclass(frozen=True, slots=True)
class Selection:
    """The instances a run may consider: explicit ids and/or a tag selector, in some regions."""

    regions: tuple[str, ...]
    instance_ids: tuple[str, ...] | None
    tags: TagSelector | None

    @property
    def is_empty(self) -> bool:
        return self.instance_ids is None and self.tags is None

    def describe(self) -> str:
        """What the selection asks for, for a person: `tags env=dev in cn-hangzhou`."""
        parts = []
        if self.instance_ids is not None:
            shown = ", ".join(self.instance_ids[:_SHOWN_IDS])
            more = len(self.instance_ids) - _SHOWN_IDS
            parts.append(f"instance ids {shown}" + (f" and {more} more" if more > 0 else ""))
        if self.tags is not None:
            parts.append(f"tags {self.tags.describe()}")
        return f"{' and '.join(parts) or 'nothing'} in {', '.join(self.regions)}"

    def matches(self, instance: Instance) -> bool:
        """Both conditions must hold when both are given (re-checked on what ECS returned)."""
        if self.instance_ids is not None and instance.instance_id not in self.instance_ids:
            return False
        return self.tags is None or self.tags.matches(instance)


def unique(values: Iterable[str]) -> tuple[str, ...]:
    """Values in first-seen order, without repeats."""
    return tuple(dict.fromkeys(values))
