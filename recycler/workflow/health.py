"""The health check one recycle waits on: is the group healthy again, with its replacement in service?

One poll reads the group's scaling activities, the group, and the replacement's load balancer health.
It runs inside a durable wait, so it returns the next HealthState and never sleeps itself.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from recycler.fleet import group_snapshot
from recycler.workflow.port import AWS_ERRORS, Services, aws_error_text
from recycler.workflow.state import HealthState

# How each source says "healthy": elbv2 targets, classic ELB instances, Auto Scaling instances.
PASSING_STATES = frozenset({"healthy", "InService", "Healthy"})


@dataclass
class HealthCheck:
    """One poll of 'is the group healthy again with a new instance in service?' (design.md §6)."""

    services: Services
    group: str
    before: frozenset[str]
    desired: int
    acted_at: str
    poll_seconds: int
    timeout: int

    def poll(self, state: HealthState) -> HealthState:
        attempt = state.attempt + 1
        started = datetime.fromisoformat(self.acted_at)
        # Simulated time (skipped waits) advances by whole polls; real time can only be longer.
        elapsed = round(
            max((self.services.clock() - started).total_seconds(), attempt * self.poll_seconds), 1
        )
        state = replace(state, attempt=attempt, elapsed=elapsed)
        try:
            state = self._evaluate(state, started)
        except AWS_ERRORS as error:
            state = replace(
                state, status="waiting", detail=f"health read failed, will retry: {aws_error_text(error)}"
            )
        if state.status == "waiting" and state.elapsed >= self.timeout:
            state = replace(
                state,
                status="failed",
                reason=f"replacement unhealthy after {self.timeout} s",
                detail=f"timed out waiting: {state.detail}",
            )
        return replace(state, done=state.status != "waiting")

    def _evaluate(self, state: HealthState, started: datetime) -> HealthState:
        fleet = self.services.fleet
        for activity in fleet.recent_activities(self.group, limit=10):
            if activity.status in ("Failed", "Cancelled") and (
                activity.start_time is None or activity.start_time >= started - timedelta(seconds=5)
            ):
                text = f"{activity.status}: {activity.description} - {activity.message}"
                return replace(
                    state, status="failed", reason="launch failed", detail=text, last_activity=text
                )
        raw = fleet.describe_group(self.group)
        if raw is None:
            return replace(
                state,
                status="failed",
                reason="group deleted",
                detail="the group disappeared while waiting",
            )
        snapshot = group_snapshot(raw)
        new = [i for i in snapshot.instances if i.instance_id not in self.before]
        healthy = [i for i in snapshot.instances if i.in_service_and_healthy]
        broken = [i for i in new if i.health_status != "Healthy"]
        if broken:
            return replace(
                state,
                status="failed",
                reason="replacement unhealthy",
                replacement=broken[0].instance_id,
                replacement_image=fleet.image_of(broken[0].instance_id),
                detail=f"{broken[0].instance_id} is {broken[0].lifecycle_state}/{broken[0].health_status}",
                checks={"auto-scaling": broken[0].health_status},
            )
        ready = [i for i in new if i.in_service_and_healthy]
        if not ready:
            pending = ", ".join(f"{i.instance_id}={i.lifecycle_state}" for i in new) or "none yet"
            return replace(state, status="waiting", detail=f"no new InService instance (new: {pending})")
        replacement = ready[0]
        checks: dict[str, str] = {"auto-scaling": "Healthy"}
        checks.update(
            {
                f"target-group {arn.split(':')[-1]}": s
                for arn, s in fleet.target_health(snapshot.target_group_arns, replacement.instance_id).items()
            }
        )
        checks.update(
            {
                f"elb {name}": s
                for name, s in fleet.classic_health(
                    snapshot.load_balancer_names, replacement.instance_id
                ).items()
            }
        )
        not_passing = {name: s for name, s in checks.items() if s not in PASSING_STATES}
        state = replace(state, replacement=replacement.instance_id, checks=checks)
        if len(healthy) < self.desired:
            return replace(state, status="waiting", detail=f"{len(healthy)}/{self.desired} InService+Healthy")
        if not_passing:
            bad = ", ".join(f"{name}={s}" for name, s in not_passing.items())
            return replace(state, status="waiting", detail=f"load balancer checks pending: {bad}")
        return replace(
            state,
            status="healthy",
            detail="all checks passed",
            replacement_image=fleet.image_of(replacement.instance_id),
        )
