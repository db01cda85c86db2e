"""The `ecs-lifecycle` command: local invoke, and the emulator and demo for development.

`ecs-lifecycle invoke FUNCTION [--event FILE|-]` calls a function's FC handler the way FC would:
event bytes in, an FC-like context, the same environment settings. Against the emulator set
ECS_ENDPOINT and ECS_PROTOCOL; against a real account the default credential chain applies.
Exit codes: 0 done, 1 some instances failed (the summary is still printed), 2 refused input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import uuid
from dataclasses import dataclass
from typing import Final

from ecs_lifecycle.errors import EcsLifecycleError, InvalidInputError, RunFailedError
from ecs_lifecycle.model import Function

EXIT_FAILED: Final = 1
EXIT_REFUSED: Final = 2
FUNCTION_NAMES: Final = {function.value: function for function in Function}


@dataclass(frozen=True, slots=True)
class FunctionMeta:
    """The part of FC's context.function the handlers read."""

    name: str
    handler: str
    memory: int
    timeout: int


@dataclass(frozen=True, slots=True)
class LocalContext:
    """An FC-like context for local runs (no credentials in it: FC 3.0 puts them in env vars)."""

    request_id: str
    function: FunctionMeta
    region: str
    account_id: str = "local"


def make_context(function: Function, environ: dict[str, str] | os._Environ[str]) -> LocalContext:
    timeout = environ.get("FC_TIMEOUT", "")
    return LocalContext(
        request_id=f"local-{uuid.uuid4()}",
        function=FunctionMeta(
            name=f"ecs-{function.value}",
            handler="index.handler",
            memory=512,
            timeout=int(timeout) if timeout.isdigit() else 900,
        ),
        region=environ.get("FC_REGION", ""),
    )


def invoke(function: Function, event: bytes) -> int:
    """Run one function locally; print the summary on stdout, problems on stderr."""
    from ecs_lifecycle.handler import handle  # noqa: PLC0415 - the SDK loads only for invoke

    try:
        summary = handle(function, event, make_context(function, os.environ))
    except RunFailedError as failure:
        print(json.dumps(failure.summary, indent=2))  # noqa: T201 - the command's output
        print(f"error: {failure.failed} instance(s) failed", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
    except InvalidInputError as refusal:
        print(f"refused: {refusal}", file=sys.stderr)  # noqa: T201
        return EXIT_REFUSED
    except EcsLifecycleError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
    print(json.dumps(summary, indent=2))  # noqa: T201 - the command's output
    return 0


class _CliLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The decision log lines on stderr, so that stdout holds only the result JSON."""


def _log_to_stderr() -> None:
    # Our own logger, not the root one: FC configures the root logger in the cloud, and a test
    # runner may have; each call replaces the previous handler, so repeated runs do not stack.
    logger = logging.getLogger("ecs_lifecycle")
    for handler in [h for h in logger.handlers if isinstance(h, _CliLogHandler)]:
        logger.removeHandler(handler)
    handler = _CliLogHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def _read_event(source: str | None) -> bytes:
    if source is None:
        return b"{}"
    if source == "-":
        return sys.stdin.buffer.read()
    with open(source, "rb") as handle:
        return handle.read()


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == "emulator":
        from ecs_emulator.cli import main as emulator_main  # noqa: PLC0415 - dev tool only

        return int(emulator_main(arguments[1:]))
    if arguments and arguments[0] == "demo":
        from ecs_emulator.demo import main as demo_main  # noqa: PLC0415 - dev tool only

        return int(demo_main(arguments[1:]))
    parser = argparse.ArgumentParser(prog="ecs-lifecycle", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    invoke_parser = commands.add_parser("invoke", help="run a function's handler locally")
    invoke_parser.add_argument("function", choices=sorted(FUNCTION_NAMES))
    invoke_parser.add_argument("--event", help="event JSON file, or - for stdin (default: {})")
    commands.add_parser("emulator", help="run the local ECS emulator (see: emulator --help)")
    commands.add_parser("demo", help="run the three functions on the emulator's demo fleet")
    options = parser.parse_args(arguments)
    _log_to_stderr()
    try:
        event = _read_event(options.event)
    except OSError as error:
        print(f"refused: cannot read the event: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_REFUSED
    return invoke(FUNCTION_NAMES[options.function], event)


if __name__ == "__main__":
    sys.exit(main())
