"""Surge mode: add an instance, verify it, then remove the victim; capacity never dips and the group's
Availability Zones end as they began.

Why this sequence. AWS: "If you decrement the desired capacity, your Auto Scaling group can become
unbalanced between Availability Zones. Amazon EC2 Auto Scaling tries to rebalance the group, and
rebalancing might terminate instances in other zones"
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html);
"When rebalancing, Amazon EC2 Auto Scaling launches new instances before terminating the earlier ones"
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html). The surge instance
goes to "the Availability Zone with the fewest instances"
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html), which need
not be the victim's: then a terminate with decrement leaves the victim's zone one short and the surge
zone one long, and a rebalance launches and terminates instances recycler never sees (an ECS host
without a drain). Suspending AZRebalance does not help: resumed, "Amazon EC2 Auto Scaling attempts to
rebalance the group". So:

1. `surge`: desired + 1; the surge instance S launches (at most once). `health`: S is healthy.
2. `zones`: read which zones S and the victim V are in.
3. Same zone (every single-zone group): terminate V with decrement. S took V's place in V's zone: every
   zone's count is as it began, nothing to rebalance.
4. Other zones (or unknown): terminate V without decrement. "Amazon EC2 Auto Scaling launches instances
   to replace the ones that are terminated", into the zone with the fewest instances: V's zone, now one
   short. `replacement-health` waits until that replacement R is InService+Healthy, passes its load
   balancer (and ECS) checks and the group has desired (+1) healthy; an ECS host recycler drains has S
   drained (`surge-drain`), since V's tasks moved onto it; then `surge-remove` terminates S with
   decrement. Zones end as they began; InService+Healthy never drops below the original desired
   (V leaves only with S serving, S only with R serving). Even if R went to another zone tied for
   fewest, the zones end within one instance of each other: nothing to rebalance.

Every failure before V is terminated removes exactly S (TerminateInstanceInAutoScalingGroup with
decrement), whatever its lifecycle state, so the group ends as it began; a scale-in is never trusted to
pick it: by default it would remove an instance on the oldest launch template, a healthy original.
Once V is gone, a failure keeps S serving and leaves desired one up (removing a broken R instead could
unbalance the zones): the report says so and how to remove S.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from recycler.domain import AWS_ERRORS, Reason
from recycler.fix_commands import remove_surge_instance_command
from recycler.messages import aws_error_text
from recycler.report import GroupReport
from recycler.workflow.group.context import GroupContext
from recycler.workflow.group.drain import drain_and_wait, drain_victim, reactivate
from recycler.workflow.health import HealthCheck
from recycler.workflow.state import Acted, HealthState, RolledBack

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Zones:
    """Where the victim and the surge instance run ("" when unknown), checkpointed: the terminate's
    decrement is decided from it, the same way on every replay."""

    victim: str = ""
    surge: str = ""

    @property
    def shared(self) -> bool:
        return bool(self.victim) and self.victim == self.surge


def act(ctx: GroupContext, before: frozenset[str], desired: int) -> GroupReport:
    port, fleet, group = ctx.port, ctx.services.fleet, ctx.group

    def grow() -> Acted:
        try:
            fleet.set_desired_capacity(group, desired + 1)
        except AWS_ERRORS as error:
            return Acted(ok=False, error=aws_error_text(error))
        return Acted(ok=True, at=ctx.services.clock().isoformat())

    # Said before the step: a lost invocation may have raised it.
    ctx.acted = f"a raise of desired capacity to {desired + 1} was attempted (it may have reached AWS)"
    grown = port.step(ctx.name("surge"), grow, Acted, at_most_once=True)
    if not grown.ok:
        return ctx.report("failed", Reason.SURGE_FAILED.value, grown.error)
    ctx.acted = f"desired capacity was raised to {desired + 1} for the surge"
    health = ctx.wait_healthy(before, desired + 1, grown.at, surge_from=desired)

    def roll_back() -> RolledBack:
        """At most one rollback per surge, whichever step failed after it."""
        return port.step(
            ctx.name("surge-rollback"),
            lambda: remove_surge_instance(ctx, health, desired),
            RolledBack,
            at_most_once=True,
        )

    if health.status != "healthy":
        rolled_back = roll_back()
        return ctx.conclude(health, also=rolled_back.detail)

    surge_instance = health.replacement or ""
    zones = port.step(ctx.name("zones"), lambda: read_zones(ctx, surge_instance), Zones)
    # An ECS host is drained only now: its tasks move onto a group that already has the surge capacity.
    drain = drain_victim(ctx)
    if drain.refused is not None:
        rolled_back = roll_back()
        return drain.refused.model_copy(update={"detail": f"{drain.refused.detail}; {rolled_back.detail}"})

    # The victim's terminate is at most once per attempt; a second attempt is its own checkpointed
    # step, so a replay never sends a third. With decrement only when the surge instance took its place
    # in its own zone (see the module docstring), or when a scale-in already took the surge instance
    # (nothing of ours is left to remove: the group is healthy at its current desired).
    decrement = zones.shared or health.replacement_scaled_in
    acted = port.step(
        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=decrement), Acted, at_most_once=True
    )
    if not acted.ok:
        acted = port.step(
            ctx.name("terminate-retry"),
            lambda: ctx.terminate_victim(decrement=decrement),
            Acted,
            at_most_once=True,
        )
    if acted.ok:
        if decrement:
            return ctx.conclude(health)
        return finish_in_the_victims_zone(ctx, before | set(health.new_instances), health, acted.at, desired)
    # Keep the group as it began rather than one larger: the surge instance goes, the victim stays.
    rolled_back = roll_back()
    victim = ctx.victim.instance_id
    detail = f"victim {victim} could not be terminated twice ({acted.error}); {rolled_back.detail}"
    undone = drain.undo()
    if undone:
        detail += f"; {undone}"
    return ctx.report("failed", Reason.TERMINATE_FAILED.value, detail)


def read_zones(ctx: GroupContext, surge_instance: str) -> Zones:
    """The victim's and the surge instance's Availability Zones, from DescribeAutoScalingGroups."""
    try:
        groups = ctx.services.fleet.list_groups("", [ctx.group])
    except AWS_ERRORS as error:
        logger.warning("zones unknown", extra={"group": ctx.group, "error": aws_error_text(error)})
        return Zones()
    zone_of = {
        str(i.get("InstanceId")): str(i.get("AvailabilityZone") or "")
        for g in groups
        for i in g.get("Instances", [])
    }
    return Zones(victim=zone_of.get(ctx.victim.instance_id, ""), surge=zone_of.get(surge_instance, ""))


def finish_in_the_victims_zone(
    ctx: GroupContext, before: frozenset[str], surge: HealthState, terminated_at: str, desired: int
) -> GroupReport:
    """The victim is terminating without decrement: wait for Auto Scaling's replacement in its zone,
    then remove the surge instance with decrement."""
    surge_instance = surge.replacement or ""
    checker = HealthCheck(
        ctx.services,
        ctx.group,
        before,
        desired + 1,
        terminated_at,
        ctx.run.poll_seconds,
        ctx.health_timeout,
        grace_seconds=ctx.grace_seconds,
        launch_hooks=ctx.job.host.launch_hooks,
        ecs_cluster=ctx.job.host.cluster if ctx.job.host.kind == "ecs" else "",
        hook_limit=ctx.hook_limit(terminated_at),
    )
    ctx.acted = (
        f"victim {ctx.victim.instance_id} was terminated for a replacement in its zone; surge instance "
        f"{surge_instance} still serves at desired {desired + 1}"
    )
    health = ctx.port.wait_until(
        ctx.name("replacement-health"), checker.poll, HealthState(), ctx.run.poll_seconds
    )
    ctx.health = health = replace(health, elapsed=round(surge.elapsed + health.elapsed, 1))
    kept = surge_kept(ctx, surge_instance, desired)
    if health.status != "healthy":
        return ctx.conclude(health, also=f"victim {ctx.victim.instance_id} was terminated; {kept}")
    drained, why = drain_surge_instance(ctx, surge_instance)
    if not drained:
        detail = f"surge instance {surge_instance} could not be drained ({why}); {kept}"
        return ctx.report("failed", Reason.DRAIN_FAILED.value, detail, waited_seconds=health.elapsed)
    removed = ctx.port.step(
        ctx.name("surge-remove"),
        lambda: remove_surge_instance(ctx, surge, desired),
        RolledBack,
        at_most_once=True,
    )
    if not removed.ok:
        detail = f"victim {ctx.victim.instance_id} was replaced by {health.replacement}; {removed.detail}"
        return ctx.report("failed", Reason.TERMINATE_FAILED.value, detail, waited_seconds=health.elapsed)
    return ctx.conclude(health)


def surge_kept(ctx: GroupContext, surge_instance: str, desired: int) -> str:
    return (
        f"surge instance {surge_instance} keeps serving and desired stays at {desired + 1} (removing "
        f"another instance could unbalance the group's zones); once the group is healthy, remove it "
        f"with: {remove_surge_instance_command(surge_instance or '<surge instance>')}"
    )


def drain_surge_instance(ctx: GroupContext, instance_id: str) -> tuple[bool, str]:
    """An ECS host recycler drains: the victim's tasks moved onto the surge instance, so it is drained
    (at most once) before it goes, and set back to ACTIVE if the drain does not finish."""
    host, port = ctx.job.host, ctx.port
    if host.kind != "ecs" or not host.recycler_drains:
        return True, ""
    drained, state = drain_and_wait(ctx, instance_id, "surge-drain")
    if not drained.ok:
        return False, drained.detail
    if state.status in ("drained", "gone"):
        return True, ""
    undone = port.step(
        ctx.name("surge-undrain"),
        lambda: reactivate(ctx.services, host.cluster, drained.container_instance),
        RolledBack,
        at_most_once=True,
    )
    return False, f"{state.detail}; {undone.detail}"


def remove_surge_instance(ctx: GroupContext, health: HealthState, desired: int) -> RolledBack:
    """Undo the surge: terminate exactly the instance it launched, or restore desired if none came."""
    fleet, group = ctx.services.fleet, ctx.group
    surge_instance = health.replacement or (
        health.new_instances[0] if len(health.new_instances) == 1 else None
    )
    try:
        if surge_instance is not None:
            fleet.terminate(surge_instance, decrement=True)
            return RolledBack(
                ok=True, detail=f"removed surge instance {surge_instance}; desired back to {desired}"
            )
        if not health.new_instances:
            snapshot = fleet.group(group)
            if snapshot is None:
                # Deleted while we waited, and its instances with it: a group that has instances is
                # deleted only with ForceDelete, which "will also terminate the EC2 instances"
                # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DeleteAutoScalingGroup.html).
                return RolledBack(ok=True, detail=f"group {group} no longer exists: nothing to roll back")
            now = snapshot.desired_capacity
            back_to = max(desired, now - 1)
            fleet.set_desired_capacity(group, back_to)
            return RolledBack(
                ok=True, detail=f"no surge instance ever appeared; desired set back from {now} to {back_to}"
            )
    except AWS_ERRORS as error:
        logger.error("surge rollback failed", extra={"group": group, "error": aws_error_text(error)})
        target = surge_instance or "<surge instance>"
        return RolledBack(
            ok=False,
            detail=f"ROLLBACK FAILED ({aws_error_text(error)}): group {group} is left at desired "
            f"{desired + 1}; remove the surge instance with: {remove_surge_instance_command(target)}",
        )
    candidates = ", ".join(health.new_instances)
    return RolledBack(
        ok=False,
        detail=f"could not tell which of {candidates} is the surge instance, so none was removed; group "
        f"{group} is left at desired {desired + 1}; remove it with: "
        f"{remove_surge_instance_command('<surge instance>')}",
    )
