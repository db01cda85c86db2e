"""`ecs-lifecycle invoke`: a function's handler run locally, as FC runs it.

`ecs-lifecycle invoke FUNCTION [--event FILE|-] [--format table|json]` calls a function's FC
handler the way FC would: event bytes in, an FC-like context, the same environment settings.
Against the emulator set ECS_ENDPOINT and ECS_PROTOCOL; against a real account the default
credential chain applies. Exit codes: 0 done, 1 some instances failed (the summary is still
printed), 2 refused input, 130 interrupted.

Ctrl-C: the first one asks the run to start nothing new (no ECS call, batch, poll or snapshot;
retry and poll waits end at once); the calls in flight finish, and the summary of what was done
is printed, the rest reported as not done (`Interrupted`). A second Ctrl-C exits at once.

The installed `ecs-lifecycle` command also has `emulator` and `demo`; they live with the emulator
(`ecs_emulator.devcli`, which hands everything else to `main` here), so the core never imports it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING, Any, Final

from ecs_lifecycle import defaults
from ecs_lifecycle.errors import EcsLifecycleError, InvalidInputError, RunFailedError
from ecs_lifecycle.model import Function, Instance
from ecs_lifecycle.render import Who, render_summary

if TYPE_CHECKING:
    from ecs_lifecycle.clock import Clock
    from ecs_lifecycle.settings import Settings

EXIT_FAILED: Final = 1
EXIT_REFUSED: Final = 2
EXIT_INTERRUPTED: Final = 128 + signal.SIGINT  # 130, what a shell reports for a Ctrl-C
FUNCTION_NAMES: Final = {function.value: function for function in Function}
FORMATS: Final = ("table", "json")
OWNER_TAG: Final = defaults.OWNER_TAG  # the tag the table's OWNER column shows
# Log events the table already shows: not repeated on stderr in the table format.
_SHOWN_BY_THE_TABLE: Final = frozenset({"decision", "summary"})
# A refusal is printed once, as `refused: ...`, whatever the format: not as a log line too.
_PRINTED_ANYWAY: Final = frozenset({"refused"})


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


class _NamesSeen:
    """Wraps the run's gateway to note the name and owner of every instance ECS describes.

    Only the table reads them; the handler, its decisions and its JSON are untouched.
    """

    def __init__(self, gateway: Any, known: dict[str, Who], owner_tag: str) -> None:
        self._gateway = gateway
        self._known = known
        self._owner_tag = owner_tag

    def describe_instances(self, region: str, **filters: Any) -> Iterator[Instance]:
        for instance in self._gateway.describe_instances(region, **filters):
            self._known[instance.instance_id] = Who(
                instance.name, instance.tag(self._owner_tag) or ""
            )
            yield instance

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gateway, name)


class _CtrlC:
    """SIGINT during a local invoke: the first asks the run to stop, the second exits at once.

    The handler only sets an event (and writes a line with os.write, safe in a signal handler):
    the run checks it wherever it checks its deadline, so it ends the way a run out of time does,
    with a summary. The second Ctrl-C does not wait for the calls in flight (nor print a
    traceback from every thread).
    """

    def __init__(self) -> None:
        self.requested = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        if self.requested.is_set():
            os.write(2, b"interrupted again: exiting now, without a summary\n")
            os._exit(EXIT_INTERRUPTED)
        self.requested.set()
        os.write(
            2,
            b"interrupted: starting nothing new; the calls in flight finish, then the summary "
            b"(Ctrl-C again to exit at once)\n",
        )


class _WakesOnCtrlC:
    """The real clock, whose waits (polls, retry backoff, pacing) end as soon as Ctrl-C comes.

    For the real clock only: its `sleep` waits in real time (a fake clock's moves its time).
    """

    def __init__(self, clock: Clock, requested: threading.Event) -> None:
        self._clock = clock
        self._requested = requested

    def now(self) -> datetime:
        return self._clock.now()

    def sleep(self, seconds: float) -> None:
        self._requested.wait(seconds)


def invoke(
    function: Function, event: bytes, output_format: str = "json", owner_tag: str = OWNER_TAG
) -> int:
    """Run one function locally; print the summary on stdout, problems on stderr.

    Exit code: 0 done, 1 some instances failed, 2 refused input, 130 interrupted (Ctrl-C).
    """
    ctrl_c = _CtrlC()
    # Signal handlers belong to the main thread; elsewhere (a test's thread) Ctrl-C stays Python's.
    # Installed before the SDK's import, which alone takes a second or more.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, ctrl_c) if in_main_thread else None
    try:
        code = _invoke(function, event, output_format, owner_tag, ctrl_c)
    finally:
        if in_main_thread and previous is not None:  # None: a handler not set from Python
            signal.signal(signal.SIGINT, previous)
    if ctrl_c.requested.is_set():
        print(  # noqa: T201
            "interrupted: what was not done is reported as not done; a re-run picks it up",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return code


def _invoke(
    function: Function, event: bytes, output_format: str, owner_tag: str, ctrl_c: _CtrlC
) -> int:
    """Call the handler; print its summary (or refusal, or error); return the exit code."""
    from ecs_lifecycle.ecs import make_gateway  # noqa: PLC0415 - SDK for invoke
    from ecs_lifecycle.handler import default_services, handle  # noqa: PLC0415 - SDK for invoke

    known: dict[str, Who] = {}
    services = default_services()

    def gateway_for_invoke(settings: Settings, clock: Clock, deadline: datetime | None) -> Any:
        gateway = make_gateway(settings, clock, deadline, stop_requested=ctrl_c.requested.is_set)
        return _NamesSeen(gateway, known, owner_tag)

    services = replace(
        services,
        clock=_WakesOnCtrlC(services.clock, ctrl_c.requested),
        gateway_factory=gateway_for_invoke,
        stop_requested=ctrl_c.requested.is_set,
    )
    try:
        summary = handle(function, event, make_context(function, os.environ), services)
    except RunFailedError as failure:
        _print_summary(failure.summary, output_format, known)
        print(f"error: {failure.failed} instance(s) failed", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
    except InvalidInputError as refusal:
        print(f"refused: {refusal}", file=sys.stderr)  # noqa: T201
        return EXIT_REFUSED
    except EcsLifecycleError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
    _print_summary(summary, output_format, known)
    return 0


def _print_summary(
    summary: Mapping[str, Any], output_format: str, known: Mapping[str, Who]
) -> None:
    if output_format == "json":
        print(json.dumps(summary, indent=2))  # noqa: T201 - the command's output, for machines
        return
    width = shutil.get_terminal_size().columns
    print("\n".join(render_summary(summary, known, width)))  # noqa: T201 - for a person


class _CliLogHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The log lines on stderr, so that stdout holds only the result."""


class _LeaveOut(logging.Filter):
    """Leaves out log events printed otherwise, so that each thing is read once."""

    def __init__(self, events: frozenset[str]) -> None:
        super().__init__()
        self._events = events

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            event = json.loads(record.getMessage()).get("event")
        except (ValueError, AttributeError):
            return True
        return event not in self._events


class _ProgressForAPerson(logging.Formatter):
    """The table format's stderr: a release's progress in words; other lines as they are."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        try:
            line = json.loads(message)
        except ValueError:
            return message
        if not isinstance(line, dict) or line.get("event") != "progress":
            return message
        return describe_progress(line)


def describe_progress(line: Mapping[str, Any]) -> str:
    """A `progress` log line as a person reads it."""
    parts = [f"{line['stopping']} stopping", f"{line['stopped']} stopped"]
    if line["snapshots"]:
        done, started = line["snapshots_accomplished"], line["snapshots"]
        parts.append(f"snapshots {done} of {started} accomplished")
    parts.append(f"{line['released']} released")
    parts += [f"{line[name]} {name}" for name in ("kept", "failed") if line[name]]
    at = str(line.get("at", ""))[11:19]  # HH:MM:SS of the run's clock
    return f"{at} {line['function']} of {line['instances']}: {', '.join(parts)}".strip()


def _log_to_stderr(output_format: str) -> None:
    # Our own logger, not the root one: FC configures the root logger in the cloud, and a test
    # runner may have; each call replaces the previous handler, so repeated runs do not stack.
    logger = logging.getLogger("ecs_lifecycle")
    for handler in [h for h in logger.handlers if isinstance(h, _CliLogHandler)]:
        logger.removeHandler(handler)
    handler = _CliLogHandler(sys.stderr)
    handler.setFormatter(
        _ProgressForAPerson("%(message)s")
        if output_format == "table"
        else logging.Formatter("%(message)s")
    )
    shown_otherwise = _PRINTED_ANYWAY | (_SHOWN_BY_THE_TABLE if output_format == "table" else set())
    handler.addFilter(_LeaveOut(frozenset(shown_otherwise)))
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
    parser = argparse.ArgumentParser(prog="ecs-lifecycle", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    invoke_parser = commands.add_parser("invoke", help="run a function's handler locally")
    invoke_parser.add_argument("function", choices=sorted(FUNCTION_NAMES))
    invoke_parser.add_argument("--event", help="event JSON file, or - for stdin (default: {})")
    invoke_parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="table: for a person (the default on a terminal); json: the handler's result, "
        "exactly as FC returns it, with JSON log lines on stderr (the default when piped)",
    )
    invoke_parser.add_argument(
        "--owner-tag",
        default=OWNER_TAG,
        help=f"the tag the table shows as OWNER (default {OWNER_TAG})",
    )
    options = parser.parse_args(arguments)
    output_format = options.format or ("table" if sys.stdout.isatty() else "json")
    _log_to_stderr(output_format)
    try:
        event = _read_event(options.event)
    except OSError as error:
        print(f"refused: cannot read the event: {error}", file=sys.stderr)  # noqa: T201
        return EXIT_REFUSED
    return invoke(FUNCTION_NAMES[options.function], event, output_format, options.owner_tag)


if __name__ == "__main__":
    sys.exit(main())
