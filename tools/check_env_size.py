"""Refuse a deploy whose functions' environment variables exceed Function Compute's 4 KB.

    python3 tools/check_env_size.py [--s-yaml PATH]

FC documents "The total size of all environment variables cannot exceed 4 KB"
(https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables, "Limitations").
What counts is what a deployer's shell adds: `NOTIFY_URLS` (the webhooks, tokens included) and
the signing secrets come from the environment at deploy time (s.yaml's `${env(...)}`), so the
same s.yaml passes with one webhook and is refused by FC with five. s.yaml's pre-deploy action
runs this before the build: each function's environment is resolved from s.yaml's literal values
and the deployer's variables, and a function over the limit stops the deploy with the numbers
(every variable's name and bytes, where a deployer's value came from, the total and the limit).
Values are never printed: they carry tokens and secrets.

A variable counts as its name plus its value, in UTF-8 bytes. How FC counts (the names? the JSON
it is sent as?) is not documented: UNCONFIRMED; the JSON form would add about 6 bytes a variable.

Standard library only, like the build (the hook runs it with the deployer's python3), so s.yaml is
read by a small reader of the one layout it uses: `vars:` entries, the `common_environment`
anchor, and each resource's `environmentVariables` (with `<<: *common_environment`).
tests/deploy/test_env_size.py checks that this reader sees exactly what a YAML loader does.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

S_YAML: Final = Path(__file__).resolve().parents[1] / "s.yaml"
# FC's documented total for a function's environment variables (see the module docstring).
FC_ENV_LIMIT_BYTES: Final = 4096
FC_ENV_LIMIT_SOURCE: Final = (
    "https://www.alibabacloud.com/help/en/functioncompute/fc/environment-variables"
)

_ENTRY: Final = re.compile(
    r"^(?P<indent> *)(?P<key>[A-Za-z_<][A-Za-z0-9_<-]*):(?:\s+(?P<value>.*))?$"
)
_VAR: Final = re.compile(r"\$\{vars\.([A-Za-z_][A-Za-z0-9_]*)\}")
_ENV: Final = re.compile(r"""\$\{env\(\s*'([A-Za-z_][A-Za-z0-9_]*)'\s*(?:,\s*'([^']*)'\s*)?\)\}""")


class EnvSizeError(Exception):
    """s.yaml could not be read as this tool expects; the message says where."""


@dataclass(frozen=True)
class Variable:
    """One environment variable of one function, as FC would receive it."""

    name: str
    value: str
    # The deployer's variable it came from (NOTIFY_URLS, ...), or None for a literal in s.yaml.
    from_env: str | None

    @property
    def size(self) -> int:
        return len(self.name.encode()) + len(self.value.encode())


def _scalar(text: str | None) -> str:
    """A YAML plain or quoted scalar as s.yaml writes them (no multi-line forms)."""
    text = (text or "").strip()
    if text[:1] in {"'", '"'}:
        quote = text[0]
        end = text.index(quote, 1) if quote == '"' else _single_quote_end(text)
        value = text[1:end]
        return value.replace("''", "'") if quote == "'" else value
    return re.sub(r"\s+#.*$", "", text)


def _single_quote_end(text: str) -> int:
    index = 1
    while True:
        index = text.index("'", index)
        if text[index + 1 : index + 2] != "'":
            return index
        index += 2


def _resolve(
    value: str, variables: Mapping[str, str], env: Mapping[str, str]
) -> tuple[str, str | None]:
    """`value` with ${vars.x} and ${env('X', 'default')} filled in, and the env name it used."""
    used: list[str] = []

    def from_env(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        used.append(name)
        # Serverless Devs: an unset or empty variable takes the default.
        found = env.get(name) or ""
        return found or (default or "")

    def from_var(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in variables:
            raise EnvSizeError(f"${{vars.{name}}}: no such var in s.yaml")
        return _ENV.sub(from_env, variables[name])

    resolved = _ENV.sub(from_env, _VAR.sub(from_var, value))
    return resolved, (used[0] if used else None)


@dataclass
class _Reading:
    """What the reader has collected from s.yaml so far, and where it is."""

    variables: dict[str, str] = field(default_factory=dict)
    common: dict[str, str] = field(default_factory=dict)
    functions: dict[str, dict[str, str]] = field(default_factory=dict)
    section: str = ""
    resource: str = ""
    block: dict[str, str] | None = None
    block_indent: int = -1

    def take(self, indent: int, key: str, value: str | None) -> None:
        if self.block is not None and indent <= self.block_indent:
            self.block = None
        if indent == 0:
            self.section = key
        elif self.block is not None:
            self._take_entry(key, value)
        elif self.section == "vars" and indent == 2:
            if key == "common_environment":
                self.block, self.block_indent = self.common, indent
            elif value is not None and not value.startswith("&"):
                self.variables[key] = _scalar(value)
        elif self.section == "resources" and indent == 2:
            self.resource = key
        elif self.section == "resources" and key == "environmentVariables":
            self.block = self.functions.setdefault(self.resource, {})
            self.block_indent = indent

    def _take_entry(self, key: str, value: str | None) -> None:
        block = self.block if self.block is not None else {}
        if key != "<<":
            block[key] = _scalar(value)
        elif _scalar(value) == "*common_environment":
            block.update(self.common)
        else:
            raise EnvSizeError(f"environmentVariables merges {value!r}, not *common_environment")


def function_environments(text: str, env: Mapping[str, str]) -> dict[str, list[Variable]]:
    """Each resource's environment variables, resolved against the deployer's `env`."""
    reading = _Reading()
    for line in text.splitlines():
        match = _ENTRY.match(line)
        if match is not None and not line.lstrip().startswith("#"):
            reading.take(len(match.group("indent")), match.group("key"), match.group("value"))
    return {
        name: [
            Variable(key, *_resolve(value, reading.variables, env))
            for key, value in environment.items()
        ]
        for name, environment in reading.functions.items()
    }


def problems(
    environments: Mapping[str, list[Variable]], limit: int = FC_ENV_LIMIT_BYTES
) -> list[str]:
    """One message per function over `limit`: every variable's bytes, the total, the limit."""
    found = []
    for function, variables in environments.items():
        total = sum(variable.size for variable in variables)
        if total <= limit:
            continue
        listed = "\n".join(
            f"    {variable.name:<28} {variable.size:>6} bytes"
            + (f"  (from ${variable.from_env})" if variable.from_env else "")
            for variable in sorted(variables, key=lambda v: (-v.size, v.name))
        )
        found.append(
            f"{function}: its environment variables take {total} bytes (name + value, UTF-8); "
            f"FC allows {limit} bytes in all ({FC_ENV_LIMIT_SOURCE}), {total - limit} over. "
            f"Shorten or drop what the deployer's shell sets:\n{listed}"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--s-yaml", type=Path, default=S_YAML)
    args = parser.parse_args(argv)
    try:
        environments = function_environments(args.s_yaml.read_text(), os.environ)
    except (OSError, EnvSizeError) as error:
        print(f"check_env_size: {error}", file=sys.stderr)  # noqa: T201 - a command's output
        return 2
    found = problems(environments)
    for problem in found:
        print(f"check_env_size: {problem}", file=sys.stderr)  # noqa: T201 - a command's output
    if found:
        print(  # noqa: T201 - a command's output
            "check_env_size: deploy refused before anything was built or sent", file=sys.stderr
        )
        return 1
    sizes = ", ".join(
        f"{name} {sum(v.size for v in variables)}" for name, variables in environments.items()
    )
    print(  # noqa: T201 - a command's output
        f"check_env_size: environment bytes per function: {sizes} (limit {FC_ENV_LIMIT_BYTES})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
