"""Victims that take time to leave: a load balancer's deregistration delay, a termination hook.

AWS (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html): "Instances
that are in the process of terminating from the Auto Scaling group and shutting down enter the
Terminating state" ... "Amazon EC2 Auto Scaling automatically deregisters the terminating instance from
the load balancer before running lifecycle hooks. ... existing connections to the instance are allowed
to continue until the deregistration delay expires" (300 s unless the target group says otherwise) ...
"If you added an autoscaling:EC2_INSTANCE_TERMINATING lifecycle hook ..., the instances move from the
Terminating state to the Terminating:Wait state" (ECS managed draining is such a hook). Meanwhile the
group lists the instance in that state, and its terminate activity has not finished (its StatusCode is
one of the in-progress codes of https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_Activity.html,
such as WaitingForELBConnectionDraining or MidLifecycleAction). moto removes a terminated instance at
once and records no activity: here the instance stays for a number of DescribeAutoScalingGroups reads
of its group, then leaves and its activity ends Successful.
"""

from __future__ import annotations

from typing import Any

from recycler.local.emulator.activities import add_activity
from recycler.local.emulator.state import current_state

# The activity's StatusCode while the instance is held in each state.
IN_PROGRESS = {"Terminating": "WaitingForELBConnectionDraining", "Terminating:Wait": "MidLifecycleAction"}


def deregistration_delay(group: str, reads: int) -> None:
    """The group's terminated instances stay Terminating (deregistering from their load balancer) for
    `reads` DescribeAutoScalingGroups reads of the group, their terminate activity in progress."""
    current_state().deregistration_delays[group] = reads


def hold_terminated(group: Any, state: Any, lifecycle: str, reads: int) -> None:
    """The terminated instance waits in the group in `lifecycle`, no longer counted as capacity, while
    its replacement launches; its terminate activity stays in progress until it leaves."""
    state.lifecycle_state = lifecycle
    group.instance_states.append(state)
    emulated = current_state()
    emulated.held_terminating[state.instance.id] = reads
    add_activity(
        group.name, IN_PROGRESS.get(lifecycle, "InProgress"), f"Terminating EC2 instance: {state.instance.id}"
    )
    emulated.terminate_activities[state.instance.id] = emulated.activities[group.name][-1]


def advance_terminating(group: Any, state: Any) -> None:
    """One read of the group: a held instance waits one read less, or leaves the group."""
    emulated = current_state()
    waiting = emulated.held_terminating.get(state.instance.id)
    if waiting is None:
        return
    if waiting > 0:
        emulated.held_terminating[state.instance.id] = waiting - 1
        return
    group.instance_states.remove(state)
    del emulated.held_terminating[state.instance.id]
    activity = emulated.terminate_activities.pop(state.instance.id, None)
    if activity is not None:
        activity.update(StatusCode="Successful", Progress=100)


def deregister_leaving_like_aws() -> None:
    """A held instance was deregistered from its load balancers before it started to drain: moto's
    re-registration of a group's instances (after every capacity change) leaves it out, as AWS does."""
    from moto.autoscaling.models import AutoScalingBackend

    original = AutoScalingBackend.update_attached_target_groups

    def update_attached_target_groups(self: Any, group_name: str) -> None:
        group = self.autoscaling_groups[group_name]
        everyone = group.instance_states
        group.instance_states = [s for s in everyone if s.instance.id not in current_state().held_terminating]
        try:
            original(self, group_name)
        finally:
            group.instance_states = everyone

    AutoScalingBackend.update_attached_target_groups = update_attached_target_groups  # type: ignore[method-assign]
