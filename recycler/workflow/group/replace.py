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
    # Said before the step: an invocation lost mid-step fails it as interrupted, and the terminate may
    # have reached AWS, so an internal-error report must not claim nothing was terminated.
    before_terminate, ctx.acted = (
        ctx.acted,
        f"a terminate of victim {ctx.victim.instance_id} was attempted (it may have reached AWS)",
    )
    acted = ctx.port.step(
        ctx.name("terminate"), lambda: ctx.terminate_victim(decrement=False), Acted, at_most_once=True
    )
    if not acted.ok:
        ctx.acted = before_terminate
        detail = "; ".join(part for part in (acted.error, drain.undo()) if part)
        return ctx.report("failed", Reason.TERMINATE_FAILED.value, detail)
    ctx.acted = f"victim {ctx.victim.instance_id} was terminated"
    return ctx.conclude(ctx.wait_healthy(before, desired, acted.at))
