"""The run: start, plan, fan out the recycles, report, alert.

Every read or write of AWS happens inside a port step (checkpointed by the durable adapter), so the
code here only transforms checkpointed data and is safe to replay.
"""

from __future__ import annotations

import itertools
import logging
import random
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from recycler import messages
from recycler.domain import ATTENTION_SKIPS, Reason
from recycler.messages import summary_message
from recycler.models import ManualPayload, Settings
from recycler.policy.revert import RevertOutcome
from recycler.policy.windows import next_window_open
from recycler.report import GroupReport, RevertReport, RunReport
from recycler.workflow.budget import RUN_ROOM_SECONDS, execution_budget_seconds
from recycler.workflow.canary import (
    canary_rng,
    choose_canaries,
    condemns_image,
    describe_plan,
    proves_image_broken,
    waits_for_canary,
)
from recycler.workflow.events import EventsSent, emit
from recycler.workflow.failures import RunFailures
from recycler.workflow.fanout import Slice, SliceReports, run_slice, slices
from recycler.workflow.group.recycle import publish, recycle_group
from recycler.workflow.ordering import ExpectedWaits, longest_first, read_expected
from recycler.workflow.org_verdicts import revert_org_condemned, with_org_verdicts
from recycler.workflow.packing import pack_plan, skip_row, unpack_plan
from recycler.workflow.planning import condemned_images, plan, proven_images
from recycler.workflow.port import Port, Services
from recycler.workflow.reports import (
    canary_failed,
    canary_held,
    planned_report,
    scheduled_later,
    skip_report,
    stopped_after_failures,
    with_image_facts,
)
from recycler.workflow.revert import revert_launch_paths
from recycler.workflow.state import Job, PlanRows, Published, RecycleItem, RunContext, Started
from recycler.workflow.waits import wait_for

logger = logging.getLogger(__name__)


def run(port: Port, services: Services, settings: Settings, payload: ManualPayload) -> RunReport:
    dry_run = settings.dry_run if payload.dry_run is None else payload.dry_run

    def start() -> Started:
        seed = payload.seed if payload.seed is not None else random.SystemRandom().randrange(2**32)
        started = Started(run_id=str(uuid.uuid4()), started_at=services.clock().isoformat(), seed=seed)
        # Logged inside the step so a durable replay does not log the start again.
        logger.info(
            "run started",
            extra={**vars(started), "dry_run": dry_run, "payload": payload.model_dump()},
        )
        return started

    started = port.step("start", start, Started)
    plan_at = wait_before_planning(port, services, settings, payload, started)

    budget_seconds = execution_budget_seconds(settings.execution_timeout_hours)
    began = datetime.fromisoformat(started.started_at)
    limits = port.limits()
    if limits is not None:  # what a publish event's waits already took is not the recycles' any more
        limits = replace(limits, seconds=budget_seconds - (plan_at - began).total_seconds())

    def planning() -> PlanRows:
        now = plan_at
        decisions = plan(services, settings, payload, now, random.Random(started.seed), limits)
        proven = proven_images(services, decisions, payload)
        condemned = condemned_images(services, decisions, payload, proven)
        org = with_org_verdicts(services, decisions, payload, now, proven, condemned)
        decisions = org.decisions
        packed = pack_plan(decisions, now, org.proven, org.condemned)
        packed = replace(packed, org_verdicts_unreadable=org.unreadable, org_broken_images=org.broken)
        if packed.skipped_counts:
            # Too many skips for the checkpoint: each is logged here, once, like every group result.
            for skip in (d for d in decisions if not d.recycle):
                group = skip_report(skip_row(skip)).model_dump(mode="json")
                logger.info("group result", extra={"run_id": started.run_id, **group})
        return packed

    planned = port.step("plan", planning, PlanRows)
    reports, jobs = unpack_plan(planned)
    reverted: list[RevertReport] = []
    proven = set(planned.proven_images)
    if dry_run:
        canaries = choose_canaries(jobs, proven, canary_rng(started.seed, 0))
        waiting = Counter(j.current_image_id for j in jobs if waits_for_canary(j, canaries))
        for job in jobs:
            planned_group = planned_report(job)
            planned_group.detail = describe_plan(job, canaries, waiting[job.current_image_id])
            planned_group.canary = canaries.get(job.current_image_id or "") is job
            if payload.health_timeout_seconds:
                planned_group.health_timeout_seconds = payload.health_timeout_seconds
            reports.append(planned_group)
    else:
        # Images another member proved broken: this member's own launch paths go back first.
        reverted += revert_org_condemned(port, services, settings, planned.org_broken_images, reports, proven)
        context = RunContext(
            run_id=started.run_id,
            force=payload.force,
            retry_judged=payload.canary,
            poll_seconds=payload.poll_seconds or settings.poll_seconds,
            health_timeout_override=payload.health_timeout_seconds,
            deadline=(began + timedelta(seconds=budget_seconds)).isoformat() if limits is not None else None,
        )
        expected = ExpectedWaits()
        if services.ledger and len(jobs) > settings.max_concurrency:  # order matters only with a queue
            expected = port.step("expected-waits", lambda: read_expected(services, jobs), ExpectedWaits)
        reports += recycle_all(
            port,
            services,
            settings,
            context,
            jobs,
            proven,
            started.seed,
            canary_only=payload.canary_only,
            expected=expected.seconds,
            reverted=reverted,
        )

    reports = [with_image_facts(r, planned) for r in reports]
    reports.sort(key=lambda r: r.group)
    report = RunReport.build(
        started.run_id,
        started.started_at,
        dry_run,
        started.seed,
        reports,
        trigger=payload.trigger,
        omitted=planned.skipped_counts,
        omitted_oldest=(planned.skipped_oldest_instance_age_days, planned.skipped_oldest_image_age_days),
        fleet_percentiles=planned.fleet_instance_age_percentiles,
        reverted=reverted,
    )
    report.organization_verdicts_unreadable = planned.org_verdicts_unreadable or None
    for group in report.groups:
        logger.info("group result", extra={"run_id": report.run_id, **group.model_dump(mode="json")})

    if services.alerts and (
        any(
            g.outcome == "failed" or g.reason in (Reason.STOPPED_AFTER_FAILURES, *ATTENTION_SKIPS)
            for g in reports
        )
        or report.freshness_missed
    ):
        subject, body = summary_message(report)
        outcome = port.step("alert-summary", lambda: publish(services, subject, body), Published)
        if not outcome.ok:
            report.alerts_failed.append(f"run summary: {outcome.error}")
    report.alerts_failed.extend(
        f"{g.group}: alert not delivered"
        for g in reports
        if g.outcome == "failed" and not g.alert_published and services.alerts
    )
    if services.events:
        # Last, so Run Completed carries the alerts' fate; one step: a replay never emits again.
        sent = port.step("events", lambda: emit(services, report), EventsSent)
        report.events_failed.extend(sent.problems)
    return report


def recycle_all(
    port: Port,
    services: Services,
    settings: Settings,
    context: RunContext,
    jobs: list[Job],
    proven: set[str],
    seed: int,
    *,
    canary_only: bool = False,
    expected: dict[str, float] | None = None,
    reverted: list[RevertReport] | None = None,
) -> list[GroupReport]:
    """Recycle every job: in each phase, one canary per unproven image plus every job whose image is
    proven or unknown; jobs waiting on a canary go in a later phase, or are skipped when it failed (or
    another run's canary holds the image). With canary_only (a publish event), only the first phase's
    canaries run; every other job waits for its scheduled run.
    Phases depend only on checkpointed results, so a replay rebuilds the same ones. With
    revert_on_canary_failure, an image a canary condemns has its launch paths put back right after its
    phase, before any later phase (appended to `reverted`)."""
    results: list[GroupReport] = []
    failed_canaries: dict[str, GroupReport] = {}
    held: dict[str, GroupReport] = {}  # images another run's canary is trying right now
    failures = RunFailures(context.run_id, services.ledger, services.clock)
    failed_so_far = 0
    pending = list(jobs)
    for phase in itertools.count():
        if not pending:
            break
        for job in [j for j in pending if j.current_image_id in failed_canaries]:
            results.append(canary_failed(planned_report(job), failed_canaries[job.current_image_id or ""]))
        for job in [j for j in pending if j.current_image_id in held]:
            results.append(canary_held(planned_report(job), held[job.current_image_id or ""]))
        pending = [j for j in pending if j.current_image_id not in failed_canaries | held]
        if canary_only and phase > 0:
            results += [scheduled_later(planned_report(job)) for job in pending]
            break
        canaries = choose_canaries(pending, proven, canary_rng(seed, phase))
        batch = [RecycleItem(job=j, run=context, canary=True) for j in canaries.values()]
        if not canary_only:
            batch += [
                RecycleItem(job=j, run=context)
                for j in pending
                if j.current_image_id is None or j.current_image_id in proven
            ]
        batch = longest_first(batch, expected or {})
        started = {item.job.group for item in batch}
        pending = [j for j in pending if j.group not in started]
        done = run_window(port, services, settings, batch, failures, failed_so_far, f"phase-{phase}")
        failed_so_far += sum(1 for r in done if r.outcome == "failed")
        again = {r.group for r in done if r.canary and r.reason == Reason.PROVEN_SINCE_PLANNED}
        for report in done:
            image = report.current_image_id
            if report.canary and image and report.reason == Reason.CANARY_IN_PROGRESS:
                held[image] = report
            elif report.canary and image and report.reason == Reason.PROVEN_SINCE_PLANNED:
                proven.add(image)  # by another run's canary: this group recycles in the next phase
            elif report.canary and image and report.outcome == "recycled" and report.baked is not False:
                proven.add(image)
            elif report.canary and image and report.reason == Reason.CANARY_FAILED:
                failed_canaries[image] = report  # by another run's canary: any revert is that run's
            elif report.canary and image and condemns_image(report):
                failed_canaries[image] = report
                launching = [j.group for j in jobs if j.current_image_id == image]
                if reverted is None or not settings.revert_on_canary_failure:
                    continue
                if proves_image_broken(report):
                    reverted += revert_launch_paths(port, services, settings, image, launching, proven)
                else:
                    reverted.append(not_a_verdict(image, launching, report))
        pending += [j for j in jobs if j.group in again]
        results += [r for r in done if r.group not in again]
    return results


def run_window(
    port: Port,
    services: Services,
    settings: Settings,
    items: list[RecycleItem],
    failures: RunFailures,
    failed_so_far: int,
    name: str,
) -> list[GroupReport]:
    """Recycle with a sliding window: up to max_concurrency groups at a time, the next one starting as
    soon as any running one finishes. Each group's preflight reads the run's failures and does not start
    once they reach failures_before_stop (groups already running finish).

    Not the SDK's CompletionConfig(tolerated_failure_count): when tolerance is exceeded its map stops
    and abandons branches still running (their next checkpoint is rejected), which would leave a group
    mid-recycle with nobody watching its replacement."""
    limit = settings.failures_before_stop
    if failed_so_far >= limit:  # known from checkpointed results: no map at all
        return [stopped_after_failures(item.job, failed_so_far, limit) for item in items]
    pieces = slices(items, port.limits(), settings, name)
    if pieces:  # more than one execution holds: one child execution per slice, all at once (fanout.py)

        def child(branch: Port, piece: Slice) -> SliceReports:
            return branch.invoke(
                piece.name, lambda p, s: run_slice(p, services, settings, s), piece, SliceReports
            )

        done = port.map(f"{name}-slices", pieces, child, SliceReports, len(pieces))
        return [report for piece in done for report in piece.reports]
    return port.map(
        name, items, recycle_branch(services, settings, failures), GroupReport, settings.max_concurrency
    )


def recycle_branch(
    services: Services, settings: Settings, failures: RunFailures
) -> Callable[[Port, RecycleItem], GroupReport]:
    """What one branch of the fan-out runs: one group's whole recycle, on the branch's port."""
    return lambda branch, item: recycle_group(branch, services, settings, item, failures)


def window_wait_limit(settings: Settings) -> timedelta:
    """How long a publish event may wait for a maintenance window: one durable execution runs at most
    execution_timeout_hours (12 by default), and once the window opens the run still needs time for its
    canaries (budget.RUN_ROOM_SECONDS of the execution's time budget: 7.6 h of waiting, debounce
    included, at 12 h; none up to 2.5 h). A window further away: the run acts on nothing (outside-maintenance-window, the detail
    says when the next opens) and the schedule takes it."""
    budget = execution_budget_seconds(settings.execution_timeout_hours)
    return timedelta(seconds=max(0.0, budget - RUN_ROOM_SECONDS))


def wait_before_planning(
    port: Port, services: Services, settings: Settings, payload: ManualPayload, started: Started
) -> datetime:
    """When the plan is made: at the start, or for a publish event after its debounce (so several events
    from one pipeline make one canary run per image) and, outside the maintenance windows, after the next
    one opens. Both waits are durable and count from the checkpointed start, so a replay waits the same."""
    at = began = datetime.fromisoformat(started.started_at)
    if payload.source != "publish":
        return at
    debounce = settings.publish_debounce_seconds
    if debounce:
        at += timedelta(seconds=wait_for(port, "debounce", at, debounce, services.clock).elapsed)
    windows = settings.maintenance()
    opens = next_window_open(at, windows, settings.schedule_time_zone)
    if opens > at and opens - began <= window_wait_limit(settings):  # the debounce counts too
        logger.info("waiting for the maintenance window", extra={"opens": opens.isoformat()})
        at += timedelta(
            seconds=wait_for(port, "window", at, (opens - at).total_seconds(), services.clock).elapsed
        )
    return at


def not_a_verdict(image: str, groups: list[str], canary: GroupReport) -> RevertReport:
    """The revert's row for a canary failure that holds the image back without proving it broken."""
    return RevertReport(
        image=image,
        path="every launch path of the image",
        groups=groups,
        outcome=RevertOutcome.NO_IMAGE_VERDICT,
        detail=messages.not_a_verdict(canary.group, canary.reason),
    )
