"""The hub's run (run layer): parse, read the accounts, plan, dispatch, summarise.

No rules here: they are in fanout/plan.py. The hub dispatches one FC async invocation per target
through the AsyncInvoker seam, paced under FC's invocation quota (FANOUT_INVOKES_PER_SECOND), one
log line per target and per skipped account. Its memory stays flat in the number of targets: the
targets are generated one at a time, and the summary keeps counts, the skipped accounts and the
failed targets (every target's line is in the log). A hub dry run logs the plan, invokes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Final, TypeVar

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.ports import AccountDirectory, AsyncInvocation, AsyncInvoker, Dispatched
from ecs_lifecycle.audit import log_line
from ecs_lifecycle.clock import Clock
from ecs_lifecycle.errors import ConfigError, InvalidInputError
from ecs_lifecycle.events import ManualInvocation, TimerInvocation, parse_event
from ecs_lifecycle.fanout.plan import (
    check_cap,
    check_workers,
    choose_accounts,
    targets,
    worker_payload,
)
from ecs_lifecycle.settings import parse_regions
from ecs_lifecycle.timeparse import parse_zoned_time

_T = TypeVar("_T")
HUB_FUNCTION: Final = "fanout"
_ATTEMPTS: Final = 3  # a throttled (or otherwise failed) dispatch is tried this often
_HUB_OPTIONS: Final = frozenset({"dry_run", "functions", "options", "scheduled_time"})
_DEADLINE_MARGIN: Final = 10.0


@dataclass(frozen=True, slots=True)
class HubServices:
    """What the hub depends on from outside: the seams are built from the hub's settings."""

    clock: Clock
    environ: Mapping[str, str]
    directory_factory: Callable[[AccountSettings], AccountDirectory]
    invoker_factory: Callable[[AccountSettings], AsyncInvoker]


@dataclass(frozen=True, slots=True)
class _HubRequest:
    scheduled_at: datetime
    trigger_name: str
    dry_run: bool
    functions: tuple[str, ...]
    options: dict[str, Any] | None


def handle_hub(event: bytes | str, context: Any, services: HubServices) -> dict[str, Any]:
    """One hub run; its summary. Refusals (InvalidInputError) happen before any call."""
    settings = _refused_logged(lambda: AccountSettings.from_env(services.environ))
    regions = _refused_logged(lambda: _regions(services.environ))
    request = _refused_logged(lambda: _request(event, services.clock.now(), services.environ))
    workers = _refused_logged(lambda: check_workers(settings, request.functions))
    summary: dict[str, Any] = {
        "function": HUB_FUNCTION,
        "dry_run": request.dry_run,
        "scheduled_time": request.scheduled_at.isoformat(),
        "functions": list(workers),
        "regions": list(regions),
        "counts": {"dispatched": 0, "duplicate": 0, "planned": 0, "failed": 0, "skipped": 0},
        "skipped_accounts": [],
        "failed_targets": [],
        "notes": [],
    }
    if settings.paused:
        summary["notes"].append("FANOUT_PAUSED is set: nothing was dispatched")
        log_line("fanout_paused", function=HUB_FUNCTION)
        return summary
    if not settings.configured:
        raise _logged(InvalidInputError("TARGET_ACCOUNTS", "no accounts are configured"))
    directory = services.directory_factory(settings)
    folder = settings.target_folder
    members = directory.accounts_under(folder) if folder is not None else iter(())
    management = directory.management_account_id() if folder is not None else None
    chosen = choose_accounts(settings, members, management)
    for skipped in chosen.skipped:
        summary["counts"]["skipped"] += 1
        summary["skipped_accounts"].append(
            {"account": skipped.account_id, "reason": skipped.reason}
        )
        log_line("fanout_skipped", account=skipped.account_id, reason=skipped.reason)
    total = len(chosen.admitted) * len(regions) * len(workers)
    _refused_logged(lambda: check_cap(settings, total))
    invoker = None if request.dry_run else services.invoker_factory(settings)
    interval = 1.0 / settings.invokes_per_second
    deadline = services.clock.now() + timedelta(seconds=_time_limit(context) - _DEADLINE_MARGIN)
    for target in targets(chosen.admitted, regions, workers, request.scheduled_at):
        payload = worker_payload(
            target, request.scheduled_at, request.trigger_name, request.options
        )
        line = {
            "function": target.function,
            "account": target.account_id,
            "region": target.region,
            "task_id": target.task_id,
        }
        if invoker is None:
            summary["counts"]["planned"] += 1
            log_line("fanout_planned", asked=json.loads(payload)["event"]["payload"], **line)
            continue
        if services.clock.now() >= deadline:
            _failed(summary, line, "not dispatched: the hub's deadline passed")
            continue
        invocation = AsyncInvocation(target.function, None, payload, target.task_id)
        outcome = _dispatch(invoker, invocation, services.clock, interval)
        if isinstance(outcome, str):
            _failed(summary, line, outcome)
        else:
            key = "duplicate" if outcome.duplicate else "dispatched"
            summary["counts"][key] += 1
            log_line(f"fanout_{key}", request_id=outcome.request_id, **line)
        services.clock.sleep(interval)  # the pacing floor: under FC's invocation quota
    log_line("fanout_summary", **{k: summary[k] for k in ("counts", "dry_run", "scheduled_time")})
    return summary


def _dispatch(
    invoker: AsyncInvoker, invocation: AsyncInvocation, clock: Clock, interval: float
) -> Dispatched | str:
    """The Dispatched answer, or the cause of the last failure after _ATTEMPTS tries (a retry
    reuses the task id, so FC can never run the target twice)."""
    cause = ""
    for attempt in range(_ATTEMPTS):
        try:
            return invoker.invoke_async(invocation)
        except Exception as failure:  # noqa: BLE001 - one target's failure never stops the others
            cause = f"{type(failure).__name__}: {failure}"
            if attempt + 1 < _ATTEMPTS:
                clock.sleep(interval * 2 ** (attempt + 1))
    return f"not dispatched after {_ATTEMPTS} attempts: {cause}"


def _failed(summary: dict[str, Any], line: dict[str, str], reason: str) -> None:
    summary["counts"]["failed"] += 1
    summary["failed_targets"].append({**line, "reason": reason})
    log_line("fanout_failed", reason=reason, **line)


def _request(event: bytes | str, now: datetime, environ: Mapping[str, str]) -> _HubRequest:
    invocation = parse_event(event)
    if isinstance(invocation, TimerInvocation):
        raw = invocation.options or {}
        # A timer without a readable time: the minute it ran (a retry in that minute dedups).
        at = invocation.trigger_time or now.replace(second=0, microsecond=0)
        name = invocation.trigger_name
    elif isinstance(invocation, ManualInvocation):
        raw = invocation.options
        text = raw.get("scheduled_time")
        parsed = parse_zoned_time(text) if isinstance(text, str) else None
        if text is not None and parsed is None:
            raise InvalidInputError("scheduled_time", f"{text!r} is not a time with its zone")
        at = parsed or now.replace(second=0, microsecond=0)
        name = "manual"
    else:
        raise InvalidInputError("event", "the hub runs from its timers or by hand only")
    unknown = sorted(set(raw) - _HUB_OPTIONS)
    if unknown:
        raise InvalidInputError(unknown[0], "is not a hub option (worker options go in options)")
    functions = raw.get("functions", [])
    options = raw.get("options")
    if not isinstance(functions, list) or not all(isinstance(f, str) for f in functions):
        raise InvalidInputError("functions", "must be a list of function names")
    if options is not None and not isinstance(options, dict):
        raise InvalidInputError("options", "must be an object of the workers' run options")
    dry_run = raw.get("dry_run", environ.get("DRY_RUN", "").strip().lower() == "true")
    if not isinstance(dry_run, bool):
        raise InvalidInputError("dry_run", "must be true or false")
    return _HubRequest(at.astimezone(timezone.utc), name, dry_run, tuple(functions), options)


def _regions(environ: Mapping[str, str]) -> tuple[str, ...]:
    text = environ.get("TARGET_REGIONS", "").strip()
    if not text:
        raise ConfigError("TARGET_REGIONS", "the hub needs the regions to fan out over")
    return parse_regions("TARGET_REGIONS", text)


def _time_limit(context: Any) -> float:
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    return float(timeout) if isinstance(timeout, (int, float)) and timeout > 0 else 300.0


def _logged(refusal: InvalidInputError) -> InvalidInputError:
    log_line("refused", function=HUB_FUNCTION, field=refusal.field, problem=refusal.problem)
    return refusal


def _refused_logged(make: Callable[[], _T]) -> _T:
    try:
        return make()
    except InvalidInputError as refusal:
        raise _logged(refusal) from None
