"""Completes moto's Auto Scaling emulation for the demo and the tests; never used against AWS.

moto 5.2 does not implement DescribeInstanceRefreshes and returns no scaling activities. recycler treats
an unanswered read as unknown (it will not terminate), so the embedded AWS must answer them: with
nothing by default, or with what a test or the demo injects to stage a running refresh or a failed
launch.

moto also reconciles desired capacity against InService instances only. AWS counts Pending instances
as capacity, removes instances on scale-in by the group's termination policy, and records every launch
and termination as a scaling activity that names the instance and its cause. The emulator does the
same (see _reconcile), so health checks can be tested in a fleet that scales while recycler waits.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import TagTypeDef

# A clock the emulator measures boots, drains and hook timeouts on: real time, or a simulated clock
# such as the durable test runner's, whose waits are skipped.
Clock = Callable[[], datetime]


@dataclass
class EmulatorState:
    """What a test or the demo injected, and what the emulator's patched calls remember between
    requests. Keys are group names, instance ids or cluster names, as each comment says."""

    # group name -> its instance refreshes, as DescribeInstanceRefreshes answers them.
    instance_refreshes: defaultdict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # group name -> its scaling activities, as DescribeScalingActivities answers them.
    activities: defaultdict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # group name -> how its next replacements misbehave (see sabotage()).
    sabotage: dict[str, str] = field(default_factory=dict)
    # instance ids whose target-group health check fails.
    unhealthy_targets: set[str] = field(default_factory=set)
    # instance id -> remaining DescribeAutoScalingGroups reads before it leaves Pending.
    slow_instances: dict[str, int] = field(default_factory=dict)
    # instance id -> remaining DescribeAutoScalingGroups reads it stays in Terminating:Wait.
    held_terminating: dict[str, int] = field(default_factory=dict)
    # group name -> (seconds its replacements take to boot, the clock that measures them).
    boot_times: dict[str, tuple[float, Clock]] = field(default_factory=dict)
    # instance id -> (when it is InService, that clock): a boot measured in time, not reads.
    booting: dict[str, tuple[datetime, Clock]] = field(default_factory=dict)
    # group name -> the Cause text of its next capacity change (a scaling policy, say), else a user request.
    next_cause: dict[str, str] = field(default_factory=dict)
    # ECS cluster name -> (seconds service tasks take to move off a DRAINING instance, that clock).
    drain_times: dict[str, tuple[float, Clock]] = field(default_factory=dict)
    # container instance id -> when it was set to DRAINING, and the clock that measures its drain.
    draining_since: dict[str, tuple[datetime, Clock]] = field(default_factory=dict)
    # group name -> the clock its launch lifecycle hooks time out on (default: real time).
    hook_clocks: dict[str, Clock] = field(default_factory=dict)
    # instance id -> (hook name, when its heartbeat runs out, that clock, the hook's default result).
    in_launch_hook: dict[str, tuple[str, datetime, Clock, str]] = field(default_factory=dict)
    # group name -> the ECS cluster its instances' ECS agent registers them in when they boot.
    ecs_agents: dict[str, str] = field(default_factory=dict)
    # group name -> images of the instances waiting in its warm pool (launched when the pool was made).
    warm_pools: dict[str, list[str]] = field(default_factory=dict)


# The one current state; a list so reset() can replace it without a global statement.
_current = [EmulatorState()]


def current_state() -> EmulatorState:
    """The state the emulator's patched calls read and write now (reset() replaces it)."""
    return _current[0]


def reset() -> None:
    """Forget everything injected or remembered: the emulator starts over with a fresh EmulatorState."""
    _current[0] = EmulatorState()


FAILURES = ("unhealthy", "target-unhealthy", "launch-failed", "slow", "terminating-wait")
_lock = threading.Lock()
DEFAULT_ACCOUNT = "123456789012"
_installed: list[bool] = []


def install() -> None:
    """Teach moto's Auto Scaling responses the two reads; idempotent."""
    with _lock:
        if _installed:
            return
        from moto.autoscaling.responses import AutoScalingResponse
        from moto.core.responses import ActionResult

        def describe_instance_refreshes(self: Any) -> Any:
            name = self._get_param("AutoScalingGroupName")
            return ActionResult({"InstanceRefreshes": list(current_state().instance_refreshes.get(name, []))})

        def describe_scaling_activities(self: Any) -> Any:
            name = self._get_param("AutoScalingGroupName")
            activities = [
                a
                for group, items in current_state().activities.items()
                if name in (None, group)
                for a in items
            ]
            activities.sort(key=lambda a: a["StartTime"], reverse=True)
            return ActionResult({"Activities": activities})

        AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]
        AutoScalingResponse.describe_scaling_activities = describe_scaling_activities  # type: ignore[method-assign]
        _reconcile_like_aws()
        _resolve_ssm_aliases()
        _sabotage_replacements(AutoScalingResponse)
        _sabotage_target_health()
        _ecs_like_aws()
        _lifecycle_hooks_like_aws(AutoScalingResponse)
        _installed.append(True)


def sabotage(group: str, how: str, *, slow_reads: int = 0) -> None:
    """Make the group's next replacements misbehave the way real ones do.

    unhealthy: the replacement is marked Unhealthy by Auto Scaling; target-unhealthy: it stays
    InService but fails its target-group health check; launch-failed: the launch activity Failed;
    slow: the replacement stays Pending for `slow_reads` DescribeAutoScalingGroups reads of its group;
    terminating-wait: the terminated instance stays in the group in Terminating:Wait (a termination
    lifecycle hook draining it) for `slow_reads` reads while its replacement launches.
    """
    if how not in FAILURES:
        raise ValueError(f"sabotage how={how!r}; use one of {', '.join(FAILURES)}")
    current_state().sabotage[group] = f"{how}:{slow_reads}"


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


def _sabotage_replacements(response_class: Any) -> None:
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
            group = backend.autoscaling_groups.get(name) if name else None
            before = {s.instance.id for s in group.instance_states} if group else set()
            victim_id = self._get_param("InstanceId")
            held = [s for s in group.instance_states if s.instance.id == victim_id] if group else []
            result = original(self)
            if name:
                _apply_sabotage(backend, name, before)
            plan = current_state().sabotage.get(name or "", "")
            if group is not None and held and plan.startswith("terminating-wait"):
                # A termination lifecycle hook: the instance waits in the group, no longer counted as
                # capacity, while its replacement launches.
                held[0].lifecycle_state = "Terminating:Wait"
                group.instance_states.append(held[0])
                current_state().held_terminating[held[0].instance.id] = int(plan.split(":")[1])
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
            _expire_launch_hooks(group)
            for state in list(group.instance_states):
                waiting = emulated.held_terminating.get(state.instance.id)
                if waiting is not None:
                    if waiting <= 0:
                        group.instance_states.remove(state)
                        del emulated.held_terminating[state.instance.id]
                    else:
                        emulated.held_terminating[state.instance.id] = waiting - 1
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


# Lifecycle states that count toward desired capacity on AWS: an instance launching or in service.
COUNTED_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")


def _reconcile_like_aws() -> None:
    """Replace moto's capacity reconciliation with AWS's (non-mixed-instances groups).

    AWS (Amazon EC2 Auto Scaling User Guide, "Set capacity limits" and "Control which instances
    terminate during scale in"): the group launches or terminates instances until the instances that
    are Pending or InService equal desired capacity; on scale-in the default termination policy first
    balances Availability Zones (left out here: the emulated fleets live in one zone), then picks
    instances on the oldest launch template or configuration, then (here) the oldest launched.
    Each launch and termination is a scaling activity naming the instance and its cause.
    """
    from moto.autoscaling.models import FakeAutoScalingGroup

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
            before = {s.instance.id for s in self.instance_states}
            self.replace_autoscaling_group_instances(delta, self.get_propagated_tags())
            launched = [s.instance.id for s in self.instance_states if s.instance.id not in before]
            pooled = _take_from_warm_pool(self, launched)
            _enter_launch_hooks(self, launched)
            _start_ecs_agents(self, launched)
            for offset, instance_id in enumerate(launched):
                source = "from warm pool" if instance_id in pooled else ""
                add_activity(
                    self.name,
                    "Successful",
                    f"Launching a new EC2 instance{' ' + source if source else ''}: {instance_id}",
                    when=now,
                    cause=f"{cause} At {stamp} an instance was started in response to a difference "
                    "between desired and actual capacity, increasing the capacity from "
                    f"{len(counted) + offset} to {len(counted) + offset + 1}.".strip(),
                )
        elif delta < 0:
            removable = [s for s in counted if not s.protected_from_scale_in]
            removed = sorted(removable, key=lambda s: _termination_order(self, s))[:-delta]
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


def _take_from_warm_pool(group: Any, launched: Sequence[str]) -> set[str]:
    """AWS (User Guide, "Warm pools"): a scale-out takes instances from the warm pool first; they keep
    the image they were launched with when the pool was filled. The pool refills from the current
    launch template, so only as many launches as the pool held come with the old image."""
    stock = current_state().warm_pools.get(group.name)
    if not stock or getattr(group, "warm_pool", None) is None:
        return set()
    pooled = set()
    for state in group.instance_states:
        if state.instance.id in launched and stock:
            state.instance.image_id = stock.pop()
            pooled.add(state.instance.id)
    return pooled


def _start_ecs_agents(group: Any, launched: Sequence[str]) -> None:
    """An ECS host's agent registers the instance in its cluster when it boots (ECS Developer Guide,
    "Amazon ECS container instance"); moto registers nothing by itself."""
    cluster = current_state().ecs_agents.get(group.name)
    if cluster is None:
        return
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[group.account_id][group.region]
    for instance_id in launched:
        backend.register_container_instance(cluster, instance_id)


def ecs_agent(group: str, cluster: str | None) -> None:
    """The group's instances run an ECS agent configured for `cluster` (None: no agent, or a broken one)."""
    if cluster is None:
        current_state().ecs_agents.pop(group, None)
    else:
        current_state().ecs_agents[group] = cluster


def _enter_launch_hooks(group: Any, launched: Sequence[str]) -> None:
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
            deadline = clock() + timedelta(seconds=hook.heartbeat_timeout)
            current_state().in_launch_hook[state.instance.id] = (
                hook.name,
                deadline,
                clock,
                hook.default_result,
            )


def _expire_launch_hooks(group: Any) -> None:
    for state in list(group.instance_states):
        held = current_state().in_launch_hook.get(state.instance.id)
        if held is None or state.lifecycle_state != "Pending:Wait":
            continue
        name, deadline, clock, result = held
        if clock() < deadline:
            continue
        _complete_launch_hook(group, state, result, f"heartbeat of lifecycle hook {name} timed out")


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


def _lifecycle_hooks_like_aws(response_class: Any) -> None:
    """CompleteLifecycleAction (what CodeDeploy calls when its deployment to the instance ends), and a
    warm pool that remembers the image its instances were launched with; moto has neither."""
    from moto.core.responses import EmptyResult

    def complete_lifecycle_action(self: Any) -> Any:
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        instance_id = self._get_param("InstanceId")
        for state in list(group.instance_states):
            if state.instance.id == instance_id and state.lifecycle_state == "Pending:Wait":
                result = self._get_param("LifecycleActionResult", "CONTINUE")
                _complete_launch_hook(group, state, result, "the lifecycle action was completed with ABANDON")
        return EmptyResult()

    response_class.complete_lifecycle_action = complete_lifecycle_action
    original_put_warm_pool = response_class.put_warm_pool

    def put_warm_pool(self: Any) -> Any:
        result = original_put_warm_pool(self)
        group = self.autoscaling_backend.autoscaling_groups[self._get_param("AutoScalingGroupName")]
        size = int(self._get_param("MinSize") or 1)
        current_state().warm_pools[group.name] = [group.image_id] * size
        return result

    response_class.put_warm_pool = put_warm_pool


LAUNCH_TRANSITION = "autoscaling:EC2_INSTANCE_LAUNCHING"


def _ecs_like_aws() -> None:
    """ECS as AWS documents it where moto differs:
    - DescribeCapacityProviders without names describes every capacity provider (moto fails);
    - managed instance draining is on by default when a capacity provider is created (ECS Developer
      Guide, "Configuring Amazon ECS capacity providers to safely shut down instances");
    - a DRAINING container instance's service tasks are stopped and started elsewhere (ECS Developer
      Guide, "Container instance draining"); standalone tasks stay until they stop on their own. moto
      never moves a task: here service tasks (startedBy ecs-svc/...) leave after the cluster's drain
      time (drain_time(), default: at once)."""
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_describe_providers = EC2ContainerServiceBackend.describe_capacity_providers

    def describe_capacity_providers(self: Any, names: list[str] | None) -> Any:
        return original_describe_providers(self, names or list(self.capacity_providers))

    EC2ContainerServiceBackend.describe_capacity_providers = describe_capacity_providers  # type: ignore[method-assign]
    original_create_provider = EC2ContainerServiceBackend.create_capacity_provider

    def create_capacity_provider(self: Any, name: str, asg_details: dict[str, Any], tags: Any) -> Any:
        asg_details.setdefault("managedDraining", "ENABLED")
        return original_create_provider(self, name, asg_details, tags)

    EC2ContainerServiceBackend.create_capacity_provider = create_capacity_provider  # type: ignore[method-assign]
    original_update = EC2ContainerServiceResponse.update_container_instances_state

    def update_container_instances_state(self: Any) -> Any:
        result = original_update(self)
        cluster = self._get_param("cluster").split("/")[-1]
        clock = current_state().drain_times.get(cluster, (0.0, lambda: datetime.now(UTC)))[1]
        for arn in self._get_param("containerInstances"):
            instance_id = arn.split("/")[-1]
            if self._get_param("status").upper() == "DRAINING":
                current_state().draining_since.setdefault(instance_id, (clock(), clock))
            else:
                current_state().draining_since.pop(instance_id, None)
        return result

    EC2ContainerServiceResponse.update_container_instances_state = update_container_instances_state  # type: ignore[method-assign]
    original_describe = EC2ContainerServiceResponse.describe_container_instances

    def describe_container_instances(self: Any) -> Any:
        cluster = self._get_param("cluster").split("/")[-1]
        seconds = current_state().drain_times.get(cluster, (0.0, None))[0]
        backend = self.ecs_backend
        for instance_id, (since, clock) in list(current_state().draining_since.items()):
            if clock() < since + timedelta(seconds=seconds):
                continue
            for task in list(backend.tasks.get(cluster, {}).values()):
                on_it = (task.container_instance_arn or "").endswith(instance_id)
                if on_it and task.last_status == "RUNNING" and str(task.started_by).startswith("ecs-svc/"):
                    backend.stop_task(cluster, task.task_arn, "Service is draining this container instance")
        return original_describe(self)

    EC2ContainerServiceResponse.describe_container_instances = describe_container_instances  # type: ignore[method-assign]


def drain_time(cluster: str, seconds: float, clock: Clock | None = None) -> None:
    """Service tasks leave a DRAINING container instance of `cluster` after `seconds` on `clock`."""
    current_state().drain_times[cluster] = (seconds, clock or (lambda: datetime.now(UTC)))


def hook_clock(group: str, clock: Clock) -> None:
    """The clock the group's launch hook heartbeats time out on (a simulated one under the runner)."""
    current_state().hook_clocks[group] = clock


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


SSM_ALIAS = "resolve:ssm:"


def _ssm_value(alias: str, account: str, region: str) -> str | None:
    from moto.ssm.models import ssm_backends

    found = ssm_backends[account][region].get_parameter(alias.removeprefix(SSM_ALIAS))
    return str(found.value) if found is not None else None


def _resolve_ssm_aliases() -> None:
    """A launch template ImageId may be `resolve:ssm:<parameter>`. AWS (EC2 User Guide, "Use a Systems
    Manager parameter instead of an AMI ID") resolves it when an instance launches, and
    DescribeLaunchTemplateVersions resolves it when asked with ResolveAlias=true; moto does neither.
    An alias whose parameter is missing stays unresolved here (recycler treats that as unknown)."""
    from moto.autoscaling.models import FakeAutoScalingGroup
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original_image = FakeAutoScalingGroup.image_id

    def image_id(self: Any) -> Any:
        image = original_image.fget(self)  # type: ignore[attr-defined]
        if isinstance(image, str) and image.startswith(SSM_ALIAS):
            return _ssm_value(image, self.account_id, self.region) or image
        return image

    FakeAutoScalingGroup.image_id = property(image_id)  # type: ignore[assignment,method-assign]
    original_describe = LaunchTemplates.describe_launch_template_versions

    def describe_launch_template_versions(self: Any) -> Any:
        result = original_describe(self)
        if str(self._get_param("ResolveAlias", "false")).lower() != "true":
            return result
        body: Any = result.result
        for version in body["LaunchTemplateVersions"]:
            data = dict(version["LaunchTemplateData"])  # moto hands out the stored dict: copy it
            image = data.get("ImageId")
            if isinstance(image, str) and image.startswith(SSM_ALIAS):
                data["ImageId"] = _ssm_value(image, self.current_account, self.region) or image
            version["LaunchTemplateData"] = data
        return result

    LaunchTemplates.describe_launch_template_versions = describe_launch_template_versions  # type: ignore[method-assign]


def set_image_created(image_id: str, created: datetime, region: str, account: str = DEFAULT_ACCOUNT) -> None:
    """An AMI's CreationDate (moto stamps its stock images with the time the backend started)."""
    from moto.ec2.models import ec2_backends

    image = ec2_backends[account][region].amis[image_id]
    image.creation_date = created.astimezone(UTC).replace(tzinfo=None)


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


def hold_pending(instance_ids: Sequence[str], reads: int, account: str = DEFAULT_ACCOUNT) -> None:
    """Keep instances launching (Pending) for `reads` DescribeAutoScalingGroups reads, like a slow boot."""
    for group in _groups(account):
        for state in group.instance_states:
            if state.instance.id in instance_ids:
                state.lifecycle_state = "Pending"
                current_state().slow_instances[state.instance.id] = reads


def _sabotage_target_health() -> None:
    from moto.elbv2.models import FakeHealthStatus
    from moto.elbv2.responses import ELBV2Response

    original = ELBV2Response.describe_target_health

    def describe_target_health(self: Any) -> Any:
        result = original(self)
        body: Any = result.result
        descriptions = body["TargetHealthDescriptions"]
        body["TargetHealthDescriptions"] = [
            FakeHealthStatus(
                d.instance_id,
                d.port,
                d.health_check_port,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            )
            if d.instance_id in current_state().unhealthy_targets
            else d
            for d in descriptions
        ]
        return result

    ELBV2Response.describe_target_health = describe_target_health  # type: ignore[method-assign]


def add_activity(
    group: str,
    status: str,
    description: str,
    message: str = "",
    when: datetime | None = None,
    cause: str = "injected by the emulator",
) -> None:
    current_state().activities[group].append(
        {
            "ActivityId": f"act-{len(current_state().activities[group]) + 1}",
            "AutoScalingGroupName": group,
            "Description": description,
            "Cause": cause,
            "StartTime": when or datetime.now(UTC),
            "StatusCode": status,
            "StatusMessage": message,
            "Progress": 100 if status in ("Successful", "Failed", "Cancelled") else 30,
        }
    )


def add_instance_refresh(group: str, status: str = "InProgress") -> None:
    current_state().instance_refreshes[group].append(
        {"InstanceRefreshId": f"refresh-{group}", "AutoScalingGroupName": group, "Status": status}
    )


# ---- seeding helpers shared by the demo and the tests -----------------------------------------


def backdate(
    instance_ids: list[str], launched_at: datetime, region: str, account: str = DEFAULT_ACCOUNT
) -> None:
    """Set instances' LaunchTime in the emulator's EC2 backend (moto stamps creation time)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    for instance_id in instance_ids:
        backend.get_instance(instance_id).launch_time = launched_at.astimezone(UTC).replace(tzinfo=None)


def group_instances(autoscaling: Any, name: str) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return [i["InstanceId"] for i in groups[0]["Instances"]] if groups else []


def create_launch_template(ec2: Any, name: str, image: str) -> str:
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    return str(template)


def publish_image(ec2: Any, template_id: str, image: str) -> None:
    """A new launch template version: what a patched-AMI pipeline does; $Latest now boots `image`."""
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": image}
    )


def create_group(
    autoscaling: Any,
    name: str,
    template_id: str,
    *,
    size: int,
    max_size: int | None = None,
    tags: dict[str, str] | None = None,
    target_group_arns: list[str] | None = None,
    version: str = "$Latest",
    zone: str = "us-east-1a",
    grace_seconds: int = 5,
) -> list[str]:
    """Create a group at `size` instances launched from `version`, returning their ids. The grace
    period is short so drills that really sleep (demo, CLI tests) wait seconds, not minutes."""
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": version},
        MinSize=min(size, 1),
        MaxSize=max_size if max_size is not None else size + 1,
        DesiredCapacity=size,
        AvailabilityZones=[zone],
        HealthCheckGracePeriod=grace_seconds,
        TargetGroupARNs=target_group_arns or [],
        Tags=group_tags(name, tags or {}),
    )
    return group_instances(autoscaling, name)


def group_tags(name: str, tags: dict[str, str]) -> list[TagTypeDef]:
    """Tags in the shape CreateAutoScalingGroup takes."""
    return [
        {
            "Key": k,
            "Value": v,
            "PropagateAtLaunch": False,
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
        }
        for k, v in tags.items()
    ]


def create_aged_group(
    autoscaling: Any,
    name: str,
    template_id: str,
    ages_days: Sequence[float],
    now: datetime,
    *,
    region: str,
    max_size: int | None = None,
    tags: dict[str, str] | None = None,
    target_group_arns: list[str] | None = None,
    grace_seconds: int = 5,
) -> list[str]:
    """A group with one instance per age (days before `now`), launched from the template's version 1;
    its replacements launch from $Latest, where publish_image() puts a patched image."""
    ids = create_group(
        autoscaling,
        name,
        template_id,
        size=len(ages_days),
        max_size=max_size,
        tags=tags,
        target_group_arns=target_group_arns,
        version="1",
        zone=f"{region}a",
        grace_seconds=grace_seconds,
    )
    for instance_id, age in zip(ids, ages_days, strict=True):
        backdate([instance_id], now - timedelta(days=age), region)
    point_group_at(autoscaling, name, template_id, "$Latest")
    return ids


def stock_images(ec2: Any, count: int = 2) -> list[str]:
    """The first `count` of the emulator's stock AMIs, in a stable order (old image first)."""
    return sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[:count]


def point_group_at(autoscaling: Any, name: str, template_id: str, version: str) -> None:
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template_id, "Version": version}
    )


def create_target_group(ec2: Any, elbv2: Any, name: str) -> str:
    """An instance target group in a new VPC; returns its ARN."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return str(
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
    )


def create_ledger_table(dynamodb: Any, name: str) -> None:
    """The same key schema infra/ledger.py deploys."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "group_name", "KeyType": "HASH"},
            {"AttributeName": "record", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "group_name", "AttributeType": "S"},
            {"AttributeName": "record", "AttributeType": "S"},
        ],
    )


def create_alert_topic(sns: Any, sqs: Any, name: str = "recycler-alerts") -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed, so what was published can be read back."""
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(topic_arn), str(queue_url)


def published(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Drain the tap queue: [{"Subject": ..., "Message": ...}] in publish order."""
    messages: list[dict[str, str]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return messages
        for message in batch:
            body = json.loads(message["Body"])
            messages.append({"Subject": body.get("Subject", ""), "Message": body.get("Message", "")})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


# ---- container hosts (ECS) ----------------------------------------------------------------------


def create_ecs_cluster(
    ecs: Any, name: str, instance_ids: Sequence[str], group: str | None = None
) -> dict[str, str]:
    """An ECS cluster with the instances registered as container instances (what each instance's ECS
    agent does at boot), and the group's future instances too; returns EC2 instance id -> container
    instance ARN."""
    ecs.create_cluster(clusterName=name)
    if group is not None:
        ecs_agent(group, name)
    ecs.register_task_definition(
        family=f"{name}-app", containerDefinitions=[{"name": "app", "image": "app", "memory": 64, "cpu": 64}]
    )
    return register_container_instances(ecs, name, instance_ids)


def register_container_instances(ecs: Any, cluster: str, instance_ids: Sequence[str]) -> dict[str, str]:
    return {
        instance_id: ecs.register_container_instance(
            cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance_id})
        )["containerInstance"]["containerInstanceArn"]
        for instance_id in instance_ids
    }


def run_tasks(
    ecs: Any, cluster: str, container_instance: str, *, service: int = 0, standalone: int = 0
) -> None:
    """Tasks on one container instance: `service` tasks belong to a service (they move off a DRAINING
    instance), `standalone` ones were started by hand (they stay until they stop)."""
    for count, started_by in ((service, f"ecs-svc/{cluster}-web"), (standalone, "operator")):
        for _ in range(count):
            ecs.start_task(
                cluster=cluster,
                taskDefinition=f"{cluster}-app",
                containerInstances=[container_instance],
                startedBy=started_by,
            )


def create_capacity_provider(
    ecs: Any, name: str, group_arn: str, cluster: str | None = None, *, managed_draining: bool = True
) -> None:
    ecs.create_capacity_provider(
        name=name,
        autoScalingGroupProvider={
            "autoScalingGroupArn": group_arn,
            "managedDraining": "ENABLED" if managed_draining else "DISABLED",
        },
    )
    if cluster is not None:
        ecs.put_cluster_capacity_providers(
            cluster=cluster, capacityProviders=[name], defaultCapacityProviderStrategy=[]
        )
