"""Auto Scaling capacity as AWS reconciles it: launches, scale-in order, termination policies.

moto reconciles desired capacity against InService instances only. AWS counts Pending instances as
capacity, removes instances on scale-in by the group's termination policy, and records every launch
and termination as a scaling activity that names the instance and its cause. The emulator does the
same (see reconcile_like_aws), so health checks can be tested in a fleet that scales while recycler
waits. A launch also takes instances from the warm pool, enters launch hooks and starts ECS agents.
Which zone each launch goes to, which zone a scale-in empties first and the rebalancing a terminate
with decrement sets off are zones.py's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.activities import add_activity
from recycler.local.emulator.ecs import start_ecs_agents
from recycler.local.emulator.launch_hooks import enter_launch_hooks
from recycler.local.emulator.state import current_state
from recycler.local.emulator.warm_pools import take_from_warm_pool
from recycler.local.emulator.zones import (
    COUNTED_STATES,
    launch_balanced,
    launch_into,
    scale_in_choice,
    terminate_like_aws,
)

__all__ = ["COUNTED_STATES", "reconcile_like_aws", "scale", "termination_policies_like_aws"]


def reconcile_like_aws() -> None:
    """Replace moto's capacity reconciliation with AWS's (non-mixed-instances groups).

    AWS (Amazon EC2 Auto Scaling User Guide, "Set capacity limits" and "Control which instances
    terminate during scale in"): the group launches or terminates instances until the instances that
    are Pending or InService equal desired capacity; each launch goes to the zone with the fewest
    instances; on scale-in the termination policy first balances Availability Zones, then (default)
    picks instances on the oldest launch template or configuration, then (here) the oldest launched.
    Each launch and termination is a scaling activity naming the instance and its cause.
    """
    from moto.autoscaling.models import AutoScalingBackend, FakeAutoScalingGroup

    original = FakeAutoScalingGroup.set_desired_capacity

    def set_desired_capacity(self: Any, new_capacity: int | None) -> None:
        if self.mixed_instances_policy:
            original(self, new_capacity)
            return
        previous = getattr(self, "desired_capacity", None)  # unset while the group is being created
        self.desired_capacity = self.min_size if new_capacity is None else new_capacity
        counted = [s for s in self.instance_states if s.lifecycle_state in COUNTED_STATES]
        delta = self.desired_capacity - len(counted)
        now = datetime.now(UTC)
        stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        cause = current_state().next_cause.pop(self.name, "")
        if not cause and previous is not None and previous != self.desired_capacity:
            cause = (
                f"At {stamp} a user request explicitly set group desired capacity changing the desired "
                f"capacity from {previous} to {self.desired_capacity}."
            )
        if delta > 0:
            launched = launch_balanced(self, delta, self.get_propagated_tags())
            _started(
                self,
                launched,
                now,
                [
                    f"{cause} At {stamp} an instance was started in response to a difference "
                    "between desired and actual capacity, increasing the capacity from "
                    f"{len(counted) + offset} to {len(counted) + offset + 1}.".strip()
                    for offset in range(len(launched))
                ],
            )
        elif delta < 0:
            removable = [s for s in counted if not s.protected_from_scale_in]
            removed = scale_in_choice(self, removable, -delta, lambda s: _termination_order(self, s))
            self.autoscaling_backend.ec2_backend.terminate_instances([s.instance.id for s in removed])
            self.instance_states = [s for s in self.instance_states if s not in removed]
            for state in removed:
                add_activity(
                    self.name,
                    "Successful",
                    f"Terminating EC2 instance: {state.instance.id}",
                    when=now,
                    cause=f"{cause} At {stamp} an instance was taken out of service in response to a "
                    "difference between desired and actual capacity, shrinking the capacity from "
                    f"{len(counted)} to {self.desired_capacity}.".strip(),
                )
        if self.name in self.autoscaling_backend.autoscaling_groups:
            self.autoscaling_backend.update_attached_elbs(self.name)
            self.autoscaling_backend.update_attached_target_groups(self.name)

    FakeAutoScalingGroup.set_desired_capacity = set_desired_capacity  # type: ignore[method-assign]
    terminate_like_aws(
        AutoScalingBackend, _rebalancing_launch, lambda s: _termination_order(s.instance.autoscaling_group, s)
    )


def _started(group: Any, launched: list[str], when: datetime, causes: list[str]) -> None:
    """What follows a launch: the warm pool, launch hooks, ECS agents, and one activity per instance."""
    pooled = take_from_warm_pool(group, launched)
    enter_launch_hooks(group, launched)
    start_ecs_agents(group, launched)
    for instance_id, cause in zip(launched, causes, strict=True):
        source = " from warm pool" if instance_id in pooled else ""
        add_activity(
            group.name,
            "Successful",
            f"Launching a new EC2 instance{source}: {instance_id}",
            when=when,
            cause=cause,
        )


def _rebalancing_launch(group: Any, zone: str, cause: str) -> str:
    """AZRebalance's launch into the short zone, with everything a launch brings."""
    launched = launch_into(group, zone, 1, group.get_propagated_tags())
    _started(group, launched, datetime.now(UTC), [cause])
    return launched[0]


def termination_policies_like_aws(response_class: Any) -> None:
    """A group keeps the termination policies it is updated with, for _termination_order to read."""
    original_update = response_class.update_auto_scaling_group

    def update(self: Any) -> Any:
        # UpdateAutoScalingGroup takes TerminationPolicies on AWS; moto ignores them.
        result = original_update(self)
        policies = self._get_param("TerminationPolicies", [])
        group = self.autoscaling_backend.autoscaling_groups.get(self._get_param("AutoScalingGroupName"))
        if policies and group is not None:
            group.termination_policies = policies
        return result

    response_class.update_auto_scaling_group = update


def _termination_order(group: Any, state: Any) -> tuple[bool, float]:
    """Which instance a scale-in removes first. Default policy: instances not on the image the group
    launches now (they are on an older launch template version), then the oldest launched. With the
    NewestInstance policy first in the group's list: the newest launched."""
    launched = state.instance.launch_time
    when = datetime.fromisoformat(launched) if isinstance(launched, str) else launched
    stamp = when.replace(tzinfo=UTC).timestamp() if when else 0.0
    policies = list(getattr(group, "termination_policies", None) or ["Default"])
    if policies[0] == "NewestInstance":
        return False, -stamp
    return state.instance.image_id == getattr(group, "image_id", None), stamp


def scale(group: str, desired: int, autoscaling: Any, *, by_policy: bool = True) -> None:
    """Change a group's desired capacity as a target-tracking policy would (the activity's cause says
    so), or as a user request."""
    if by_policy:
        current = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[group])[
            "AutoScalingGroups"
        ][0]["DesiredCapacity"]
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        current_state().next_cause[group] = (
            f"At {stamp} a monitor alarm TargetTracking-{group}-Alarm in state ALARM triggered policy "
            f"{group}-target-tracking changing the desired capacity from {current} to {desired}."
        )
    autoscaling.set_desired_capacity(AutoScalingGroupName=group, DesiredCapacity=desired, HonorCooldown=False)
