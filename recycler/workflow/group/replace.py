"""Replace mode: terminate the victim without decrementing desired capacity, so the group launches its
replacement, then wait for the group to be healthy again. An ECS host is drained first."""

from __future__ import annotations

from recycler.domain import Reason
from recycler.report import GroupReport
from recycler.workflow.group.context import GroupContext
from recycler.workflow.group.drain import drain_victim
from recycler.workflow.state import Acted


def act(ctx: GroupContext, before: frozenset[str], desired: int) -> GroupReport:
    drain = drain_victim(ctx)  # ECS hosts: no task-bearing instance is terminated undrained
    if drain.refused is not None:
        return drain.refused
    acted = ctx.port.step(
        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=False), Acted, at_most_once=True
    )
    if not acted.ok:
        detail = "; ".join(part for part in (acted.error, drain.undo()) if part)
        return ctx.report("failed", Reason.TERMINATE_FAILED.value, detail)
    ctx.acted = f"victim {ctx.victim.instance_id} was terminated"
    return ctx.conclude(ctx.wait_healthy(before, desired, acted.at))
