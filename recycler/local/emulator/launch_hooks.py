"""Auto Scaling launch lifecycle hooks, which moto 5.2 does not honour (it launches every instance
straight to InService): a new instance waits in Pending:Wait until CompleteLifecycleAction or its
hook's heartbeat timeout, then takes the result (CONTINUE: InService; ABANDON: terminated, its launch
activity Cancelled, and another instance launched). RecordLifecycleActionHeartbeat (moto lacks it)
restarts the heartbeat timeout, never past the hook's global timeout: the lesser of 48 hours and 100
times the heartbeat timeout (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html,
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from recycler.local.emulator.activities import add_activity
from recycler.local.emulator.state import Clock, current_state

LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"
GLOBAL_TIMEOUT_CAP = 48 * 3600


def global_timeout(hook: Any) -> int:
    """DescribeLifecycleHooks' GlobalTimeout: the lesser of 48 hours and 100 x HeartbeatTimeout."""
    return min(GLOBAL_TIMEOUT_CAP, 100 * int(hook.heartbeat_timeout))


def hook_clock(group: str, clock: Clock) -> None:
    """The clock the group's launch hook heartbeats time out on (a simulated one under the runner)."""
    current_state().hook_clocks[group] = clock


def enter_launch_hooks(group: Any, launched: Sequence[str]) -> None:
    """AWS (User Guide, "Amazon EC2 Auto Scaling lifecycle hooks"): with a launch hook, a new instance
    waits in Pending:Wait until CompleteLifecycleAction or until the hook's heartbeat timeout, then
    takes the hook's default result (CONTINUE: InService; ABANDON: terminated and replaced)."""
    hooks = [
        h
        for h in group.autoscaling_backend.lifecycle_hooks.values()
        if h.auto_scaling_group_name == group.name and h.lifecycle_transition == LAUNCH_TRANSITION
    ]
    if not hooks:
        return
    hook = max(hooks, key=lambda h: h.heartbeat_timeout)
    clock = current_state().hook_clocks.get(group.name, lambda: datetime.now(UTC))
    for state in group.instance_states:
        if state.instance.id in launched:
            state.lifecycle_state = "Pending:Wait"
            entered = clock()
            current_state().in_launch_hook[state.instance.id] = (
                hook.name,
                entered + timedelta(seconds=hook.heartbeat_timeout),
                clock,
                hook.default_result,
                entered + timedelta(seconds=global_timeout(hook)),
            )


def expire_launch_hooks(group: Any) -> None:
    for state in list(group.instance_states):
        held = current_state().in_launch_hook.get(state.instance.id)
        if held is None or state.lifecycle_state != "Pending:Wait":
            continue
        name, deadline, clock, result, cap = held
        if clock() < min(deadline, cap):
            continue
        what = "global timeout" if clock() >= cap else "heartbeat"
        _complete_launch_hook(group, state, result, f"{what} of lifecycle hook {name} timed out")


def _complete_launch_hook(group: Any, state: Any, result: str, why: str) -> None:
    current_state().in_launch_hook.pop(state.instance.id, None)
    if result.upper() == "CONTINUE":
        state.lifecycle_state = "InService"
        return
    # ABANDON: Auto Scaling terminates the instance, its launch activity ends Cancelled with the reason
    # below, and the group launches another instance to get back to desired capacity.
    group.instance_states.remove(state)
    group.autoscaling_backend.ec2_backend.terminate_instances([state.instance.id])
    reason = (
        " Status Reason: Instance failed to complete user's Lifecycle Action: Lifecycle Action was "
        "abandoned: Lifecycle Action Completed with ABANDON Result"
    )
    launch = next(
        (
            a
            for a in current_state().activities[group.name]
            if a["Description"].startswith("Launching") and a["Description"].endswith(state.instance.id)
        ),
        None,
    )
    if launch is None:
        add_activity(
            group.name, "Cancelled", f"Launching a new EC2 instance: {state.instance.id}.{reason}", why
        )
    else:
        launch.update(
            StatusCode="Cancelled", StatusMessage=why, Description=f"{launch['Description']}.{reason}"
        )
    group.set_desired_capacity(group.desired_capacity)


# What CodeDeploy calls when its deployment to the instance ends (codedeploy.py).
complete_launch_hook = _complete_launch_hook


def lifecycle_hooks_like_aws(response_class: Any) -> None:
    """CompleteLifecycleAction (what CodeDeploy calls when its deployment to the instance ends); moto
    lacks it."""
    from moto.core.responses import EmptyResult

    def complete_lifecycle_action(self: Any) -> Any:
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        instance_id = self._get_param("InstanceId")
        for state in list(group.instance_states):
            if state.instance.id == instance_id and state.lifecycle_state == "Pending:Wait":
                result = self._get_param("LifecycleActionResult", "CONTINUE")
                _complete_launch_hook(group, state, result, "the lifecycle action was completed with ABANDON")
        return EmptyResult()

    def record_lifecycle_action_heartbeat(self: Any) -> Any:
        """The hook's owner needs more time: the heartbeat timeout starts again, within the global one."""
        instance_id = self._get_param("InstanceId")
        held = current_state().in_launch_hook.get(instance_id)
        if held is None:
            from moto.autoscaling.exceptions import ValidationError

            raise ValidationError(f"No active Lifecycle Action found with instance ID {instance_id}")
        name, _, clock, result, cap = held
        group = self._get_param("AutoScalingGroupName")
        hooks = self.autoscaling_backend.lifecycle_hooks.values()
        hook = next(h for h in hooks if h.name == name and h.auto_scaling_group_name == group)
        deadline = min(clock() + timedelta(seconds=hook.heartbeat_timeout), cap)
        current_state().in_launch_hook[instance_id] = (name, deadline, clock, result, cap)
        return EmptyResult()

    original_put = response_class.put_lifecycle_hook

    def put_lifecycle_hook(self: Any) -> Any:
        answer = original_put(self)
        for hook in self.autoscaling_backend.lifecycle_hooks.values():
            hook.global_timeout = global_timeout(hook)  # DescribeLifecycleHooks answers GlobalTimeout
        return answer

    response_class.complete_lifecycle_action = complete_lifecycle_action
    response_class.record_lifecycle_action_heartbeat = record_lifecycle_action_heartbeat
    response_class.put_lifecycle_hook = put_lifecycle_hook
