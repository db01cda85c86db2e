"""Notification settings, parsed once: NOTIFY_URLS, the signing secrets, NOTIFY_ON.

Kept apart from the channels (notify/), which bring HTTP, signing and rendering: every run
parses its settings, but only a run with somewhere to send a message imports the channels.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Final

from pydantic import SecretStr

from ecs_lifecycle.errors import ConfigError


class ChannelKind(str, Enum):
    """The services a notification can go to; the names NOTIFY_URLS uses."""

    DINGTALK = "dingtalk"
    FEISHU = "feishu"
    WECOM = "wecom"
    SLACK = "slack"
    WEBHOOK = "webhook"  # CloudEvents 1.0 JSON, e.g. to an EventBridge HTTP event source


class NotifyOn(str, Enum):
    """NOTIFY_ON: which runs send a report afterwards."""

    CHANGES = "changes"  # something was done, or failed
    FAILURES = "failures"
    ALWAYS = "always"
    NEVER = "never"

    def wants_report(self, counts: Mapping[str, int], *, refused: bool = False) -> bool:
        """Whether a run with these counts (the summary's `counts`) sends a report; a refused
        run (max_instances) counts as failed."""
        failed = refused or counts.get("failed", 0) > 0
        if self is NotifyOn.ALWAYS:
            return True
        if self is NotifyOn.NEVER:
            return False
        if self is NotifyOn.FAILURES:
            return failed
        return failed or counts.get("done", 0) > 0


# The setting that holds each signing channel's secret; the other services sign nothing.
SECRET_SETTINGS: Final[Mapping[ChannelKind, str]] = {
    ChannelKind.DINGTALK: "NOTIFY_DINGTALK_SECRET",
    ChannelKind.FEISHU: "NOTIFY_FEISHU_SECRET",
}
DEFAULT_NOTIFY_ON: Final = NotifyOn.CHANGES
_KIND_WORD: Final = re.compile(r"[a-z][a-z0-9_-]{0,19}")
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """One NOTIFY_URLS entry. Its repr shows the label only, never the URL or the secret."""

    kind: ChannelKind
    position: int  # 1-based place in NOTIFY_URLS: names the channel without showing its URL
    url: SecretStr = field(repr=False)
    secret: SecretStr | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return f"{self.kind.value}#{self.position}"


@dataclass(frozen=True, slots=True)
class NotifySettings:
    """The notification settings, typed. Tests build it directly."""

    channels: tuple[ChannelConfig, ...] = ()
    notify_on: NotifyOn = DEFAULT_NOTIFY_ON


def parse_notify_settings(environ: Mapping[str, str]) -> NotifySettings:
    """Read NOTIFY_URLS, the signing secrets and NOTIFY_ON once.

    NOTIFY_URLS is a comma list of `kind=url` (`dingtalk=https://...,webhook=https://...`); a URL
    must be https (http only to a loopback host, for local tests) and cannot hold a comma.

    Raises:
        ConfigError: naming the variable and the entry's place, never echoing a URL or secret.
    """
    channels: list[ChannelConfig] = []
    entries = [entry.strip() for entry in environ.get("NOTIFY_URLS", "").split(",")]
    for position, entry in enumerate((entry for entry in entries if entry), start=1):
        kind, url = _parse_entry(position, entry)
        channels.append(ChannelConfig(kind=kind, position=position, url=SecretStr(url)))
    for kind, name in SECRET_SETTINGS.items():
        secret = environ.get(name, "").strip()
        if not secret:
            continue
        if not any(channel.kind is kind for channel in channels):
            raise ConfigError(
                name, f"is set, but NOTIFY_URLS names no {kind.value} channel for it to sign"
            )
        channels = [
            ChannelConfig(channel.kind, channel.position, channel.url, SecretStr(secret))
            if channel.kind is kind
            else channel
            for channel in channels
        ]
    return NotifySettings(channels=tuple(channels), notify_on=_notify_on(environ))


def _parse_entry(position: int, entry: str) -> tuple[ChannelKind, str]:
    kinds = ", ".join(kind.value for kind in ChannelKind)
    word, equals, url = entry.partition("=")
    word = word.strip().lower()
    # Only a short word is ever quoted back: an entry without its kind starts with the URL.
    if not equals or not _KIND_WORD.fullmatch(word):
        raise ConfigError(
            "NOTIFY_URLS", f"entry {position} does not start with a kind ({kinds}) and '='"
        )
    try:
        kind = ChannelKind(word)
    except ValueError:
        raise ConfigError(
            "NOTIFY_URLS", f"entry {position}: {word!r} is not one of {kinds}"
        ) from None
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    # Tokens travel in the URL: plain http only ever to this machine (a test server).
    secure = parts.scheme == "https" or (parts.scheme == "http" and host in _LOOPBACK_HOSTS)
    if not host or not secure or not url.isprintable() or any(char.isspace() for char in url):
        raise ConfigError(
            "NOTIFY_URLS",
            f"entry {position} ({kind.value}): the URL must be https:// with a host "
            "(http:// only to a loopback test server)",
        )
    return kind, url


def _notify_on(environ: Mapping[str, str]) -> NotifyOn:
    value = environ.get("NOTIFY_ON", "").strip().lower()
    if not value:
        return DEFAULT_NOTIFY_ON
    try:
        return NotifyOn(value)
    except ValueError:
        shown = f"{value!r} " if _KIND_WORD.fullmatch(value) else "the value "
        allowed = ", ".join(choice.value for choice in NotifyOn)
        raise ConfigError("NOTIFY_ON", f"{shown}is not one of {allowed}") from None
