"""One group's recycle: preflight, claim, act (replace or surge), wait for health, conclude, report.

Runs as one branch of the run's fan-out. Every AWS read or write is its own checkpointed step, so a
replay repeats none of them; code between steps only transforms their typed results.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from recycler.domain import AWS_ERRORS, Mode, Reason
from recycler.messages import aws_error_text, failure_code, failure_message
from recycler.models import Settings
from recycler.report import GroupReport
from recycler.workflow.canary import condemns_image
from recycler.workflow.failures import RunFailures
from recycler.workflow.group import replace, surge
from recycler.workflow.group.bake import bake
from recycler.workflow.group.context import GroupContext
from recycler.workflow.group.preflight import claim, ledger_claim, preflight
from recycler.workflow.port import Port, Services
from recycler.workflow.reports import group_of_recycles
from recycler.workflow.state import Claim, Done, GroupRead, Preflight, Published, RecycleItem

logger = logging.getLogger(__name__)

Act = Callable[[GroupContext, frozenset[str], int], GroupReport]
# The two ways to act on a group, one signature: replace terminates the victim and waits; surge adds an
# instance, waits, then terminates the victim.
ACTS: dict[Mode, Act] = {Mode.REPLACE: replace.act, Mode.SURGE: surge.act}


def publish(services: Services, subject: str, body: str) -> Published:
    """Publish an alert; a delivery failure is a result to report, not an exception."""
    assert services.alerts is not None
    try:
        message_id = services.alerts.publish(subject, body)
    except AWS_ERRORS as error:
        logger.error("alert not delivered", extra={"subject": subject, "error": str(error)})
        return Published(ok=False, error=str(error))
    return Published(ok=True, message_id=message_id)


def recycle_group(
    port: Port, services: Services, settings: Settings, item: RecycleItem, failures: RunFailures
) -> GroupReport:
    """Recycle one group and report it; a failure is reported (and alerted), never raised."""
    ctx = GroupContext(port, services, settings, item.job, item.run, failures, canary=item.canary)
    claimed = False
    image = item.job.current_image_id
    if item.canary and image and services.ledger is not None:
        # Never two canaries for one image at once: several publish events (or one and the schedule)
        # may each plan one.
        held = port.step(ctx.name("canary-claim"), lambda: claim_canary(ctx, image), Claim)
        if not held.ok:
            return ctx.report("failed" if held.failed else "skipped", held.reason, held.detail)

    def recycle_once() -> GroupReport:
        nonlocal claimed
        checked = port.step(ctx.name("preflight"), lambda: preflight(ctx), Preflight)
        if not checked.ok:
            return ctx.report("failed" if checked.failed else "skipped", checked.reason, checked.detail)
        if not claimed:  # one claim per group and run covers all of its recycles
            claimed_now = port.step(ctx.name("claim"), lambda: claim(ctx), Claim)
            if not claimed_now.ok:
                return ctx.report(
                    "failed" if claimed_now.failed else "skipped", claimed_now.reason, claimed_now.detail
                )
            claimed = True
        ctx.grace_seconds = checked.grace_seconds
        report = ACTS[ctx.job.mode](ctx, frozenset(checked.instances), checked.desired)
        if ctx.canary and not ctx.step_prefix and report.outcome == "recycled":
            report = bake(ctx, report)  # the image is proven only once the replacement stayed healthy
        return report

    try:
        report = recycle_victims(ctx, recycle_once)
    except Exception as error:
        # A bug or a response shape we did not expect fails this group, never the whole run.
        if port.is_fatal(error):
            raise
        report = internal_error(ctx, error)
    if report.outcome == "failed" and services.alerts:
        context = {"checks": ctx.health.checks, "last_activity": ctx.health.last_activity}
        failure = failure_code(ctx.health.code) if ctx.health.code else None
        subject, body = failure_message(report, ctx.run.run_id, services.region, context, failure)
        published = port.step(ctx.name("alert"), lambda: publish(services, subject, body), Published)
        report.alert_published = published.ok
    failed = report.outcome == "failed"
    if services.ledger and (failed or (report.outcome == "recycled" and claimed)):
        port.step(ctx.name("ledger"), lambda: finish_ledger(ctx, report, claimed=claimed), Done)
    elif failed:
        failures.record(ctx.group)  # no ledger: nothing to checkpoint, counted in memory
    if item.canary and image and services.ledger is not None:
        ledger = services.ledger
        port.step(
            ctx.name("canary-release"),
            lambda: done_or_not(lambda: ledger.release_canary(image, ctx.run.run_id, report.outcome)),
            Done,
        )
    return report


def claim_canary(ctx: GroupContext, image: str) -> Claim:
    ledger = ctx.services.ledger
    assert ledger is not None
    return ledger_claim(
        lambda: ledger.claim_canary(
            image, ctx.group, ctx.run.run_id, ctx.services.clock(), retry_judged=ctx.run.retry_judged
        ),
        Reason.CANARY_IN_PROGRESS,
        f"the canary for {image}",
    )


def done_or_not(write: Callable[[], None]) -> Done:
    try:
        write()
    except AWS_ERRORS as error:
        logger.error("ledger update failed", extra={"error": aws_error_text(error)})
        return Done(ok=False)
    return Done(ok=True)


def recycle_victims(ctx: GroupContext, recycle_once: Callable[[], GroupReport]) -> GroupReport:
    """Each victim strictly after the previous replacement passed every check; every one re-runs
    preflight (a brake pulled mid-group stops it); the first failure ends the group."""
    done = [recycle_once()]
    for index, victim in enumerate(ctx.job.more_victims, start=2):
        if done[-1].outcome != "recycled":
            break
        ctx.next_victim(victim, index)
        done.append(recycle_once())
    return done[0] if len(ctx.job.victims) == 1 else group_of_recycles(ctx.job, done)


def internal_error(ctx: GroupContext, error: Exception) -> GroupReport:
    logger.exception("internal error", extra={"group": ctx.group, "acted": ctx.acted})
    # The durable runtime wraps what a step raised and names the original type in error_type.
    kind = str(getattr(error, "error_type", None) or type(error).__name__).rsplit(".", 1)[-1]
    detail = f"{kind}: {str(error)[:200]}"
    if ctx.acted:
        state = ctx.port.step(ctx.name("group-after-error"), lambda: group_health(ctx), GroupRead)
        detail += f"; {ctx.acted} before the error; the group now: {state.detail}"
    else:
        detail += "; nothing was terminated"
    return ctx.report("failed", Reason.INTERNAL_ERROR.value, detail)


def group_health(ctx: GroupContext) -> GroupRead:
    """One read of the group's health after an internal error, for the report and the alert."""
    try:
        snapshot = ctx.services.fleet.group(ctx.group)
    except Exception as error:  # the read that failed may be the one that raised the error
        return GroupRead(f"unreadable ({type(error).__name__}: {error})")
    if snapshot is None:
        return GroupRead("deleted")
    healthy = sum(1 for i in snapshot.instances if i.in_service_and_healthy)
    return GroupRead(f"{healthy}/{snapshot.desired_capacity} InService+Healthy")


def finish_ledger(ctx: GroupContext, report: GroupReport, *, claimed: bool) -> Done:
    ledger = ctx.services.ledger
    assert ledger is not None
    try:
        if report.outcome == "failed":
            # First: the groups starting next read it to decide whether to start at all.
            ctx.failures.record(ctx.group)
        if claimed:
            ledger.finish(
                ctx.group,
                ctx.run.run_id,
                ctx.services.clock(),
                report.outcome,
                {
                    "victim": report.victim.instance_id if report.victim else None,
                    "replacement": report.replacement.instance_id if report.replacement else None,
                    # The images and the wait, for `recycler history` (a few short strings per row).
                    "victim_image": report.victim.image_id if report.victim else None,
                    "replacement_image": report.replacement.image_id if report.replacement else None,
                    "waited_seconds": report.waited_seconds,
                    "mode": report.mode.value,
                    "reason": report.reason,
                },
            )
        image = report.replacement.image_id if report.replacement else None
        # A canary whose bake was inconclusive (its replacement scaled in) proves nothing.
        if report.outcome == "recycled" and image and report.baked is not False:
            ledger.record_proven(image, ctx.group, ctx.run.run_id, ctx.services.clock())
        elif ctx.canary and ctx.job.current_image_id and condemns_image(report):
            ledger.record_condemned(
                ctx.job.current_image_id, ctx.group, ctx.run.run_id, ctx.services.clock(), report.reason
            )
    except AWS_ERRORS as error:
        logger.error("ledger update failed", extra={"group": ctx.group, "error": aws_error_text(error)})
        return Done(ok=False)
    return Done(ok=True)
