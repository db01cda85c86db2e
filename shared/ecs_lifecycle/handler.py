"""The run, as every function's handler performs it: parse, load, plan, apply, summarise.

This module holds no rules of its own. The rules are in `planning` (what to do to each instance),
the ECS calls in `ecs`, and how decisions are carried out in `execute`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ecs_lifecycle.account_settings import AccountSettings
from ecs_lifecycle.accounts.credentials import spoke_credentials
from ecs_lifecycle.accounts.session import StopTrailFactory, account_factories
from ecs_lifecycle.accounts.spoke import CredentialsBuilder
from ecs_lifecycle.audit import log_line, log_progress, log_result, log_summary, quiet_sdk_logs
from ecs_lifecycle.clock import Clock, SystemClock
from ecs_lifecycle.ecs import Gateway, GatewayFactory, make_gateway
from ecs_lifecycle.errors import BlastRadiusExceededError, InvalidInputError, RunFailedError
from ecs_lifecycle.events import (
    Invocation,
    TagChangeInvocation,
    parse_event,
)
from ecs_lifecycle.execute import Execution, execute
from ecs_lifecycle.fanout.worker import WorkerTarget, worker_target
from ecs_lifecycle.model import (
    TAG_RECORD_MARGIN,
    Action,
    Decision,
    Function,
    Instance,
    InstanceResult,
    Outcome,
    RunSummary,
    StopRecords,
    TagWrites,
)
from ecs_lifecycle.planning import (
    NOTICE_EVENT_NAMES,
    anchor_needed,
    check_blast_radius,
    decide_auto_release,
    decide_release,
    decide_stop,
    reported_writes,
    resolve_manual_time,
)
from ecs_lifecycle.policy import policy_for
from ecs_lifecycle.regions import check_regions
from ecs_lifecycle.request import NothingToDo, request_for
from ecs_lifecycle.settings import (
    RunRequest,
    Settings,
)

if TYPE_CHECKING:
    from ecs_lifecycle.actiontrail import StopTrail


@dataclass(frozen=True, slots=True)
class Services:
    """What a run depends on from outside; tests pass the emulator's clock."""

    clock: Clock
    environ: Mapping[str, str]
    gateway_factory: GatewayFactory
    # A local run's Ctrl-C: once it answers true, the run starts nothing new (see execute/run.py).
    stop_requested: Callable[[], bool] | None = None
    # The ActionTrail reader for `stopped_for` (actiontrail.make_stop_trail); imported only by
    # a run that needs it.
    stop_trail_factory: StopTrailFactory | None = None
    # The spoke role's credentials for a run in a named account (accounts.credentials'
    # spoke_credentials unless given); used only when an event names an account.
    spoke_credentials: CredentialsBuilder | None = None


def default_services() -> Services:
    return Services(clock=SystemClock(), environ=os.environ, gateway_factory=make_gateway)


def fc_handler(function: Function, event: bytes | str, context: Any) -> str:
    """What FC calls: the summary as a JSON string (FC passes a string through untouched)."""
    return json.dumps(handle(function, event, context))


def handle(
    function: Function, event: bytes | str, context: Any, services: Services | None = None
) -> dict[str, Any]:
    """Run `function` for one FC invocation and return its summary.

    Raises:
        InvalidInputError: the event, options or settings were refused; nothing was changed.
        RunFailedError: some instances failed; the summary is attached.
    """
    quiet_sdk_logs()
    services = services or default_services()
    raw = event
    with _refusals_logged(function):
        settings = Settings.from_env(function, services.environ)
        # Many accounts: an event naming an account outside the lists is refused here, before
        # any cloud call; an event naming none runs exactly as before (fanout/worker.py).
        target = worker_target(event, AccountSettings.from_env(services.environ))
        event = target.event
        invocation = parse_event(event)
        request = request_for(function, invocation, settings)
        if target.account_id is not None:
            services = _in_account(function, target, services)
    if isinstance(request, NothingToDo):
        summary = RunSummary(
            function, settings.dry_run, request.regions, invocation.kind, notes=[request.reason]
        )
        summary.results.extend(request.results)
        for result in request.results:
            log_result(summary, result)
        log_summary(summary)
        return summary.to_dict()
    return _run(request, invocation, raw, context, services)


def _in_account(function: Function, target: WorkerTarget, services: Services) -> Services:
    """The services of a run in the target's account: ECS and ActionTrail on the spoke role."""
    assert target.account_id is not None  # noqa: S101 - the caller checked
    gateways, trails = account_factories(
        function,
        target.account_id,
        target.task_id,
        AccountSettings.from_env(services.environ),
        services.spoke_credentials or spoke_credentials,
    )
    return replace(services, gateway_factory=gateways, stop_trail_factory=trails)


def _run(
    request: RunRequest,
    invocation: Invocation,
    event: bytes | str,
    context: Any,
    services: Services,
) -> dict[str, Any]:
    trigger = invocation.kind
    clock = services.clock
    now = clock.now()
    with _refusals_logged(request.function):
        resolve_manual_time(request.schedule, now)  # a manual time outside the window: refuse now
    limit = _time_limit(context, request.settings, services.environ)
    # Stop starting work a margin before FC kills the run (at most a quarter of a short limit).
    deadline = now + timedelta(
        seconds=limit - min(request.settings.deadline_margin_seconds, limit / 4)
    )
    gateway = services.gateway_factory(request.settings, clock, deadline)
    with _refusals_logged(request.function):
        check_regions(gateway, request, context, services.environ)
    instances, missing = _load(gateway, request)
    stop_records = _stop_records(request, instances, services, now, deadline)
    # A notice plans for the moment its real run starts: a keep-until that ends before then
    # no longer keeps the instance, and the notice must say so.
    planned_for = request.notice.run_at(now) if request.notice else now
    tag_writes = _tag_writes(
        request, invocation, instances, services, now=planned_for, deadline=deadline
    )
    decisions = plan(request, instances, planned_for, stop_records, tag_writes)
    summary = RunSummary(request.function, request.dry_run, request.selection.regions, trigger)
    if stop_records is not None and stop_records.problem is not None:
        summary.notes.append(
            f"no instance is released on the stopped_for basis: {stop_records.problem}"
        )
    if tag_writes is not None and tag_writes.problem is not None:
        summary.notes.append(
            f"when lifetime tags were written is unknown ({tag_writes.problem}): doubt keeps"
        )
    execution = Execution(
        gateway=gateway,
        clock=clock,
        deadline=deadline,
        dry_run=request.dry_run,
        # ForceStop is the stop function's option; a release always stops gracefully.
        force_stop=request.force and request.function is Function.STOP,
        stopped_mode=request.stopped_mode,
        idempotency_seed=_idempotency_seed(request.function, event),
        recheck=lambda instance, at: decide(request, instance, at, stop_records, tag_writes),
        planned_at=now,
        concurrency=request.settings.concurrency,
        poll_interval=request.settings.poll_seconds,
        snapshot_retention_days=request.settings.snapshot_retention_days,
        # Each decision's log line is written as it is carried out, not at the end.
        on_result=lambda result: log_result(summary, result),
        on_progress=lambda progress: log_progress(summary, progress),
        stop_requested=services.stop_requested,
    )
    if not instances:
        summary.notes.append(f"no instance matched {request.selection.describe()}")
    with _refusals_logged(request.function):
        try:
            check_blast_radius(decisions, request.max_instances)
        except BlastRadiusExceededError as over:
            if request.dry_run:
                # A dry run still shows what it would do, so the operator can see why.
                summary.notes.append(f"the real run would be refused: {over.problem}")
            else:
                # Cancellations destroy nothing, so the cap never holds them back.
                cancels = [d for d in decisions if d.changes and not d.destructive]
                if cancels:
                    summary.results.extend(execute(cancels, execution))
                summary.notes.append(f"refused: {over.problem}")
                log_summary(summary)
                # A refused run is a failed run to the people who expected it to act.
                _tell_people(
                    request,
                    summary.to_dict(),
                    instances,
                    gateway=gateway,
                    clock=clock,
                    now=now,
                    deadline=deadline,
                    refused=True,
                )
                raise
    results = execute(decisions, execution)
    summary.results.extend(results)
    for instance_id in missing:
        not_found = InstanceResult(
            instance_id,
            ",".join(request.selection.regions),
            Action.NONE,
            Outcome.SKIPPED,
            "not found in the selected regions (or it does not match the tags)",
        )
        summary.results.append(not_found)
        log_result(summary, not_found)
    log_summary(summary)
    result = summary.to_dict()
    _tell_people(
        request,
        result,
        instances,
        gateway=gateway,
        clock=clock,
        now=now,
        deadline=deadline,
        tag_writes=tag_writes,
    )
    if summary.failed:
        raise RunFailedError(summary.failed, result)
    return result


def _tell_people(
    request: RunRequest,
    result: dict[str, Any],
    instances: list[Instance],
    *,
    gateway: Gateway,
    clock: Clock,
    now: datetime,
    deadline: datetime,
    refused: bool = False,
    tag_writes: TagWrites | None = None,
) -> None:
    """Notices, reports and the digest (notices.py), when the run has any to send.

    The channels (HTTP, signing, rendering) are imported only then: a run with no NOTIFY_URLS and
    no notice or digest asked for pays nothing for them at its cold start.
    """
    if request.notice is None and request.digest is None and not request.settings.notify.channels:
        return
    from ecs_lifecycle.notices import tell_people  # noqa: PLC0415 - only a run that notifies

    tell_people(
        request,
        result,
        instances,
        gateway=gateway,
        clock=clock,
        now=now,
        deadline=deadline,
        refused=refused,
        tag_writes=tag_writes,
    )


def plan(
    request: RunRequest,
    instances: list[Instance],
    now: datetime,
    stop_records: StopRecords | None = None,
    tag_writes: TagWrites | None = None,
) -> list[Decision]:
    """The pure decisions for this request (a manual time outside the window was refused)."""
    return [decide(request, instance, now, stop_records, tag_writes) for instance in instances]


def decide(
    request: RunRequest,
    instance: Instance,
    now: datetime,
    stop_records: StopRecords | None = None,
    tag_writes: TagWrites | None = None,
) -> Decision:
    """One instance's decision: the planner's rules, inside the request's selector.

    The executor applies it again to a fresh read right before each destructive call, so an
    instance that left the selector (or gained a keep signal) since it was read is kept.
    """
    if not request.selection.matches(instance):
        return Decision(
            instance.instance_id,
            instance.region,
            Action.NONE,
            f"no longer matches the selector ({request.selection.describe()})",
            skipped=True,
        )
    policy = policy_for(request, stop_records, tag_writes)
    if request.function is Function.STOP:
        return decide_stop(instance, policy, now)
    if request.function is Function.RELEASE:
        return decide_release(instance, policy, now)
    assert request.schedule is not None  # noqa: S101 - build_request always sets it for auto-release
    return decide_auto_release(instance, request.schedule, policy, now)


def _stop_records(
    request: RunRequest,
    instances: list[Instance],
    services: Services,
    now: datetime,
    deadline: datetime,
) -> StopRecords | None:
    """ActionTrail's stop records for a release with `stopped_for`, in the regions that have a
    Stopped instance (the rule keeps every other instance without them); None otherwise."""
    if request.function is not Function.RELEASE or request.stopped_for is None:
        return None
    regions = sorted({i.region for i in instances if i.status == "Stopped"})
    if not regions:
        return None
    records: StopRecords = _trail(request, services, deadline).last_stops(regions, now)
    return records


def _trail(request: RunRequest, services: Services, deadline: datetime) -> StopTrail:
    """The run's ActionTrail reader (the SDK is imported only by a run that reads it)."""
    factory = services.stop_trail_factory
    if factory is None:
        from ecs_lifecycle.actiontrail import make_stop_trail  # noqa: PLC0415 - only when needed

        factory = make_stop_trail
    return factory(request.settings, services.clock, deadline, services.stop_requested)


def _tag_writes(
    request: RunRequest,
    invocation: Invocation,
    instances: list[Instance],
    services: Services,
    *,
    now: datetime,
    deadline: datetime,
) -> TagWrites | None:
    """When the lifetime-tagged instances' tags were last written: the anchor of the minimum
    notice, for release and auto-release (the stop function releases nothing).

    From ActionTrail's TagResources / AddTags records of the last MIN_NOTICE (an older write's
    notice has run), read only in the regions of the instances whose release time depends on it,
    and from the event when it reports a tag write (its eventTime: never sooner than the record,
    planning.reported_writes). None: no instance's release time depends on it.
    """
    if request.function is Function.STOP or request.settings.min_notice <= timedelta(0):
        return None
    recorded = _recorded_tag_writes(request, instances, services, now=now, deadline=deadline)
    if (
        isinstance(invocation, TagChangeInvocation)
        and invocation.event_name in NOTICE_EVENT_NAMES
        and invocation.event_time is not None
    ):
        return reported_writes(
            invocation.instance_ids, invocation.event_time, recorded, services.clock.now()
        )
    return recorded


def _recorded_tag_writes(
    request: RunRequest,
    instances: list[Instance],
    services: Services,
    *,
    now: datetime,
    deadline: datetime,
) -> TagWrites | None:
    """ActionTrail's tag records in the regions of the instances whose release time depends on
    when their tags were written; None: none does."""
    policy = policy_for(request)
    regions = sorted({i.region for i in instances if anchor_needed(i, policy, now)})
    if not regions:
        return None
    trail = _trail(request, services, deadline)
    # A notice plans for a later moment; the records end now (there are none later yet).
    until = min(now, services.clock.now())
    since = min(now - request.settings.min_notice - TAG_RECORD_MARGIN, until)
    writes: TagWrites = trail.last_tag_writes(regions, since, until)
    return writes


def _load(gateway: Gateway, request: RunRequest) -> tuple[list[Instance], list[str]]:
    """Every selected instance in every region (regions in parallel), and the ids not found."""
    selection = request.selection

    def load_region(region: str) -> list[Instance]:
        listed = gateway.describe_instances(
            region, instance_ids=selection.instance_ids, tags=selection.tags
        )
        # Re-check locally what ECS filtered: both conditions must hold.
        return [instance for instance in listed if selection.matches(instance)]

    with ThreadPoolExecutor(max_workers=len(selection.regions), thread_name_prefix="load") as pool:
        per_region = list(pool.map(load_region, selection.regions))
    instances = [instance for region_instances in per_region for instance in region_instances]
    found = {instance.instance_id for instance in instances}
    missing = [i for i in selection.instance_ids or () if i not in found]
    return instances, missing


@contextmanager
def _refusals_logged(function: Function) -> Iterator[None]:
    """Log a refusal as one line before it propagates (FC shows the error; the log keeps it)."""
    try:
        yield
    except InvalidInputError as refusal:
        log_line("refused", function=function.value, field=refusal.field, problem=refusal.problem)
        raise


def _time_limit(context: Any, settings: Settings, environ: Mapping[str, str]) -> float:
    """The function's timeout in seconds: from the FC context, else FC_TIMEOUT, else a default."""
    timeout = getattr(getattr(context, "function", None), "timeout", None)
    if isinstance(timeout, (int, float)) and timeout > 0:
        return float(timeout)
    from_env = environ.get("FC_TIMEOUT", "")
    if from_env.isdigit() and int(from_env) > 0:
        return float(from_env)
    return settings.default_timeout_seconds


def _idempotency_seed(function: Function, event: bytes | str) -> str:
    raw = event.encode() if isinstance(event, str) else bytes(event)
    return hashlib.sha256(function.value.encode() + b"\0" + raw).hexdigest()
