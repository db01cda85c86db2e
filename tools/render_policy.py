"""Fill in deploy/ram-policy.json's placeholders for one account and print the policy.

    python3 tools/render_policy.py --account-id 1234567890123456 --region cn-hangzhou \
        --fleet-tag env=dev > build/ram-policy.json

The repository keeps the placeholders (${ACCOUNT_ID}, ${REGION}, ${FLEET_TAG_KEY},
${FLEET_TAG_VALUE}) so no account id is committed. Rendering refuses to leave any of them
unfilled: an empty tag key would make the tag condition meaningless. Use `--region '*'` when
TARGET_REGIONS lists several regions. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Final

POLICY: Final = Path(__file__).resolve().parents[1] / "deploy" / "ram-policy.json"
PLACEHOLDER: Final = re.compile(r"\$\{([A-Z_]+)\}")
_ACCOUNT_ID: Final = re.compile(r"^[0-9]{10,20}$")
_REGION: Final = re.compile(r"^(\*|[a-z]{2,8}(-[a-z0-9]{1,16}){1,4})$")
# Tag text that cannot break out of the JSON string or the condition key it lands in.
_TAG_TEXT: Final = re.compile(r'^[^"\\\x00-\x1f*${}/]{1,128}$')


class RenderError(Exception):
    """A value is malformed or a placeholder was left unfilled."""


def render(template: str, values: dict[str, str]) -> str:
    """`template` with every ${NAME} replaced.

    Raises:
        RenderError: a placeholder has no value.
    """
    missing = sorted(set(PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise RenderError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def values_from(account_id: str, region: str, fleet_tag: str) -> dict[str, str]:
    """The placeholder values, checked.

    Raises:
        RenderError: naming the malformed value.
    """
    if not _ACCOUNT_ID.match(account_id):
        raise RenderError(f"--account-id {account_id!r} is not a numeric account id")
    if not _REGION.match(region):
        raise RenderError(f"--region {region!r} is not a region id (or '*')")
    key, sep, value = fleet_tag.partition("=")
    if not sep or not _TAG_TEXT.match(key) or not _TAG_TEXT.match(value):
        raise RenderError(f"--fleet-tag {fleet_tag!r} is not key=value (no wildcards)")
    return {
        "ACCOUNT_ID": account_id,
        "REGION": region,
        "FLEET_TAG_KEY": key,
        "FLEET_TAG_VALUE": value,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--account-id", required=True, help="the Alibaba Cloud account id")
    parser.add_argument("--region", required=True, help="the fleet's region, or '*' for several")
    parser.add_argument("--fleet-tag", required=True, help="the dev-fleet tag, key=value")
    parser.add_argument("--policy", type=Path, default=POLICY, help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    try:
        rendered = render(
            options.policy.read_text(),
            values_from(options.account_id, options.region, options.fleet_tag),
        )
        json.loads(rendered)  # a value that broke the JSON must not reach CreatePolicy
    except (RenderError, json.JSONDecodeError) as error:
        print(f"render failed: {error}", file=sys.stderr)  # noqa: T201 - a command's output
        return 1
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
