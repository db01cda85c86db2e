"""The channel registry is the one place the chat channels are listed.

notify/channels/__init__.py maps each kind to its channel class; each channel is one module of
notify/channels/ named as NOTIFY_URLS names its kind. The checks: every channel module is
registered and every registration is its own module's one channel; the words the settings
accept (`ChannelKind`) are exactly the registry's kinds; the kinds with a signing secret are
exactly the channels that sign; and nothing in the shipped code reaches a channel module past
the registry. `registry_problems` is pure, and its own tests below show each check failing.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterable, Mapping
from types import ModuleType

import pytest

import ecs_lifecycle.notify.channels as registry
from ecs_lifecycle.errors import ConfigError
from ecs_lifecycle.notify.channels import CHANNEL_TYPES
from ecs_lifecycle.notify.http_channel import HttpChannel
from ecs_lifecycle.notify_settings import SECRET_SETTINGS, ChannelKind, parse_notify_settings
from tests.unit.test_architecture import SOURCES, import_graph

PACKAGE = "ecs_lifecycle.notify.channels"


def _channels_in(module: ModuleType) -> set[type[HttpChannel]]:
    """The channel classes a module defines itself (not those it imports)."""
    return {
        value
        for value in vars(module).values()
        if inspect.isclass(value)
        and issubclass(value, HttpChannel)
        and value.__module__ == module.__name__
    }


def _signs(channel: type[HttpChannel]) -> bool:
    return channel._signed is not HttpChannel._signed


def registry_problems(
    modules: Mapping[str, set[type[HttpChannel]]],
    registered: Mapping[ChannelKind, type[HttpChannel]],
    kinds: Iterable[ChannelKind],
    secret_kinds: Iterable[ChannelKind],
    importers: Mapping[str, set[str]],
) -> list[str]:
    """Every way the channels are listed somewhere else than the registry, in words.

    `modules`: each module of the channels package by its short name, and the channel classes it
    defines; `importers`: the import graph of the shipped code.
    """
    found: list[str] = []
    for name, defined in sorted(modules.items()):
        kind = next((kind for kind in registered if kind.value == name), None)
        if kind is None:
            found.append(f"channels/{name}.py is not registered (no kind {name!r})")
        elif defined != {registered[kind]}:
            found.append(f"channels/{name}.py does not define exactly its registered channel")
    for kind, channel in registered.items():
        if kind.value not in modules:
            found.append(f"{kind.value} is registered, but there is no channels/{kind.value}.py")
        if channel.kind is not kind:
            found.append(f"{kind.value} is registered with a {channel.kind.value} channel")
    if set(kinds) != set(registered):
        unlisted = sorted(kind.value for kind in set(kinds) ^ set(registered))
        found.append(f"the settings' kinds and the registry differ: {', '.join(unlisted)}")
    signing = {kind for kind, channel in registered.items() if _signs(channel)}
    if set(secret_kinds) != signing:
        found.append("the kinds with a signing secret are not the channels that sign")
    for module, targets in sorted(importers.items()):
        reached = sorted(t for t in targets if t.startswith(f"{PACKAGE}.") and module != PACKAGE)
        found.extend(f"{module} imports {target} past the registry" for target in reached)
    return found


def _modules() -> dict[str, set[type[HttpChannel]]]:
    found = {}
    for info in pkgutil.iter_modules(registry.__path__):
        module = importlib.import_module(f"{PACKAGE}.{info.name}")
        found[info.name] = _channels_in(module)
    return found


def test_the_registry_lists_every_channel_and_nothing_lists_them_elsewhere() -> None:
    modules = _modules()
    assert {"dingtalk", "webhook"} <= modules.keys()  # the walk found them: not an empty list
    shipped = {
        module: targets
        for module, targets in import_graph(SOURCES).items()
        if module.startswith(("ecs_lifecycle", "functions."))
    }
    assert f"{PACKAGE}.dingtalk" in shipped[PACKAGE]  # the graph sees the registry's imports
    assert registry_problems(modules, CHANNEL_TYPES, ChannelKind, SECRET_SETTINGS, shipped) == []


def test_the_settings_accept_every_registered_kind_and_name_them_when_refusing() -> None:
    for kind in CHANNEL_TYPES:
        settings = parse_notify_settings({"NOTIFY_URLS": f"{kind.value}=https://example.test/h"})
        assert [config.kind for config in settings.channels] == [kind]
    with pytest.raises(ConfigError) as refused:
        parse_notify_settings({"NOTIFY_URLS": "teams=https://example.test/h"})
    for kind in CHANNEL_TYPES:
        assert kind.value in str(refused.value)


# ----- the checker can fail --------------------------------------------------------------------
def _good() -> tuple[dict[str, set[type[HttpChannel]]], dict[ChannelKind, type[HttpChannel]]]:
    return _modules(), dict(CHANNEL_TYPES)


def test_a_channel_module_left_unregistered_is_named() -> None:
    modules, registered = _good()
    del registered[ChannelKind.SLACK]
    found = registry_problems(modules, registered, ChannelKind, SECRET_SETTINGS, {})
    assert found == [
        "channels/slack.py is not registered (no kind 'slack')",
        "the settings' kinds and the registry differ: slack",
    ]


def test_a_registration_without_its_module_or_with_another_kind_is_named() -> None:
    modules, registered = _good()
    del modules["wecom"]
    registered[ChannelKind.FEISHU] = CHANNEL_TYPES[ChannelKind.DINGTALK]
    found = registry_problems(modules, registered, ChannelKind, SECRET_SETTINGS, {})
    assert found == [
        "channels/feishu.py does not define exactly its registered channel",
        "feishu is registered with a dingtalk channel",
        "wecom is registered, but there is no channels/wecom.py",
    ]


def test_a_kind_the_settings_accept_without_a_channel_is_named() -> None:
    modules, registered = _good()
    del modules["webhook"]
    del registered[ChannelKind.WEBHOOK]
    found = registry_problems(modules, registered, ChannelKind, SECRET_SETTINGS, {})
    assert found == ["the settings' kinds and the registry differ: webhook"]


def test_a_secret_for_a_channel_that_does_not_sign_is_named() -> None:
    modules, registered = _good()
    secrets = [*SECRET_SETTINGS, ChannelKind.SLACK]
    found = registry_problems(modules, registered, ChannelKind, secrets, {})
    assert found == ["the kinds with a signing secret are not the channels that sign"]


def test_a_channel_imported_past_the_registry_is_named() -> None:
    modules, registered = _good()
    graph = {"ecs_lifecycle.notices": {f"{PACKAGE}.slack", "ecs_lifecycle.audit"}}
    found = registry_problems(modules, registered, ChannelKind, SECRET_SETTINGS, graph)
    assert found == [f"ecs_lifecycle.notices imports {PACKAGE}.slack past the registry"]
