"""Faults a test or the demo injects into a group's instances, the way real replacements misbehave.

sabotage() stages how a group's next replacements fail (unhealthy, failing their target-group health
check, a failed launch, a slow boot, a victim held in Terminating:Wait); boot_time() makes a boot take
time on a clock; hold_pending() and forget_instance() act on instances already there. The patched
Auto Scaling calls apply them: the calls that launch replacements mark the new instances, and each
DescribeAutoScalingGroups of a group advances its slow boots and held terminations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any

from recycler.local.emulator.activities import add_activity
from recycler.local.emulator.capacity_failures import fail_for_capacity, retry_launch
from recycler.local.emulator.launch_hooks import expire_launch_hooks
from recycler.local.emulator.state import DEFAULT_ACCOUNT, Clock, current_state
from recycler.local.emulator.terminating import advance_terminating, hold_terminated

FAILURES = (
    "unhealthy",
    "target-unhealthy",
    "launch-failed",
    "slow",
    "terminating-wait",
    "capacity-blip",
    "no-capacity",
)
CAPACITY_FAULTS = ("capacity-blip", "no-capacity")


def sabotage(group: str, how: str, *, slow_reads: int = 0, attempts: int = 1) -> None:
    """Make the group's next replacements misbehave the way real ones do.

    unhealthy: the replacement is marked Unhealthy by Auto Scaling; target-unhealthy: it stays
    InService but fails its target-group health check; launch-failed: the launch activity Failed;
    slow: the replacement stays Pending for `slow_reads` DescribeAutoScalingGroups reads of its group;
    terminating-wait: the terminated instance stays in the group in Terminating:Wait (a termination
    lifecycle hook draining it) for `slow_reads` reads while its replacement launches;
    capacity-blip: the next launch fails for capacity `attempts` times (one failed attempt per
    DescribeAutoScalingGroups read of the group), then succeeds; no-capacity: every launch fails for
    capacity, for good. See capacity_failures.py.
    """
    if how not in FAILURES:
        raise ValueError(f"sabotage how={how!r}; use one of {', '.join(FAILURES)}")
    current_state().sabotage[group] = f"{how}:{attempts if how in CAPACITY_FAULTS else slow_reads}"


def boot_time(group: str, seconds: float, clock: Clock) -> None:
    """The group's next replacements stay Pending for `seconds` as `clock` measures them (a simulated
    clock, such as the durable test runner's, whose waits are skipped)."""
    current_state().boot_times[group] = (seconds, clock)


def _apply_sabotage(backend: Any, group_name: str, before: set[str]) -> None:
    emulated = current_state()
    group = backend.autoscaling_groups.get(group_name)
    if group_name in emulated.boot_times and group is not None:
        seconds, clock = emulated.boot_times[group_name]
        for state in group.instance_states:
            if state.instance.id not in before:
                state.lifecycle_state = "Pending"
                emulated.booting[state.instance.id] = (clock() + timedelta(seconds=seconds), clock)
    plan = emulated.sabotage.get(group_name)
    if not plan or group is None:
        return
    how, reads = plan.split(":")
    if how == "terminating-wait":
        return
    fresh = [state for state in group.instance_states if state.instance.id not in before]
    if how in CAPACITY_FAULTS and fresh:
        fail_for_capacity(group, fresh, int(reads) if how == "capacity-blip" else None)
        return
    for state in fresh:
        if how == "unhealthy":
            state.health_status = "Unhealthy"
        elif how == "target-unhealthy":
            emulated.unhealthy_targets.add(state.instance.id)
        elif how == "launch-failed":
            state.lifecycle_state = "Pending"
        elif how == "slow":
            state.lifecycle_state = "Pending"
            emulated.slow_instances[state.instance.id] = int(reads)
    if how == "launch-failed":
        add_activity(
            group_name,
            "Failed",
            "Launching a new EC2 instance. Status Reason: The image id does not exist.",
            "InvalidAMIID.NotFound: The image id '[ami-0broken]' does not exist. Launching EC2 instance failed.",
        )


def sabotage_replacements(response_class: Any) -> None:
    """Wrap the calls that launch replacements so sabotage() can act on the new instances."""

    def wrap(method_name: str, group_of: Any) -> None:
        original = getattr(response_class, method_name)

        def wrapped(self: Any) -> Any:
            backend = self.autoscaling_backend
            name = group_of(self, backend)
            if name is None and method_name == "terminate_instance_in_auto_scaling_group":
                from moto.autoscaling.exceptions import ValidationError

                # What Auto Scaling answers; moto itself raises a bare StopIteration here.
                instance_id = self._get_param("InstanceId")
                raise ValidationError(
                    f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
                )
            if method_name == "set_desired_capacity" and name not in backend.autoscaling_groups:
                from moto.autoscaling.exceptions import ValidationError

                # A group deleted meanwhile: Auto Scaling answers ValidationError (HTTP 400,
                # https://docs.aws.amazon.com/autoscaling/ec2/APIReference/CommonErrors.html) with this
                # message (as SDK users quote it: github.com/aws/aws-sdk-go/issues/1151); moto raises a
                # bare KeyError out of the client call.
                raise ValidationError("AutoScalingGroup name not found - null")
            group = backend.autoscaling_groups.get(name) if name else None
            before = {s.instance.id for s in group.instance_states} if group else set()
            victim_id = self._get_param("InstanceId")
            held = [s for s in group.instance_states if s.instance.id == victim_id] if group else []
            result = original(self)
            if name:
                _apply_sabotage(backend, name, before)
            plan = current_state().sabotage.get(name or "", "")
            delay = current_state().deregistration_delays.get(name or "")
            if group is not None and held and plan.startswith("terminating-wait"):
                # A termination lifecycle hook (ECS managed draining, say) holds the instance.
                hold_terminated(group, held[0], "Terminating:Wait", int(plan.split(":")[1]))
            elif group is not None and held and delay:
                hold_terminated(group, held[0], "Terminating", delay)  # its load balancer drains it
            return result

        setattr(response_class, method_name, wrapped)

    def group_of_instance(self: Any, backend: Any) -> str | None:
        instance_id = self._get_param("InstanceId")
        for group in backend.autoscaling_groups.values():
            if any(s.instance.id == instance_id for s in group.instance_states):
                return str(group.name)
        return None

    wrap("terminate_instance_in_auto_scaling_group", group_of_instance)
    wrap("set_desired_capacity", lambda self, backend: self._get_param("AutoScalingGroupName"))

    original_describe = response_class.describe_auto_scaling_groups

    def describe(self: Any) -> Any:
        # A boot takes time, not other groups' reads: only a read that includes the group advances its
        # slow instances (each health poll of one group reads that group alone).
        asked = set(self._get_param("AutoScalingGroupNames", []))
        emulated = current_state()
        for group in self.autoscaling_backend.autoscaling_groups.values():
            if asked and group.name not in asked:
                continue
            expire_launch_hooks(group)
            retry_launch(group)
            for state in list(group.instance_states):
                advance_terminating(group, state)
                booting = emulated.booting.get(state.instance.id)
                if booting is not None and booting[1]() >= booting[0]:
                    state.lifecycle_state = "InService"
                    del emulated.booting[state.instance.id]
                remaining = emulated.slow_instances.get(state.instance.id)
                if remaining is None:
                    continue
                if remaining <= 0:
                    state.lifecycle_state = "InService"
                    del emulated.slow_instances[state.instance.id]
                else:
                    emulated.slow_instances[state.instance.id] = remaining - 1
        return original_describe(self)

    response_class.describe_auto_scaling_groups = describe


def _groups(account: str) -> Iterator[Any]:
    """Every group in the in-process emulator, in every region."""
    from moto.autoscaling.models import autoscaling_backends

    for region_backends in autoscaling_backends[account].values():
        yield from region_backends.autoscaling_groups.values()


def forget_instance(group_name: str, instance_id: str, account: str = DEFAULT_ACCOUNT) -> None:
    """Drop an instance from a group without a replacement: a launch that never happened (capacity
    shortage), as far as the group's instances show."""
    for group in _groups(account):
        if group.name == group_name:
            group.instance_states = [s for s in group.instance_states if s.instance.id != instance_id]


def hold_terminating(instance_id: str, reads: int, account: str = DEFAULT_ACCOUNT) -> None:
    """Start terminating an instance of a group (someone else's terminate) that stays Terminating, its
    activity in progress, for `reads` DescribeAutoScalingGroups reads of its group."""
    for group in _groups(account):
        for state in list(group.instance_states):
            if state.instance.id == instance_id:
                group.instance_states.remove(state)
                hold_terminated(group, state, "Terminating", reads)


def hold_pending(instance_ids: Sequence[str], reads: int, account: str = DEFAULT_ACCOUNT) -> None:
    """Keep instances launching (Pending) for `reads` DescribeAutoScalingGroups reads, like a slow boot."""
    for group in _groups(account):
        for state in group.instance_states:
            if state.instance.id in instance_ids:
                state.lifecycle_state = "Pending"
                current_state().slow_instances[state.instance.id] = reads
