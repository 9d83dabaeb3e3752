"""A canary's bake: its image counts as proven only once the replacement stayed healthy for
`bake_minutes` after its health checks passed (Auto Scaling, every target group and classic ELB) and no
stop-condition alarm, nor one of the group's own alarms (tag `recycler:alarms`, its 5xx rate or latency:
the signal instance refresh's alarm rollback uses), fired meanwhile. Many bad images pass a boot and fail
minutes later (a crash loop, a leak, a failing sidecar).

A durable wait: no compute is held between polls. A failure during the bake is a canary failure: the
image is condemned for this run and every other group on it is held back. The replacement stays in the
group (the victim is gone; removing the replacement would only take one more instance away); the alert
says so.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from recycler.domain import AWS_ERRORS, Reason
from recycler.messages import aws_error_text
from recycler.models import Settings
from recycler.policy.tags import tag_key
from recycler.report import GroupReport
from recycler.workflow.budget import BAKE_POLL_SECONDS, next_pause
from recycler.workflow.checks import passes, traffic_checks
from recycler.workflow.group.context import GroupContext
from recycler.workflow.health import waited_seconds
from recycler.workflow.port import Services
from recycler.workflow.waits import Moment

DETAIL_CHARS = 240
ALARM_LIST = re.compile(r"[\s,]+")


@dataclass(frozen=True)
class BakeState:
    done: bool = False
    status: str = "baking"  # baking | passed | failed | inconclusive | deadline
    attempt: int = 0
    elapsed: float = 0.0
    bake_seconds: int = 0  # the plan's: the group's bake-minutes tag, else the setting
    detail: str = ""
    next_poll_seconds: int = 0


@dataclass
class BakeCheck:
    services: Services
    settings: Settings
    group: str
    replacement: str
    started_at: str
    poll_seconds: int
    # Seconds from the bake's start to the execution's deadline (None in-process): Lambda stops an
    # execution at its timeout wherever it is, so the bake ends there, with an outcome, rather than be cut.
    deadline_seconds: float | None = None

    def poll(self, state: BakeState) -> BakeState:
        started = datetime.fromisoformat(self.started_at)
        elapsed = waited_seconds(state, started, self.services.clock(), self.poll_seconds)
        state = replace(state, attempt=state.attempt + 1, elapsed=elapsed)
        try:
            state = self._evaluate(state)
        except AWS_ERRORS as error:
            state = replace(state, detail=f"bake read failed, will retry: {aws_error_text(error)}")
        if state.status == "baking" and elapsed >= state.bake_seconds:
            state = replace(
                state, status="passed", detail=f"healthy for the whole {state.bake_seconds} s bake"
            )
        stop = self.stop_seconds(state)
        if state.status == "baking" and elapsed >= stop:
            state = replace(
                state,
                status="deadline",
                detail=f"healthy for {elapsed:.0f} of its {state.bake_seconds} s bake when the run reached "
                "its deadline",
            )
        pause = next_pause(elapsed, self.poll_seconds, max(stop, 1), longest=self.poll_seconds)
        return replace(
            state, done=state.status != "baking", detail=state.detail[:DETAIL_CHARS], next_poll_seconds=pause
        )

    def stop_seconds(self, state: BakeState) -> float:
        """When the bake ends: its own length, or the execution's deadline if that comes first."""
        if self.deadline_seconds is None:
            return state.bake_seconds
        return min(state.bake_seconds, max(self.deadline_seconds, 0.0))

    def _evaluate(self, state: BakeState) -> BakeState:
        snapshot = self.services.fleet.group(self.group)
        if snapshot is None:
            return replace(state, status="inconclusive", detail="the group was deleted during the bake")
        instance = next((i for i in snapshot.instances if i.instance_id == self.replacement), None)
        if instance is None:
            # A scale-in may take it: not the image's fault, and not a proof either.
            return replace(
                state, status="inconclusive", detail=f"{self.replacement} left the group during the bake"
            )
        if not instance.in_service_and_healthy:
            return replace(
                state,
                status="failed",
                detail=f"{self.replacement} turned {instance.lifecycle_state}/{instance.health_status} "
                f"{state.elapsed:.0f} s into the bake",
            )
        checks = traffic_checks(self.services.fleet, snapshot, self.replacement)
        failing = {name: s for name, s in checks.items() if not passes(name, s)}
        if failing:
            name, health = next(iter(failing.items()))
            return replace(
                state,
                status="failed",
                detail=f"{self.replacement} is {health} in {name} {state.elapsed:.0f} s into the bake",
            )
        alarms = [*self.settings.stop_alarm_names, *group_alarms(snapshot.tags, self.settings)]
        firing = self.services.brakes.firing_alarms(alarms) if alarms else []
        if firing:
            return replace(
                state,
                status="failed",
                detail=f"alarm {', '.join(firing)} in ALARM {state.elapsed:.0f} s into the bake",
            )
        return replace(state, detail=f"healthy {state.elapsed:.0f} of {state.bake_seconds} s")


def group_alarms(tags: Mapping[str, str], settings: Settings) -> list[str]:
    """The alarms a group names in its `recycler:alarms` tag (comma or space separated)."""
    value = tags.get(tag_key(settings.policy(), "alarms"), "")
    return [name for name in ALARM_LIST.split(value.strip()) if name]


def bake(ctx: GroupContext, report: GroupReport) -> GroupReport:
    """Bake a canary's healthy replacement; the report says how it went (a failure fails the canary)."""
    replacement = report.replacement.instance_id if report.replacement else None
    if replacement is None:
        return report
    # The bake counts from a checkpointed moment, so a replay bakes no shorter.
    began = ctx.port.step(ctx.name("bake-start"), lambda: Moment(ctx.services.clock().isoformat()), Moment)
    deadline = None
    if ctx.run.deadline is not None:
        left = datetime.fromisoformat(ctx.run.deadline) - datetime.fromisoformat(began.at)
        deadline = left.total_seconds()
    check = BakeCheck(
        ctx.services,
        ctx.settings,
        ctx.group,
        replacement,
        began.at,
        max(ctx.run.poll_seconds, BAKE_POLL_SECONDS),
        deadline,
    )
    initial = BakeState(bake_seconds=ctx.job.bake_seconds)
    state = ctx.port.wait_until(ctx.name("bake"), check.poll, initial, check.poll_seconds)
    # Either way the victim is gone and the replacement stays in the group; only the verdict differs.
    unbaked = {
        "deadline": (
            Reason.BAKE_PAST_DEADLINE,
            f"passed its health checks and was {state.detail}: the image is neither proven nor condemned",
        ),
        "failed": (Reason.BAKE_FAILED, f"passed its health checks, then failed the bake: {state.detail}"),
    }
    if state.status in unbaked:
        reason, why = unbaked[state.status]
        return report.model_copy(
            update={
                "outcome": "failed",
                "reason": reason.value,
                "detail": f"{why}; the replacement stays in the group (the victim is gone)",
                "baked_seconds": state.elapsed,
                "baked": False,
            }
        )
    detail = (
        report.detail if state.status == "passed" else f"{report.detail}; bake inconclusive: {state.detail}"
    )
    return report.model_copy(
        update={"detail": detail, "baked_seconds": state.elapsed, "baked": state.status == "passed"}
    )
