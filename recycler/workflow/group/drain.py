"""Draining an ECS container instance before recycler terminates its EC2 instance.

Only for ECS hosts whose capacity provider does not drain them itself (managed draining off, or a group
tagged `recycler:ecs-cluster`). Set DRAINING, ECS stops the instance's service tasks and starts them
elsewhere; a durable wait (no compute held) polls until no task runs on it or the drain timeout passes.
A drain that times out fails the group loudly and puts the container instance back to ACTIVE; nothing
is terminated. Each write is its own at-most-once step, so a replay during the wait never drains twice.

`drain_victim` returns a `Drain`: either the refusal (nothing was terminated) or the drained container
instance together with its own undo, which whoever fails after it calls (at most once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from recycler.domain import AWS_ERRORS, Reason
from recycler.fix_commands import reactivate_command
from recycler.messages import aws_error_text
from recycler.report import GroupReport
from recycler.workflow.brakes import brakes
from recycler.workflow.budget import next_pause
from recycler.workflow.group.context import GroupContext
from recycler.workflow.health import waited_seconds
from recycler.workflow.port import Services
from recycler.workflow.state import Drained, DrainState, Preflight, RolledBack

DETAIL_CHARS = 240
# A container instance leaving the cluster runs no tasks: the drain is over.
DEREGISTERED = frozenset({"DEREGISTERING", "INACTIVE"})
logger = logging.getLogger(__name__)


@dataclass
class Drain:
    """What the drain did: `refused` is the failed (or braked) report when the victim must not be
    terminated; otherwise `container_instance` is set to DRAINING (empty: nothing for recycler to drain)
    and `undo()` puts it back to ACTIVE, once."""

    ctx: GroupContext | None = None
    container_instance: str = ""
    refused: GroupReport | None = None

    def undo(self) -> str:
        """Put the drained container instance back to ACTIVE (once); what was done, in words."""
        if not self.container_instance or self.ctx is None:
            return ""
        ctx, cluster, container_instance = self.ctx, self.ctx.job.host.cluster, self.container_instance
        undone = ctx.port.step(
            ctx.name("undrain"),
            lambda: reactivate(ctx.services, cluster, container_instance),
            RolledBack,
            at_most_once=True,
        )
        self.container_instance = ""
        return undone.detail


NOTHING_TO_DRAIN = Drain()


def drain_victim(ctx: GroupContext) -> Drain:
    """Drain the victim when recycler is the one to drain it; see Drain for what comes back."""
    host = ctx.job.host
    if host.kind != "ecs" or not host.recycler_drains:
        return NOTHING_TO_DRAIN
    victim = ctx.victim.instance_id

    def started(drained: Drained) -> None:
        ctx.acted = f"container instance {drained.container_instance} was set to DRAINING"

    drained, state = drain_and_wait(ctx, victim, "drain", started)
    if not drained.ok:
        return Drain(refused=ctx.report("failed", drained.reason, drained.detail))
    drain = Drain(ctx, drained.container_instance)
    if state.status in ("drained", "gone"):
        return brakes_after_drain(ctx, drain)
    undone = drain.undo()
    ctx.acted = ""  # put back as it was: nothing this recycle did remains
    reason = Reason.DRAIN_TIMEOUT if state.status == "timed-out" else Reason.DRAIN_INTERRUPTED
    drain.refused = ctx.report(
        "failed",
        reason.value,
        f"{state.detail}; {undone}; {victim} was not terminated",
        waited_seconds=state.elapsed,
    )
    return drain


def drain_and_wait(
    ctx: GroupContext, instance_id: str, step: str, started: Callable[[Drained], None] = lambda _: None
) -> tuple[Drained, DrainState]:
    """Set the instance's container instance DRAINING (an at-most-once step named `step`), then wait
    durably (`step`-wait) until no task runs on it or the drain times out."""
    host, port = ctx.job.host, ctx.port
    drained = port.step(
        ctx.name(step),
        lambda: start_drain(ctx.services, host.cluster, instance_id),
        Drained,
        at_most_once=True,
    )
    if not drained.ok:
        return drained, DrainState()
    started(drained)
    check = DrainCheck(
        ctx.services,
        host.cluster,
        drained.container_instance,
        drained.at,
        ctx.run.poll_seconds,
        host.drain_timeout_seconds,
    )
    return drained, port.wait_until(ctx.name(f"{step}-wait"), check.poll, DrainState(), ctx.run.poll_seconds)


def brakes_after_drain(ctx: GroupContext, drain: Drain) -> Drain:
    """A drain can take many minutes: the kill switch, a stop alarm or a blackout that came on meanwhile
    still stops the terminate. The container instance goes back to ACTIVE."""
    pulled = ctx.port.step(ctx.name("brakes"), lambda: brakes(ctx.services, ctx.settings), Preflight)
    if pulled.ok:
        return drain
    undone = drain.undo()
    ctx.acted = ""
    drain.refused = ctx.report(
        "failed" if pulled.failed else "skipped",
        pulled.reason,
        f"{pulled.detail} (while draining); {undone}; {ctx.victim.instance_id} was not terminated",
    )
    return drain


def start_drain(services: Services, cluster: str, ec2_instance_id: str) -> Drained:
    try:
        found = services.ecs.container_instance(cluster, ec2_instance_id)
        if found is None:
            return Drained(
                ok=False,
                reason=Reason.CONTAINER_INSTANCE_NOT_FOUND.value,
                detail=f"{ec2_instance_id} is not a container instance of ECS cluster {cluster}, so its tasks "
                "cannot be drained; nothing was terminated. Check that its ECS agent runs and registered "
                "it, or correct the group's recycler:ecs-cluster tag",
            )
        services.ecs.set_state(cluster, [found.arn], "DRAINING")
        logger.info(
            "draining",
            extra={"cluster": cluster, "instance_id": ec2_instance_id, "container_instance": found.arn},
        )
    except AWS_ERRORS as error:
        return Drained(
            ok=False,
            reason=Reason.DRAIN_FAILED.value,
            detail=f"could not set {ec2_instance_id} to DRAINING in ECS cluster {cluster} "
            f"({aws_error_text(error)}); nothing was terminated",
        )
    return Drained(ok=True, container_instance=found.arn, at=services.clock().isoformat())


def reactivate(services: Services, cluster: str, container_instance: str) -> RolledBack:
    try:
        services.ecs.set_state(cluster, [container_instance], "ACTIVE")
    except AWS_ERRORS as error:
        return RolledBack(
            ok=False,
            detail=f"COULD NOT SET IT BACK TO ACTIVE ({aws_error_text(error)}): it runs no new tasks until you "
            f"run: {reactivate_command(cluster, container_instance)}",
        )
    return RolledBack(ok=True, detail="the container instance was set back to ACTIVE")


@dataclass
class DrainCheck:
    """One poll of 'does the container instance still run tasks?'."""

    services: Services
    cluster: str
    container_instance: str
    started_at: str
    poll_seconds: int
    timeout: int

    def poll(self, state: DrainState) -> DrainState:
        elapsed = waited_seconds(
            state, datetime.fromisoformat(self.started_at), self.services.clock(), self.poll_seconds
        )
        state = replace(state, attempt=state.attempt + 1, elapsed=elapsed)
        try:
            found = self.services.ecs.describe(self.cluster, self.container_instance)
        except AWS_ERRORS as error:
            # Throttled past botocore's retries, say: the drain goes on without us; read again next poll.
            state = replace(state, detail=f"ECS read failed, will retry: {aws_error_text(error)}")
        else:
            if found is None or found.status in DEREGISTERED:
                return replace(state, done=True, status="gone", running_tasks=0, detail="deregistered")
            tasks = found.running_tasks + found.pending_tasks
            if found.status != "DRAINING":
                return replace(
                    state,
                    done=True,
                    status="interrupted",
                    running_tasks=tasks,
                    detail=f"container instance was set to {found.status} by someone else while draining",
                )
            if tasks == 0:
                return replace(state, done=True, status="drained", running_tasks=0, detail="no tasks left")
            state = replace(state, running_tasks=tasks, detail=f"{tasks} task(s) still running")
        if state.elapsed >= self.timeout:
            return replace(
                state,
                done=True,
                status="timed-out",
                detail=f"drain timed out after {self.timeout} s: {state.detail}"[:DETAIL_CHARS],
            )
        pause = next_pause(state.elapsed, self.poll_seconds, self.timeout)
        return replace(state, detail=state.detail[:DETAIL_CHARS], next_poll_seconds=pause)
