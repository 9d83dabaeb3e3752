"""The health check one recycle waits on: is the group healthy again, with its replacement in service?

Groups scale while recycler waits, so each poll judges the group as it is now, not as it was at
preflight: healthy = the replacement is InService+Healthy and passes every load balancer check, and
the group has at least its current desired capacity InService+Healthy (scale-out instances still
launching are not ours to wait for). Only the replacement's own failure fails the recycle.

The replacement is the instance our action launched: the scaling activity that names it says why it
started (design.md §6). A poll runs inside a durable wait, so it returns the next HealthState and never
sleeps itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from recycler import messages
from recycler.domain import AWS_ERRORS, Activity, InstanceSnapshot, Reason
from recycler.messages import aws_error_text
from recycler.policy.launches import (
    LaunchFailure,
    failure_text,
    launch_failure,
    launched_by_us,
)
from recycler.workflow.budget import next_pause
from recycler.workflow.checks import passes, traffic_checks
from recycler.workflow.codedeploy import codedeploy_verdict
from recycler.workflow.port import Services, Waiting
from recycler.workflow.state import HealthState

FAILED_ACTIVITY = frozenset({"Failed", "Cancelled"})
# Bounds that keep one checkpointed poll under budget.POLL_STATE_BYTES (a test holds them to it).
DETAIL_CHARS, SCALING_CHARS, MAX_CHECKS, MAX_NEW_INSTANCES = 240, 160, 4, 6
# Activities start a moment before the API call that caused them returns.
CLOCK_SLACK = timedelta(seconds=5)
PLAIN_STATES = {
    "Pending:Wait": "waiting in a launch lifecycle hook (Pending:Wait)",
    "Pending:Proceed": "finishing its launch lifecycle hook (Pending:Proceed)",
    "Pending": "launching (Pending)",
    "Terminating:Wait": "being drained by a termination lifecycle hook (Terminating:Wait)",
}


def trimmed(state: HealthState) -> HealthState:
    """Every poll is checkpointed whole: keep the state within budget.POLL_STATE_BYTES."""
    checks = dict(list(state.checks.items())[:MAX_CHECKS])
    return replace(
        state,
        detail=state.detail[:DETAIL_CHARS],
        scaling=state.scaling[:SCALING_CHARS],
        last_activity=state.last_activity[:DETAIL_CHARS] if state.last_activity else None,
        capacity=state.capacity[:DETAIL_CHARS],
        checks={name[:80]: value[:40] for name, value in checks.items()},
        new_instances=state.new_instances[:MAX_NEW_INSTANCES],
    )


def waited_seconds(previous: Waiting, started: datetime, now: datetime, poll_seconds: int) -> float:
    """Seconds since `started` as of this poll of a durable wait (health, drain, bake, a moment).
    Simulated time (skipped waits) advances by the pauses asked for; real time can only be longer."""
    paused = previous.elapsed + (previous.next_poll_seconds or poll_seconds) if previous.attempt else 0.0
    return round(max((now - started).total_seconds(), paused), 1)


def plain(instance: InstanceSnapshot) -> str:
    state = PLAIN_STATES.get(instance.lifecycle_state, instance.lifecycle_state)
    return f"{instance.instance_id} is {state}"


@dataclass
class HealthCheck:
    """One poll of 'is the group healthy again, with our replacement in service?'."""

    services: Services
    group: str
    before: frozenset[str]
    desired_at_act: int
    acted_at: str
    poll_seconds: int
    timeout: int
    surge_from: int | None = None  # desired before our surge; None in replace mode
    grace_seconds: int = 0
    launch_hooks: tuple[str, ...] = ()  # the group's launch lifecycle hooks, longest heartbeat first
    ecs_cluster: str = ""  # an ECS host group: the replacement must join this cluster to count
    hook_limit: int = 0  # how long a launch hook whose owner records heartbeats may hold the wait
    codedeploy_targets: dict[str, Any] = field(default_factory=dict)  # read once per invocation

    def poll(self, state: HealthState) -> HealthState:
        attempt = state.attempt + 1
        started = datetime.fromisoformat(self.acted_at)
        elapsed = waited_seconds(state, started, self.services.clock(), self.poll_seconds)
        state = replace(state, attempt=attempt, elapsed=elapsed)
        try:
            state = self._evaluate(state, started)
        except AWS_ERRORS as error:
            state = replace(
                state, status="waiting", detail=f"health read failed, will retry: {aws_error_text(error)}"
            )
        hooks, targets = self.launch_hooks, self.codedeploy_targets
        state = codedeploy_verdict(
            self.services, self.group, started, state, hooks, self.surge_from, targets, self.timeout
        )
        if state.status == "waiting" and state.elapsed >= self.timeout and state.capacity:
            # Auto Scaling retried the launch all along and never found capacity: not the image's fault.
            code, detail = Reason.NO_CAPACITY.value, messages.no_capacity(self.timeout, state.capacity)
            state = replace(state, status="failed", code=code, reason=code, detail=detail)
        if "Pending:Wait" in state.detail and state.status == "waiting":
            state = replace(state, hook_held=state.elapsed)
        timeout = self._limit(state)
        if state.status == "waiting" and state.elapsed >= timeout:
            code = Reason.REPLACEMENT_TIMED_OUT
            if "Pending:Wait" in state.detail and self.launch_hooks:
                # A deployment (CodeDeploy, say) that never completed its launch hook: name the hook.
                code = Reason.LAUNCH_HOOK_TIMED_OUT
            state = replace(
                state,
                status="failed",
                code=code.value,
                reason=messages.timed_out(code, timeout, self.launch_hooks),
                detail=f"timed out waiting: {state.detail}",
            )
        return trimmed(
            replace(
                state,
                done=state.status != "waiting",
                # Until the grace period ends Auto Scaling does not act on failed health checks, so a
                # verdict before then is not final: the poll right after the act is followed by one at
                # the end of the grace period, then polls back off from poll_seconds (budget.next_pause:
                # a boot changes little from one 15 s to the next; every poll is a metered operation).
                next_poll_seconds=next_pause(state.elapsed, self.poll_seconds, timeout, self.grace_seconds),
            )
        )

    def _limit(self, state: HealthState) -> int:
        """The health timeout; a replacement still in Pending:Wait past it is held by a launch hook whose
        owner records heartbeats (else Auto Scaling would have taken the hook's default result): the
        wait goes on up to hook_limit, and a replacement the hook lets go late gets a whole health
        timeout from then, within the same limit."""
        if not self.launch_hooks or self.hook_limit <= self.timeout or state.hook_held < self.timeout:
            return self.timeout
        if "Pending:Wait" in state.detail:
            return self.hook_limit
        return min(self.hook_limit, math.ceil(state.hook_held) + self.timeout)

    def _evaluate(self, state: HealthState, started: datetime) -> HealthState:
        fleet = self.services.fleet
        activities = [
            a
            for a in fleet.recent_activities(self.group, limit=20)
            if a.start_time is None or a.start_time >= started - CLOCK_SLACK
        ]
        snapshot = fleet.group(self.group)
        if snapshot is None:
            return replace(
                state,
                status="failed",
                code=Reason.GROUP_DELETED.value,
                reason=Reason.GROUP_DELETED.value,
                detail="the group disappeared while waiting",
            )
        new = [i for i in snapshot.instances if i.instance_id not in self.before]
        seen = state.new_instances + tuple(
            i.instance_id for i in new if i.instance_id not in state.new_instances
        )
        state = replace(
            state,
            desired=snapshot.desired_capacity,
            new_instances=seen,
            capacity="",  # set again below while a capacity failure is all there is to show
            scaling=self._scaling_note(snapshot.desired_capacity, activities),
        )
        others = {
            a.instance_id for a in activities if a.is_launch and launched_by_us(a, self.surge_from) is False
        }
        replacement_id = state.replacement or self._identify(activities, new, others)
        pooled = any(
            a.is_launch and a.instance_id == replacement_id and "warm pool" in a.description
            for a in activities
        )
        state = replace(state, replacement=replacement_id, from_warm_pool=state.from_warm_pool or pooled)
        # Checked after the group is read, so a failed surge still knows which instance to remove.
        failed = self._own_failed_launches(activities)
        capacity = ""
        if failed:
            text = f"{failed[0].status}: {failed[0].description} - {failed[0].message}"
            kind = launch_failure(failed[0])
            if kind is not LaunchFailure.CAPACITY:
                # The launch template fails every time; a quota is not waited out either.
                failure = (
                    Reason.LAUNCH_FAILED if kind is LaunchFailure.LAUNCH_TEMPLATE else Reason.NO_CAPACITY
                )
                code = failure.value
                return replace(
                    state, status="failed", code=code, reason=code, detail=text, last_activity=text
                )
            # Auto Scaling makes the launch request again until capacity comes back: keep waiting.
            capacity = failure_text(failed[0])
            state = replace(state, last_activity=text)
        present = {i.instance_id: i for i in snapshot.instances}
        healthy = [i for i in snapshot.instances if i.in_service_and_healthy]

        if replacement_id is not None and replacement_id not in present:
            return self._replacement_gone(state, replacement_id, healthy, snapshot.desired_capacity, new)

        # Unknown replacement (activities do not say): any new instance not launched for another
        # reason may be ours, and any of them failing counts as ours failing.
        candidates = (
            [present[replacement_id]] if replacement_id else [i for i in new if i.instance_id not in others]
        )
        broken = [i for i in candidates if i.health_status != "Healthy"]
        if broken:
            return replace(
                state,
                status="failed",
                code=Reason.REPLACEMENT_UNHEALTHY.value,
                reason=Reason.REPLACEMENT_UNHEALTHY.value,
                replacement=broken[0].instance_id,
                replacement_image=fleet.image_of(broken[0].instance_id),
                detail=f"{broken[0].instance_id} is {broken[0].lifecycle_state}/{broken[0].health_status}",
                checks={"auto-scaling": broken[0].health_status},
            )
        ready = [i for i in candidates if i.in_service_and_healthy]
        if not ready:
            waiting = "; ".join(plain(i) for i in candidates) or "no new instance yet"
            capacity = "" if candidates else capacity
            if capacity:
                waiting = messages.capacity_retry(capacity)
            detail = self._with_victim(waiting, snapshot.instances)
            return replace(state, status="waiting", detail=detail, capacity=capacity)
        chosen = ready[0]
        checks = {"auto-scaling": chosen.health_status, **traffic_checks(fleet, snapshot, chosen.instance_id)}
        state = replace(state, replacement=chosen.instance_id, checks=checks)

        # Scale-out instances still launching are the group's business, not a failed recycle.
        launching_others = [
            i for i in new if i.instance_id != chosen.instance_id and i.lifecycle_state.startswith("Pending")
        ]
        required = snapshot.desired_capacity - len(launching_others)
        if len(healthy) < required:
            detail = f"{len(healthy)}/{snapshot.desired_capacity} InService+Healthy"
            return replace(state, status="waiting", detail=self._with_victim(detail, snapshot.instances))
        if self.ecs_cluster:
            checks = {**checks, f"ecs {self.ecs_cluster}": self._container_state(chosen.instance_id)}
            state = replace(state, checks=checks)
        not_passing = {name: s for name, s in checks.items() if not passes(name, s)}
        if not_passing:
            bad = ", ".join(f"{name}={s}" for name, s in not_passing.items())
            return replace(state, status="waiting", detail=f"checks pending: {bad}")
        return replace(
            state,
            status="healthy",
            detail="all checks passed",
            replacement_image=fleet.image_of(chosen.instance_id),
        )

    def _container_state(self, instance_id: str) -> str:
        """An ECS host is capacity once its agent registered it ACTIVE in the cluster: a replacement
        whose agent never starts (a broken AMI, user data without ECS_CLUSTER) runs no tasks."""
        found = self.services.ecs.container_instance(self.ecs_cluster, instance_id)
        if found is None:
            return "not registered"
        if not found.agent_connected:
            return "agent disconnected"
        return found.status

    def _own_failed_launches(self, activities: Sequence[Activity]) -> list[Activity]:
        """Failed/Cancelled activities since we acted, unless their cause says someone else's launch:
        the launch template's failures first, then capacity failures, each newest first."""
        return sorted(
            (
                a
                for a in activities
                if a.status in FAILED_ACTIVITY and launched_by_us(a, self.surge_from) is not False
            ),
            key=lambda a: launch_failure(a) is LaunchFailure.CAPACITY,
        )

    def _identify(
        self, activities: Sequence[Activity], new: Sequence[InstanceSnapshot], others: set[str | None]
    ) -> str | None:
        """Our replacement: the launch whose cause is our action, else the only new instance that no
        activity attributes to someone else, else unknown for now."""
        new_ids = {i.instance_id for i in new}
        ours = sorted(
            (
                a
                for a in activities
                if a.is_launch and a.instance_id in new_ids and launched_by_us(a, self.surge_from)
            ),
            key=lambda a: a.start_time or datetime.min,
        )
        if ours:
            return ours[0].instance_id
        unattributed = [i.instance_id for i in new if i.instance_id not in others]
        return unattributed[0] if len(unattributed) == 1 else None

    def _replacement_gone(
        self,
        state: HealthState,
        replacement_id: str,
        healthy: Sequence[InstanceSnapshot],
        desired: int,
        new: Sequence[InstanceSnapshot],
    ) -> HealthState:
        """The replacement left the group before we verified it (a scale-in picked it): not a failure
        once the group is healthy at its current desired capacity."""
        if len(healthy) < desired:
            return replace(
                state,
                status="waiting",
                detail=f"replacement {replacement_id} left the group (scaled in); "
                f"{len(healthy)}/{desired} InService+Healthy",
            )
        # The AMI check looks at what was launched after our action: a remaining new instance, or the
        # scaled-in replacement itself (EC2 still describes terminated instances for a while).
        survivors = [i.instance_id for i in new if i.in_service_and_healthy]
        image = self.services.fleet.image_of(survivors[0] if survivors else replacement_id)
        return replace(
            state,
            status="healthy",
            replacement_scaled_in=True,
            replacement_image=image,
            detail=f"replacement {replacement_id} was scaled in before it was verified; "
            f"the group is healthy at desired {desired}",
        )

    def _scaling_note(self, desired: int, activities: Sequence[Activity]) -> str:
        notes = []
        if desired != self.desired_at_act:
            notes.append(f"desired capacity changed from {self.desired_at_act} to {desired} during the wait")
        foreign = [a for a in activities if launched_by_us(a, self.surge_from) is False]
        if foreign:
            notes.append(f"other scaling activity: {foreign[0].description}")
        return "; ".join(notes)

    @staticmethod
    def _with_victim(detail: str, instances: Sequence[InstanceSnapshot]) -> str:
        draining = [plain(i) for i in instances if i.lifecycle_state.startswith("Terminating")]
        return "; ".join([detail, *draining])
