"""FC's 4 KB environment limit, checked on what a deployer's shell adds (s.yaml's pre-deploy).

The values below are fake and built at run time (no token or secret is written in this file);
they have the length and shape of real ones: DingTalk and Feishu webhooks with 64-character
tokens, Slack hooks, and 64-character signing secrets.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from types import ModuleType
from typing import Any, Final

from .checks import REPO_ROOT, S_YAML, TEST_ENV, load_spec, resolved_props

TOOL: Final = REPO_ROOT / "tools" / "check_env_size.py"
# What docs/deploy.md ("Variables to set") tells a deployer to set, minus the role (not in any
# function's environment).
DOCUMENTED: Final = (
    "ECS_LIFECYCLE_REGION",
    "ECS_LIFECYCLE_TARGET_REGIONS",
    "NOTIFY_URLS",
    "NOTIFY_DINGTALK_SECRET",
    "NOTIFY_FEISHU_SECRET",
)


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_env_size", TOOL)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["check_env_size"] = module
    spec.loader.exec_module(module)
    return module


def _fake(label: str) -> str:
    """64 hex characters, the length of a robot token or signing secret; not a secret."""
    return hashlib.sha256(f"ecs-lifecycle test {label}".encode()).hexdigest()


def _urls(robots: int) -> str:
    hosts = (
        "dingtalk=https://oapi.dingtalk.com/robot/send?access_token={}",
        "feishu=https://open.feishu.cn/open-apis/bot/v2/hook/{}",
        "slack=https://hooks.slack.com/services/T0FAKE0000/B0FAKE0000/{}",
    )
    return ",".join(hosts[n % len(hosts)].format(_fake(f"robot {n}")) for n in range(robots))


def _deployer(robots: int) -> dict[str, str]:
    return {
        **TEST_ENV,
        "ECS_LIFECYCLE_TARGET_REGIONS": "cn-hangzhou,cn-shanghai,cn-beijing",
        "NOTIFY_URLS": _urls(robots),
        "NOTIFY_DINGTALK_SECRET": "SEC" + _fake("dingtalk secret"),  # pragma: allowlist secret
        "NOTIFY_FEISHU_SECRET": _fake("feishu secret")[:32],
    }


def _run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The tool as s.yaml's pre-deploy action runs it: python3, from the repository."""
    clean = {key: value for key, value in os.environ.items() if key not in DOCUMENTED}
    return subprocess.run(  # noqa: S603 - our own tool, fixed arguments
        [sys.executable, str(TOOL)],
        cwd=REPO_ROOT,
        env={**clean, **env},
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_reader_sees_each_environment_as_a_yaml_loader_does() -> None:
    env = _deployer(robots=3)
    tool: Any = _tool()
    read = tool.function_environments(S_YAML.read_text(), env)
    expected = resolved_props(load_spec(), env=env)
    assert set(read) == set(expected)
    for name, props in expected.items():
        assert {v.name: v.value for v in read[name]} == props["environmentVariables"], name


def test_a_deploy_whose_real_values_exceed_4_kb_is_refused_with_the_numbers() -> None:
    env = _deployer(robots=30)
    tool: Any = _tool()
    sizes = {
        name: sum(v.size for v in variables)
        for name, variables in tool.function_environments(S_YAML.read_text(), env).items()
    }
    assert all(size > 4096 for size in sizes.values()), sizes  # the literal s.yaml is far under
    completed = _run(env)
    assert completed.returncode == 1, completed
    report = completed.stderr
    url_bytes = len("NOTIFY_URLS") + len(env["NOTIFY_URLS"])
    for name, size in sizes.items():
        assert f"{name}: its environment variables take {size} bytes" in report
    assert "FC allows 4096 bytes" in report
    assert f"{url_bytes} bytes  (from $NOTIFY_URLS)" in report
    assert "NOTIFY_DINGTALK_SECRET" in report
    assert "MAX_INSTANCES" in report
    assert "deploy refused" in report
    # Names and sizes only: no URL, token or secret.
    for value in (env["NOTIFY_DINGTALK_SECRET"], env["NOTIFY_FEISHU_SECRET"], _fake("robot 0")):
        assert value not in report + completed.stdout
    assert "https://" not in report.replace(tool.FC_ENV_LIMIT_SOURCE, "")


def test_a_deploy_under_the_limit_passes() -> None:
    completed = _run(_deployer(robots=4))
    assert completed.returncode == 0, completed.stderr
    assert "limit 4096" in completed.stdout
    assert "https://" not in completed.stdout


def test_s_yaml_checks_the_environment_before_it_builds() -> None:
    runs = [action["run"] for action in load_spec()["actions"]["pre-deploy"]]
    assert runs[:2] == ["python3 tools/check_env_size.py", "python3 tools/build_packages.py"]
