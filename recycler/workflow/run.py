"""The run: start, plan, fan out the recycles, report, alert.

Every read or write of AWS happens inside a port step (checkpointed by the durable adapter), so the
code here only transforms checkpointed data and is safe to replay.
"""

from __future__ import annotations

import logging
import random
import uuid
from datetime import datetime

from recycler.alerts import summary_message
from recycler.models import GroupReport, ManualPayload, RunReport, Settings
from recycler.policy import Reason
from recycler.workflow.planning import pack_plan, plan, planned_report, unpack_plan
from recycler.workflow.port import Port, Services
from recycler.workflow.recycle import Recycle, publish
from recycler.workflow.state import Job, PlanRows, Published, RecycleItem, RunContext, Started

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

    def planning() -> PlanRows:
        now = datetime.fromisoformat(started.started_at)
        decisions = plan(services, settings, payload, now, random.Random(started.seed))
        return pack_plan(decisions, now)

    reports, jobs = unpack_plan(port.step("plan", planning, PlanRows))
    if dry_run:
        reports += [planned_report(job) for job in jobs]
    else:
        context = RunContext(
            run_id=started.run_id,
            force=payload.force,
            poll_seconds=payload.poll_seconds or settings.poll_seconds,
            health_timeout_override=payload.health_timeout_seconds,
        )
        reports += recycle_all(port, services, settings, context, jobs)

    reports.sort(key=lambda r: r.group)
    report = RunReport.build(started.run_id, started.started_at, dry_run, started.seed, reports)
    for group in report.groups:
        logger.info("group result", extra={"run_id": report.run_id, **group.model_dump(mode="json")})

    if services.alerts and any(
        g.outcome == "failed" or g.reason == Reason.STOPPED_AFTER_FAILURES for g in reports
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
    return report


def recycle_all(
    port: Port, services: Services, settings: Settings, context: RunContext, jobs: list[Job]
) -> list[GroupReport]:
    """Recycle in waves of max_concurrency; once failures reach the limit no further group starts."""
    results: list[GroupReport] = []
    failures = 0
    size = settings.max_concurrency
    for index in range(0, len(jobs), size):
        wave = jobs[index : index + size]
        if failures >= settings.failures_before_stop:
            for job in wave:
                report = planned_report(job)
                report.outcome = "skipped"
                report.reason = Reason.STOPPED_AFTER_FAILURES.value
                report.detail = (
                    f"{failures} group(s) failed in this run; limit {settings.failures_before_stop}"
                )
                results.append(report)
            continue
        wave_reports = port.map(
            f"wave-{index // size}",
            [RecycleItem(job=job, run=context) for job in wave],
            lambda branch, item: Recycle(branch, services, settings, item).run(),
            GroupReport,
            size,
        )
        failures += sum(1 for r in wave_reports if r.outcome == "failed")
        results += wave_reports
    return results
