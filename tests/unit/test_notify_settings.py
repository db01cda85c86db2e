"""NOTIFY_URLS, the signing secrets and NOTIFY_ON: typed once, refused by name, never echoed."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ecs_lifecycle.errors import ConfigError
from ecs_lifecycle.notify_settings import (
    ChannelConfig,
    ChannelKind,
    NotifyOn,
    NotifySettings,
    parse_notify_settings,
)

TOKEN = "tok3n" + "-not-a-real-one-0123456789"
SECRET = "SEC" + "0123456789abcdef-not-real"  # pragma: allowlist secret
DINGTALK_URL = f"https://oapi.dingtalk.com/robot/send?access_token={TOKEN}"
FEISHU_URL = f"https://open.feishu.cn/open-apis/bot/v2/hook/{TOKEN}"


def test_nothing_set_means_no_channel_and_reports_on_changes() -> None:
    assert parse_notify_settings({}) == NotifySettings(channels=(), notify_on=NotifyOn.CHANGES)


def test_each_entry_is_a_kind_and_a_url_in_order_and_secrets_go_to_their_kind() -> None:
    settings = parse_notify_settings(
        {
            "NOTIFY_URLS": f" dingtalk={DINGTALK_URL} , Feishu={FEISHU_URL},"
            "webhook=https://example.com/hook?x=1,slack=https://hooks.slack.com/services/T/B/C,"
            "wecom=https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k,",
            "NOTIFY_DINGTALK_SECRET": SECRET,
            "NOTIFY_ON": "Failures",
        }
    )

    kinds = [channel.kind for channel in settings.channels]
    assert kinds == [
        ChannelKind.DINGTALK,
        ChannelKind.FEISHU,
        ChannelKind.WEBHOOK,
        ChannelKind.SLACK,
        ChannelKind.WECOM,
    ]
    assert [channel.label for channel in settings.channels][:2] == ["dingtalk#1", "feishu#2"]
    dingtalk, feishu = settings.channels[:2]
    assert dingtalk.url.get_secret_value() == DINGTALK_URL
    assert dingtalk.secret is not None
    assert dingtalk.secret.get_secret_value() == SECRET
    assert feishu.secret is None
    assert settings.notify_on is NotifyOn.FAILURES


def test_a_channel_config_shows_neither_url_nor_secret() -> None:
    settings = parse_notify_settings(
        {"NOTIFY_URLS": f"dingtalk={DINGTALK_URL}", "NOTIFY_DINGTALK_SECRET": SECRET}
    )
    shown = f"{settings!r} {settings} {settings.channels[0]!r} {settings.channels[0].url}"
    assert TOKEN not in shown
    assert SECRET not in shown
    assert "dingtalk" in shown


@pytest.mark.parametrize(
    ("environ", "variable", "problem"),
    [
        ({"NOTIFY_URLS": DINGTALK_URL}, "NOTIFY_URLS", "entry 1 does not start with a kind"),
        (
            {"NOTIFY_URLS": f"slack=https://hooks.slack.com/x,{FEISHU_URL}"},
            "NOTIFY_URLS",
            "entry 2 does not start with a kind",
        ),
        ({"NOTIFY_URLS": f"teams={FEISHU_URL}"}, "NOTIFY_URLS", "entry 1: 'teams' is not one of"),
        (
            {"NOTIFY_URLS": f"dingtalk=http://oapi.dingtalk.com/robot/send?access_token={TOKEN}"},
            "NOTIFY_URLS",
            "entry 1 (dingtalk): the URL must be https://",
        ),
        ({"NOTIFY_URLS": f"feishu=ftp://x/{TOKEN}"}, "NOTIFY_URLS", "must be https://"),
        ({"NOTIFY_URLS": f"feishu=https:///{TOKEN}"}, "NOTIFY_URLS", "must be https://"),
        (
            {"NOTIFY_URLS": f"webhook=https://example.com/a b/{TOKEN}"},
            "NOTIFY_URLS",
            "must be https://",
        ),
        (
            {"NOTIFY_URLS": f"webhook=https://example.com/{TOKEN}", "NOTIFY_FEISHU_SECRET": SECRET},
            "NOTIFY_FEISHU_SECRET",
            "NOTIFY_URLS names no feishu channel",
        ),
        ({"NOTIFY_URLS": f"feishu=https://x/\x00{TOKEN}"}, "NOTIFY_URLS", "must be https://"),
        ({"NOTIFY_ON": "sometimes"}, "NOTIFY_ON", "'sometimes' is not one of"),
        ({"NOTIFY_ON": f"https://x/{TOKEN}"}, "NOTIFY_ON", "the value is not one of"),
    ],
)
def test_a_bad_value_is_refused_by_name_without_its_url_or_secret(
    environ: dict[str, str], variable: str, problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_notify_settings(environ)

    assert refused.value.field == variable
    assert problem in str(refused.value)
    assert TOKEN not in str(refused.value)
    assert SECRET not in str(refused.value)


def test_plain_http_is_only_for_a_loopback_test_server() -> None:
    for host in ("127.0.0.1:8080", "localhost:1234", "[::1]:99"):
        settings = parse_notify_settings({"NOTIFY_URLS": f"webhook=http://{host}/hook"})
        assert settings.channels[0].url.get_secret_value() == f"http://{host}/hook"


@pytest.mark.parametrize(
    ("notify_on", "counts", "wanted"),
    [
        (NotifyOn.CHANGES, {"done": 1, "failed": 0}, True),
        (NotifyOn.CHANGES, {"done": 0, "failed": 1}, True),
        (NotifyOn.CHANGES, {"done": 0, "planned": 3, "skipped": 2, "failed": 0}, False),
        (NotifyOn.FAILURES, {"done": 5, "failed": 0}, False),
        (NotifyOn.FAILURES, {"done": 0, "failed": 1}, True),
        (NotifyOn.ALWAYS, {}, True),
        (NotifyOn.NEVER, {"done": 1, "failed": 1}, False),
    ],
)
def test_notify_on_decides_which_runs_send_a_report(
    notify_on: NotifyOn, counts: dict[str, int], wanted: bool
) -> None:
    assert notify_on.wants_report(counts) is wanted


def test_a_config_built_directly_keeps_its_label_for_results_and_logs() -> None:
    config = ChannelConfig(ChannelKind.SLACK, 3, SecretStr("https://hooks.slack.com/x"))
    assert config.label == "slack#3"
    assert "hooks.slack.com" not in repr(config)
