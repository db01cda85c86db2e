"""The registry: the one place the chat channels are listed, and where they are built.

Each channel is one module of this package, named as NOTIFY_URLS names its kind
(`dingtalk.py` for `dingtalk=...`), holding one `HttpChannel` subclass. Adding a channel is that
module plus its line below (and its kind in `notify_settings.ChannelKind`, the word NOTIFY_URLS
accepts); tests/unit/test_notify_registry.py fails on a channel module left unregistered, a kind
without its channel, or a channel imported past this registry.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from ecs_lifecycle.clock import Clock
from ecs_lifecycle.notify.channel import Channel
from ecs_lifecycle.notify.channels.dingtalk import DingTalkChannel
from ecs_lifecycle.notify.channels.feishu import FeishuChannel
from ecs_lifecycle.notify.channels.slack import SlackChannel
from ecs_lifecycle.notify.channels.webhook import CloudEventsChannel
from ecs_lifecycle.notify.channels.wecom import WeComChannel
from ecs_lifecycle.notify.http_channel import HttpChannel
from ecs_lifecycle.notify.transport import ChannelRetry, Pacer
from ecs_lifecycle.notify_settings import ChannelKind, NotifySettings

CHANNEL_TYPES: Final[Mapping[ChannelKind, type[HttpChannel]]] = {
    ChannelKind.DINGTALK: DingTalkChannel,
    ChannelKind.FEISHU: FeishuChannel,
    ChannelKind.WECOM: WeComChannel,
    ChannelKind.SLACK: SlackChannel,
    ChannelKind.WEBHOOK: CloudEventsChannel,
}


def build_channels(
    settings: NotifySettings,
    *,
    clock: Clock | None = None,
    sleep: Callable[[float], None] | None = None,
    retry: ChannelRetry | None = None,
) -> tuple[Channel, ...]:
    """One channel per NOTIFY_URLS entry, in order; entries with one URL share its pacing."""
    pacers: dict[str, Pacer] = {}
    channels: list[Channel] = []
    for config in settings.channels:
        kind = CHANNEL_TYPES[config.kind]
        pacer = pacers.setdefault(config.url.get_secret_value(), Pacer(kind.rates))
        channels.append(kind(config, clock=clock, sleep=sleep, retry=retry, pacer=pacer))
    return tuple(channels)
