"""Reading the environment: one typed value per variable, or a ConfigError naming it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta, tzinfo
from typing import Final, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import ConfigError
from ecs_lifecycle.timeparse import parse_duration

_Choice = TypeVar("_Choice", bound=str)
_TRUE: Final = frozenset({"true", "1", "yes", "on"})
_FALSE: Final = frozenset({"false", "0", "no", "off"})
# A notice longer than this is a lifetime, not a notice; it also keeps every time it gives well
# inside the 3 years ECS accepts.
MAX_MIN_NOTICE: Final = timedelta(days=30)
# AUTO_RELEASE_HORIZON: more than the hourly reconcile plus ECS's 30 minutes, at most a day.
MIN_HORIZON: Final = timedelta(minutes=90)
MAX_HORIZON: Final = timedelta(days=1)


class EnvReader:
    """The environment's variables, each read as the type its setting needs."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def text(self, name: str) -> str:
        return self._environ.get(name, "").strip()

    def flag(self, name: str, *, default: bool) -> bool:
        value = self.text(name).lower()
        if not value:
            return default
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        raise ConfigError(name, f"{value!r} is not true or false")

    def integer(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> int:
        value = self.text(name)
        if not value:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(name, f"{value!r} is not a whole number") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f"at least {minimum}" + (f" and at most {maximum}" if maximum else "")
            raise ConfigError(name, f"{number} must be {bounds}")
        return number

    def optional_integer(self, name: str, *, minimum: int, maximum: int) -> int | None:
        """A whole number in range, or None when unset."""
        return self.integer(name, 0, minimum=minimum, maximum=maximum) if self.text(name) else None

    def number(self, name: str, default: int, *, minimum: int, maximum: int | None = None) -> float:
        """A whole number in range, as a float (rates and seconds)."""
        return float(self.integer(name, default, minimum=minimum, maximum=maximum))

    def time_zone(self, name: str) -> tzinfo:
        """An IANA zone name (`Asia/Shanghai`); UTC when unset.

        Zones come from the system's database (FC's Debian images ship it: the documented way to
        change a function's zone is the TZ variable, which glibc reads from the same files). A name
        the runtime does not know is refused, naming the variable, rather than guessed at.
        """
        value = self.text(name)
        if not value or value.upper() == "UTC":
            return defaults.TIME_ZONE
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ConfigError(
                name, f"{value!r} is not a time zone this runtime knows (e.g. Asia/Shanghai)"
            ) from None

    def min_notice(self, name: str) -> timedelta:
        """A duration (`24h`, `2d`, `PT12H`), or `0` for none beyond ECS's own 30 minutes."""
        value = self.text(name)
        if not value:
            return defaults.MIN_NOTICE
        if value == "0":
            return timedelta(0)
        notice = parse_duration(value)
        if notice is None:
            raise ConfigError(name, f"{value!r} is not a duration such as 12h, 24h, 2d or 0")
        if notice > MAX_MIN_NOTICE:
            raise ConfigError(name, f"{value!r} is more than {MAX_MIN_NOTICE.days} days")
        return notice

    def horizon(self, name: str) -> timedelta:
        """A duration longer than the hourly reconcile plus ECS's 30-minute minimum (`2h`).

        Shorter, the reconcile could find a due time already inside ECS's 30 minutes and write it
        late; a day at most, or an instance promoted out of the fleet keeps its time that long.
        """
        value = self.text(name)
        if not value:
            return defaults.AUTO_RELEASE_HORIZON
        horizon = parse_duration(value)
        if horizon is None:
            raise ConfigError(name, f"{value!r} is not a duration such as 2h or 3h")
        if horizon <= MIN_HORIZON:
            raise ConfigError(
                name, f"{value!r} must exceed the hourly reconcile plus ECS's 30 minutes (90m)"
            )
        if horizon > MAX_HORIZON:
            raise ConfigError(name, f"{value!r} is more than {MAX_HORIZON.days} day")
        return horizon

    def choice(self, name: str, allowed: tuple[_Choice, ...]) -> _Choice:
        """One of `allowed` (the first when unset), typed as the caller's Literal."""
        value = self.text(name)
        if not value:
            return allowed[0]
        for option in allowed:
            if value == option:
                return option
        raise ConfigError(name, f"{value!r} is not one of {', '.join(allowed)}")
