"""The stampede guard in the workflow: read what may scale groups out, and let the policy decide.

Planning: one read for every planned group (recycler/aws/scaling_schedule.py), covering the longest
window any of them needs; each group is judged on its own window: its recycle's worst case (health
waits, launch hook, drain, bake; budget.worst_case_seconds) plus policy/stampede.SCALE_OUT_MARGIN. A
read that fails skips every planned group (when in doubt, do not terminate). Preflight: the group is
read again right before its act, since a group may wait longer than the margin for its slot.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from recycler.domain import AWS_ERRORS, Decision, GroupSnapshot, Mode, Reason
from recycler.messages import aws_error_text
from recycler.models import ManualPayload
from recycler.policy.stampede import SCALE_OUT_MARGIN, ScaleOutPlans, guard_scale_out
from recycler.workflow.budget import worst_case_seconds
from recycler.workflow.port import Services


def worst_case(decision: Decision, payload: ManualPayload) -> timedelta:
    """The longest this group's recycle can take once it starts."""
    health = payload.health_timeout_seconds or max(
        decision.health_timeout_seconds, decision.launch_hook_limit_seconds
    )
    drain = decision.host.drain_timeout_seconds if decision.host else 0
    times = max(1, len(decision.victims))
    return timedelta(seconds=worst_case_seconds(decision.mode, health, drain, decision.bake_seconds, times))


def with_scale_out_guard(
    services: Services,
    snapshots: Sequence[GroupSnapshot],
    decisions: list[Decision],
    payload: ManualPayload,
    now: datetime,
) -> list[Decision]:
    """Skip (`scale-out-imminent`) each planned group that scales out within its recycle's window."""
    planned = {d.group: worst_case(d, payload) for d in decisions if d.recycle}
    if services.scale_outs is None or not planned:
        return decisions
    until = now + max(planned.values()) + SCALE_OUT_MARGIN
    try:
        plans = services.scale_outs.plans(sorted(planned), now, until)
    except AWS_ERRORS as error:
        unreadable = ScaleOutPlans(unknown=aws_error_text(error))
        plans = dict.fromkeys(planned, unreadable)
    by_name = {s.name: s for s in snapshots}
    return [
        guard_scale_out(d, by_name[d.group], plans.get(d.group, ScaleOutPlans()), now, planned[d.group])
        if d.recycle and d.group in by_name
        else d
        for d in decisions
    ]


def scale_out_before_act(
    services: Services, snapshot: GroupSnapshot, mode: Mode, seconds: int, now: datetime
) -> str | None:
    """Right before one recycle acts: the detail of a scale-out within its worst case (`seconds`) plus
    the margin, else None. AWS errors propagate (the preflight skips the group on them)."""
    if services.scale_outs is None:
        return None
    window = timedelta(seconds=seconds)
    plans = services.scale_outs.plans([snapshot.name], now, now + window + SCALE_OUT_MARGIN)
    probe = Decision(group=snapshot.name, recycle=True, reason=Reason.OLDEST_INSTANCE.value, mode=mode)
    judged = guard_scale_out(probe, snapshot, plans.get(snapshot.name, ScaleOutPlans()), now, window)
    return None if judged.recycle else judged.detail
