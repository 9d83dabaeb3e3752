"""Surge mode: add an instance, verify it, then remove the victim; capacity never dips.

Every failure after the surge removes exactly the surge instance (TerminateInstanceInAutoScalingGroup
with ShouldDecrementDesiredCapacity), whatever its lifecycle state, so the group ends as it began. A
scale-in is never trusted to pick it: by default it would remove an instance on the oldest launch
template, that is a healthy original.
"""

from __future__ import annotations

import logging

from recycler.domain import AWS_ERRORS, Reason
from recycler.messages import aws_error_text, remove_surge_instance_command
from recycler.report import GroupReport
from recycler.workflow.group.context import GroupContext
from recycler.workflow.group.drain import drain_victim
from recycler.workflow.state import Acted, HealthState, RolledBack

logger = logging.getLogger(__name__)


def act(ctx: GroupContext, before: frozenset[str], desired: int) -> GroupReport:
    port, fleet, group = ctx.port, ctx.services.fleet, ctx.group

    def grow() -> Acted:
        try:
            fleet.set_desired_capacity(group, desired + 1)
        except AWS_ERRORS as error:
            return Acted(ok=False, error=aws_error_text(error))
        return Acted(ok=True, at=ctx.services.clock().isoformat())

    ctx.acted = f"a raise of desired capacity to {desired + 1} was sent"  # before: a lost step may have acted
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

    # An ECS host is drained only now: its tasks move onto a group that already has the surge capacity.
    drain = drain_victim(ctx)
    if drain.refused is not None:
        rolled_back = roll_back()
        return drain.refused.model_copy(update={"detail": f"{drain.refused.detail}; {rolled_back.detail}"})

    # The victim's terminate is at most once per attempt; a second attempt is its own checkpointed
    # step, so a replay never sends a third.
    acted = port.step(
        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=True), Acted, at_most_once=True
    )
    if not acted.ok:
        acted = port.step(
            ctx.name("terminate-retry"),
            lambda: ctx.terminate_victim(decrement=True),
            Acted,
            at_most_once=True,
        )
    if acted.ok:
        return ctx.conclude(health)
    # Keep the group as it began rather than one larger: the surge instance goes, the victim stays.
    rolled_back = roll_back()
    victim = ctx.victim.instance_id
    detail = f"victim {victim} could not be terminated twice ({acted.error}); {rolled_back.detail}"
    undone = drain.undo()
    if undone:
        detail += f"; {undone}"
    return ctx.report("failed", Reason.TERMINATE_FAILED.value, detail)


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
            now = snapshot.desired_capacity if snapshot else desired + 1
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
