"""Right before a group acts: re-read it and the run's brakes (the plan may be minutes old), and claim it
in the ledger so no other run acts on it at the same time."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from recycler import messages
from recycler.domain import AWS_ERRORS, ClaimRefused, ImageJudged, Reason
from recycler.messages import aws_error_text
from recycler.policy.guards import check_group, without_leaving
from recycler.policy.tags import opt_in_state
from recycler.workflow.brakes import brake_pulled
from recycler.workflow.budget import worst_case_seconds
from recycler.workflow.codedeploy import deployment_started_since_plan
from recycler.workflow.group.context import GroupContext
from recycler.workflow.scale_outs import scale_out_before_act
from recycler.workflow.state import Claim, Preflight

logger = logging.getLogger(__name__)


def past_deadline(ctx: GroupContext) -> Preflight | None:
    """A recycle that could end after the execution's time budget does not start. The plan fitted the
    run into it, but a wait may run longer than planned (a launch hook heartbeated past its heartbeat
    timeout, a drain that took its whole timeout): Lambda would stop the execution mid-recycle."""
    if ctx.run.deadline is None:  # in-process: no execution timeout
        return None
    left = (datetime.fromisoformat(ctx.run.deadline) - ctx.services.clock()).total_seconds()
    bake = ctx.job.bake_seconds if ctx.canary and not ctx.step_prefix else 0  # the group's own
    drain = ctx.job.host.drain_timeout_seconds
    needs = worst_case_seconds(ctx.job.mode, ctx.health_timeout, drain, bake, 1)
    if needs <= left:
        return None
    return Preflight(
        ok=False, reason=Reason.DEFERRED_BUDGET.value, detail=messages.past_deadline(left, needs)
    )


def preflight(ctx: GroupContext) -> Preflight:
    """Re-read the group and run-level guards right before acting: the plan may be minutes old."""
    services, settings = ctx.services, ctx.settings
    try:
        failed = ctx.failures.count()
    except AWS_ERRORS as error:
        return Preflight(
            ok=False,
            failed=True,
            reason=Reason.LEDGER_UNAVAILABLE.value,
            detail=f"could not read this run's failures, nothing terminated: {aws_error_text(error)}",
        )
    try:
        if failed >= settings.failures_before_stop:
            return Preflight(
                ok=False,
                reason=Reason.STOPPED_AFTER_FAILURES.value,
                detail=f"{failed} group(s) failed in this run; limit {settings.failures_before_stop}",
            )
        late = past_deadline(ctx)
        if late is not None:
            return late
        pulled = brake_pulled(services, settings)
        if pulled is not None:
            return pulled
        snapshot = services.fleet.group(ctx.group)
        if snapshot is None:
            return Preflight(
                ok=False, reason=Reason.NOT_FOUND.value, detail="group was deleted after planning"
            )
        rules = settings.policy()
        if opt_in_state(snapshot, rules) is not None:
            return Preflight(
                ok=False, reason=Reason.OPTED_OUT.value, detail="opt-in tag removed after planning"
            )
        # A sequence's earlier victims may still be leaving (a deregistration delay, ECS draining).
        view, leaving = without_leaving(snapshot, ctx.own_victims)
        problem = check_group(view, rules)
        if problem is not None:
            return Preflight(ok=False, reason=problem[0].value, detail=problem[1])
        victim_id = ctx.victim.instance_id
        victim = next((i for i in snapshot.instances if i.instance_id == victim_id), None)
        if victim is None or not victim.in_service_and_healthy:
            state = f"{victim.lifecycle_state}/{victim.health_status}" if victim else "not in the group"
            return Preflight(
                ok=False, reason=Reason.NO_CANDIDATE.value, detail=f"victim {victim_id} is {state}"
            )
        activity = services.fleet.activity_in_progress(ctx.group, leaving=leaving)
        if activity:
            return Preflight(ok=False, reason=Reason.ACTIVITY_IN_PROGRESS.value, detail=activity)
        needs = worst_case_seconds(
            ctx.job.mode, ctx.health_timeout, ctx.job.host.drain_timeout_seconds, ctx.job.bake_seconds, 1
        )
        imminent = scale_out_before_act(services, snapshot, ctx.job.mode, needs, services.clock())
        if imminent:
            return Preflight(ok=False, reason=Reason.SCALE_OUT_IMMINENT.value, detail=imminent)
        deploying = deployment_started_since_plan(services, snapshot, ctx.job.host.launch_hooks)
        if deploying:
            return Preflight(ok=False, reason=deploying[0], detail=deploying[1])
    except AWS_ERRORS as error:
        return Preflight(ok=False, reason=Reason.PREFLIGHT_ERROR.value, detail=aws_error_text(error))
    return Preflight(
        ok=True,
        instances=tuple(i.instance_id for i in snapshot.instances),
        desired=snapshot.desired_capacity,
        grace_seconds=snapshot.health_check_grace_period,
    )


def claim(ctx: GroupContext) -> Claim:
    ledger = ctx.services.ledger
    if ledger is None:
        logger.warning(
            "no ledger configured: at-most-once per interval is not enforced", extra={"group": ctx.group}
        )
        return Claim(ok=True)
    return ledger_claim(
        lambda: ledger.claim(
            ctx.group,
            ctx.run.run_id,
            ctx.victim.instance_id,
            ctx.services.clock(),
            timedelta(hours=ctx.settings.min_interval_hours),
            force=ctx.run.force,
        ),
        Reason.RECENTLY_RECYCLED,
        "the group",
    )


def ledger_claim(write: Callable[[], None], refused: Reason, what: str) -> Claim:
    """One claim in the ledger: another run's claim is a skip with `refused`; a ledger that cannot be
    reached fails loudly, and nothing is terminated."""
    try:
        write()
    except ImageJudged as error:
        return Claim(ok=False, reason=error.reason.value, detail=str(error))
    except ClaimRefused as error:
        return Claim(ok=False, reason=refused.value, detail=str(error))
    except AWS_ERRORS as error:
        return Claim(
            ok=False,
            failed=True,
            reason=Reason.LEDGER_UNAVAILABLE.value,
            detail=f"could not claim {what}, nothing terminated: {aws_error_text(error)}",
        )
    return Claim(ok=True)
