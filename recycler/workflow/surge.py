"""Surge mode for one group: add an instance, verify it, then remove the victim; capacity never dips.

Every failure after the surge removes exactly the surge instance (TerminateInstanceInAutoScalingGroup
with ShouldDecrementDesiredCapacity), whatever its lifecycle state, so the group ends as it began. A
scale-in is never trusted to pick it: by default it would remove an instance on the oldest launch
template, that is a healthy original.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from recycler.workflow.drain import drain_victim, undo_drain
from recycler.workflow.port import AWS_ERRORS, aws_error_text
from recycler.workflow.state import Acted, HealthState, RolledBack

if TYPE_CHECKING:
    from recycler.models import GroupReport
    from recycler.workflow.recycle import Recycle

logger = logging.getLogger(__name__)


def fix_command(instance_id: str) -> str:
    return (
        f"aws autoscaling terminate-instance-in-auto-scaling-group --instance-id {instance_id} "
        "--should-decrement-desired-capacity"
    )


def surge(recycle: Recycle, before: frozenset[str], desired: int) -> GroupReport:
    port, fleet, group = recycle.port, recycle.services.fleet, recycle.group

    def grow() -> Acted:
        try:
            fleet.set_desired_capacity(group, desired + 1)
        except AWS_ERRORS as error:
            return Acted(ok=False, error=aws_error_text(error))
        return Acted(ok=True, at=recycle.services.clock().isoformat())

    grown = port.step(recycle.name("surge"), grow, Acted, at_most_once=True)
    if not grown.ok:
        return recycle.report("failed", "surge-failed", grown.error)
    recycle.acted = f"desired capacity was raised to {desired + 1} for the surge"
    health = recycle.wait_healthy(before, desired + 1, grown.at, surge_from=desired)

    def roll_back() -> RolledBack:
        """At most one rollback per surge, whichever step failed after it."""
        return port.step(
            recycle.name("surge-rollback"),
            lambda: remove_surge_instance(recycle, health, desired),
            RolledBack,
            at_most_once=True,
        )

    if health.status != "healthy":
        rolled_back = roll_back()
        return recycle.conclude(health, also=rolled_back.detail)

    # An ECS host is drained only now: its tasks move onto a group that already has the surge capacity.
    refused = drain_victim(recycle)
    if refused is not None:
        rolled_back = roll_back()
        return refused.model_copy(update={"detail": f"{refused.detail}; {rolled_back.detail}"})

    # The victim's terminate is at most once per attempt; a second attempt is its own checkpointed
    # step, so a replay never sends a third.
    acted = port.step(
        recycle.name("terminate"), lambda: recycle.terminate_victim(decrement=True), Acted, at_most_once=True
    )
    if not acted.ok:
        acted = port.step(
            recycle.name("terminate-retry"),
            lambda: recycle.terminate_victim(decrement=True),
            Acted,
            at_most_once=True,
        )
    if acted.ok:
        return recycle.conclude(health)
    # Keep the group as it began rather than one larger: the surge instance goes, the victim stays.
    rolled_back = roll_back()
    victim = recycle.victim.instance_id
    detail = f"victim {victim} could not be terminated twice ({acted.error}); {rolled_back.detail}"
    undone = undo_drain(recycle)
    if undone:
        detail += f"; {undone}"
    return recycle.report("failed", "terminate-failed", detail)


def remove_surge_instance(recycle: Recycle, health: HealthState, desired: int) -> RolledBack:
    """Undo the surge: terminate exactly the instance it launched, or restore desired if none came."""
    fleet, group = recycle.services.fleet, recycle.group
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
            raw = fleet.describe_group(group)
            now = int(raw["DesiredCapacity"]) if raw else desired + 1
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
            f"{desired + 1}; remove the surge instance with: {fix_command(target)}",
        )
    candidates = ", ".join(health.new_instances)
    return RolledBack(
        ok=False,
        detail=f"could not tell which of {candidates} is the surge instance, so none was removed; group "
        f"{group} is left at desired {desired + 1}; remove it with: {fix_command('<surge instance>')}",
    )
