"""Draining an ECS container instance before recycler terminates its EC2 instance.

Only for ECS hosts whose capacity provider does not drain them itself (managed draining off, or a group
tagged `recycler:ecs-cluster`). Set DRAINING, ECS stops the instance's service tasks and starts them
elsewhere; a durable wait (no compute held) polls until no task runs on it or the drain timeout passes.
A drain that times out fails the group loudly and puts the container instance back to ACTIVE; nothing
is terminated. Each write is its own at-most-once step, so a replay during the wait never drains twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

from recycler.workflow.health import next_pause, waited_seconds
from recycler.workflow.port import AWS_ERRORS, Services, aws_error_text
from recycler.workflow.state import Drained, DrainState, Preflight, RolledBack

if TYPE_CHECKING:
    from recycler.models import GroupReport
    from recycler.workflow.recycle import Recycle

DETAIL_CHARS = 240
# A container instance leaving the cluster runs no tasks: the drain is over.
DEREGISTERED = frozenset({"DEREGISTERING", "INACTIVE"})
logger = logging.getLogger(__name__)


def reactivate_command(cluster: str, container_instance: str) -> str:
    return (
        f"aws ecs update-container-instances-state --cluster {cluster} "
        f"--container-instances {container_instance} --status ACTIVE"
    )


def drain_victim(recycle: Recycle) -> GroupReport | None:
    """Drain the victim when recycler is the one to drain it. None: terminate may follow (drained, or
    nothing for recycler to drain); else the failed report, with nothing terminated."""
    host = recycle.job.host
    if host.kind != "ecs" or not host.recycler_drains:
        return None
    port, victim = recycle.port, recycle.victim.instance_id
    drained = port.step(
        recycle.name("drain"),
        lambda: start_drain(recycle.services, host.cluster, victim),
        Drained,
        at_most_once=True,
    )
    if not drained.ok:
        return recycle.report("failed", drained.reason, drained.detail)
    recycle.acted = f"container instance {drained.container_instance} was set to DRAINING"
    recycle.drained = drained.container_instance
    check = DrainCheck(
        recycle.services,
        host.cluster,
        drained.container_instance,
        drained.at,
        recycle.run_context.poll_seconds,
        host.drain_timeout_seconds,
    )
    state = port.wait_until(
        recycle.name("drain-wait"), check.poll, DrainState(), recycle.run_context.poll_seconds
    )
    if state.status in ("drained", "gone"):
        return brakes_after_drain(recycle)
    undone = undo_drain(recycle)
    recycle.acted = ""  # put back as it was: nothing this recycle did remains
    reason = "drain-timeout" if state.status == "timed-out" else "drain-interrupted"
    return recycle.report(
        "failed",
        reason,
        f"{state.detail}; {undone}; {victim} was not terminated",
        waited_seconds=state.elapsed,
    )


def brakes_after_drain(recycle: Recycle) -> GroupReport | None:
    """A drain can take many minutes: the kill switch, a stop alarm or a blackout that came on meanwhile
    still stops the terminate. The container instance goes back to ACTIVE."""
    brakes = recycle.port.step(recycle.name("brakes"), recycle.brakes, Preflight)
    if brakes.ok:
        return None
    undone = undo_drain(recycle)
    recycle.acted = ""
    victim = recycle.victim.instance_id
    return recycle.report(
        "failed" if brakes.failed else "skipped",
        brakes.reason,
        f"{brakes.detail} (while draining); {undone}; {victim} was not terminated",
    )


def undo_drain(recycle: Recycle) -> str:
    """Put the drained container instance back to ACTIVE (once); what was done, in words."""
    if not recycle.drained:
        return ""
    cluster, container_instance = recycle.job.host.cluster, recycle.drained
    undone = recycle.port.step(
        recycle.name("undrain"),
        lambda: reactivate(recycle.services, cluster, container_instance),
        RolledBack,
        at_most_once=True,
    )
    recycle.drained = ""
    return undone.detail


def start_drain(services: Services, cluster: str, ec2_instance_id: str) -> Drained:
    try:
        found = services.ecs.container_instance(cluster, ec2_instance_id)
        if found is None:
            return Drained(
                ok=False,
                reason="container-instance-not-found",
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
            reason="drain-failed",
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
