"""Fault matrix rows for container hosts (docs/reliability.md, F29-F33): a drain that never ends, a
victim ECS does not know, ECS throttling during the drain, a launch hook nobody completes, and replays
while the drain wait is suspended. Each leaves every group as healthy as before and is reported."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recycler.aws.ecs import EcsHosts
from recycler.domain import ContainerInstance
from recycler.local import emulator
from recycler.models import Settings
from tests.conftest import NOW, Stack, World, run_durable
from tests.faults.harness import FaultPort, assert_no_worse, healthy, outcome, recycle

Timeline = list[tuple[str, str, int | None]]
HOOK = "CodeDeploy-managed-automatic-launch-deployment-hook-api-9f8e"


def ecs_group(
    world: World,
    name: str,
    *,
    standalone: int = 0,
    register: bool = True,
    tags: dict[str, str] | None = None,
) -> tuple[list[str], dict[str, str]]:
    """A group tagged as hosts of ECS cluster `prod`: 2 service tasks (+ standalone ones) on each."""
    ids = world.group(name, [9, 5, 2], tags={"recycler:ecs-cluster": "prod", **(tags or {})}, max_size=4)
    ecs = world.session.client("ecs")
    arns = emulator.create_ecs_cluster(ecs, "prod", ids if register else ids[1:], group=name)
    for arn in arns.values():
        emulator.run_tasks(ecs, "prod", arn, service=2, standalone=standalone)
    return ids, arns


def status_of(world: World, arn: str) -> str:
    ecs = world.session.client("ecs")
    return str(
        ecs.describe_container_instances(cluster="prod", containerInstances=[arn])["containerInstances"][0][
            "status"
        ]
    )


# ---- F29 drain timeout ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["replace", "surge"])
def test_f29_a_drain_that_times_out_fails_loudly_and_terminates_nothing(
    stack: Stack, ecs_timeline: Timeline, mode: str
) -> None:
    # A standalone task (started by hand, not by a service) never leaves a DRAINING instance.
    ids, arns = ecs_group(
        stack.world,
        "apps",
        standalone=1,
        tags={"recycler:mode": mode, "recycler:drain-timeout-minutes": "1"},
    )
    before = healthy(stack.world)
    report = recycle(stack)
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "drain-timeout")
    assert "drain timed out after 60 s: 1 task(s) still running" in failed.detail
    assert "set back to ACTIVE" in failed.detail and f"{ids[0]} was not terminated" in failed.detail
    assert status_of(stack.world, arns[ids[0]]) == "ACTIVE"
    assert not any(kind == "terminate" and who == ids[0] for kind, who, _ in ecs_timeline)
    assert [kind for kind, _, _ in ecs_timeline if kind in ("DRAINING", "ACTIVE")] == ["DRAINING", "ACTIVE"]
    if mode == "surge":  # the surge instance goes again: the group ends as it began
        assert "removed surge instance" in failed.detail
        assert stack.group_state("apps")["DesiredCapacity"] == 3
    assert_no_worse(before, healthy(stack.world))
    alert = stack.alerts()[0]
    assert alert["Subject"].startswith("recycler FAILED: apps - drain-timeout")
    assert (
        f"aws ecs list-container-instances --cluster prod --filter 'ec2InstanceId == {ids[0]}'"
        in alert["Message"]
    )
    assert report.failed


def deny_state(monkeypatch: pytest.MonkeyPatch, denied: str) -> None:
    """The role may not set container instances to `denied` (UpdateContainerInstancesState)."""
    original = EcsHosts.set_state

    def refuse(self: EcsHosts, cluster: str, instances: Any, status: str) -> None:
        if status == denied:
            message = "not authorized to perform ecs:UpdateContainerInstancesState"
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": message}}, "Update")
        original(self, cluster, instances, status)

    monkeypatch.setattr(EcsHosts, "set_state", refuse)


def test_a_drain_that_cannot_be_undone_prints_the_command_that_undoes_it(
    stack: Stack, ecs_timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The drain timed out and UpdateContainerInstancesState to ACTIVE is denied: the instance stays
    DRAINING (it runs no new tasks), so the report must carry the exact command a person runs."""
    ids, arns = ecs_group(stack.world, "apps", standalone=1, tags={"recycler:drain-timeout-minutes": "1"})
    deny_state(monkeypatch, "ACTIVE")
    report = recycle(stack)
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "drain-timeout")
    assert status_of(stack.world, arns[ids[0]]) == "DRAINING"  # what AWS holds: still draining
    command = (
        f"aws ecs update-container-instances-state --cluster prod --container-instances {arns[ids[0]]} "
        "--status ACTIVE"
    )
    assert "COULD NOT SET IT BACK TO ACTIVE (AccessDeniedException" in failed.detail
    assert command in failed.detail
    assert not any(kind == "terminate" for kind, _, _ in ecs_timeline)


def test_a_host_ecs_refuses_to_drain_is_not_terminated(
    stack: Stack, ecs_timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """UpdateContainerInstancesState to DRAINING is denied: its tasks were never moved, so the instance
    must not go (recycler never terminates a host it could not drain)."""
    ids, arns = ecs_group(stack.world, "apps")
    deny_state(monkeypatch, "DRAINING")
    before = healthy(stack.world)
    report = recycle(stack)
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "drain-failed")
    assert failed.detail.startswith(f"could not set {ids[0]} to DRAINING in ECS cluster prod (AccessDenied")
    assert status_of(stack.world, arns[ids[0]]) == "ACTIVE"
    assert ecs_timeline == []  # neither drained nor terminated
    assert_no_worse(before, healthy(stack.world))


def test_a_host_set_active_by_someone_else_while_draining_is_not_terminated(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    """Someone (an operator, another tool) sets the instance back to ACTIVE mid-drain: it takes tasks
    again, so the recycle stops at the next poll, says so, and terminates nothing."""
    ids, arns = ecs_group(stack.world, "apps")
    ecs = stack.world.session.client("ecs")

    def set_active() -> None:
        ecs.update_container_instances_state(
            cluster="prod", containerInstances=[arns[ids[0]]], status="ACTIVE"
        )

    report = recycle(stack, FaultPort(after={"apps:drain": set_active}))
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "drain-interrupted")
    assert "container instance was set to ACTIVE by someone else while draining" in failed.detail
    assert status_of(stack.world, arns[ids[0]]) == "ACTIVE"
    assert not any(kind == "terminate" for kind, _, _ in ecs_timeline)


# ---- F30 the victim is not a container instance -------------------------------------------------------


def test_f30_a_victim_ecs_does_not_know_is_not_terminated(stack: Stack, ecs_timeline: Timeline) -> None:
    ids, _ = ecs_group(stack.world, "apps", register=False)  # its ECS agent never registered it
    before = healthy(stack.world)
    report = recycle(stack)
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "container-instance-not-found")
    assert f"{ids[0]} is not a container instance of ECS cluster prod" in failed.detail
    assert ecs_timeline == []  # neither drained nor terminated
    assert_no_worse(before, healthy(stack.world))
    assert stack.alerts()[0]["Subject"] == "recycler FAILED: apps - container-instance-not-found"


# ---- F31 ECS throttled during the drain ----------------------------------------------------------


def test_f31_ecs_throttling_during_the_drain_is_waited_out(
    stack: Stack, ecs_timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids, _ = ecs_group(stack.world, "apps")
    throttled = {"left": 2}
    original = EcsHosts.describe

    def describe(self: EcsHosts, cluster: str, arn: str) -> ContainerInstance | None:
        if throttled["left"]:
            # What is left once botocore's own retries (adaptive mode, 10 attempts) gave up.
            throttled["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}},
                "DescribeContainerInstances",
            )
        return original(self, cluster, arn)

    monkeypatch.setattr(EcsHosts, "describe", describe)
    report = recycle(stack)
    assert throttled["left"] == 0, "the fault was never injected"
    assert outcome(report, "apps") == ("recycled", "oldest-instance")
    assert ecs_timeline == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]


# ---- F32 a launch hook nobody completes ------------------------------------------------------------


def test_f32_a_launch_hook_that_never_completes_times_out_naming_the_hook(stack: Stack) -> None:
    world = stack.world
    world.group("api", [9, 5])
    world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName="api",
        LifecycleHookName=HOOK,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=7200,  # a deployment that hangs: CodeDeploy keeps sending heartbeats
    )
    before = healthy(world)
    report = recycle(stack)  # health timeout 60 s from the payload
    failed = next(g for g in report.groups if g.group == "api")
    assert outcome(report, "api") == ("failed", f"launch hook {HOOK} not completed after 60 s")
    assert "is waiting in a launch lifecycle hook (Pending:Wait)" in failed.detail
    assert_no_worse(before, healthy(world), in_flight={"api"})
    alert = stack.alerts()[0]
    assert HOOK in alert["Subject"] and "Pending:Wait" in alert["Message"]
    assert "find the deployment that owns the hook" in alert["Message"]


# ---- F33 replays while the drain wait is suspended -----------------------------------------------------


def test_f33_replays_during_the_drain_wait_never_drain_or_terminate_twice(
    stack: Stack, ecs_timeline: Timeline, invocations: list[int]
) -> None:
    ids, _ = ecs_group(stack.world, "apps")
    ticks = itertools.count()
    # Service tasks take 10 reads of the drain (30 s each) to move: the wait suspends and replays.
    emulator.drain_time("prod", 300, clock=lambda: NOW + timedelta(seconds=30 * next(ticks)))
    done = run_durable({"poll_seconds": 30})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    [apps] = [g for g in done.report["groups"] if g["group"] == "apps"]
    assert apps["outcome"] == "recycled" and apps["container_host"] == "ecs:prod (drained by recycler)"
    assert len(invocations) >= 10  # each drain poll is a new invocation that replays the steps before it
    assert ecs_timeline == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]


# ---- F34 the replacement never joins the cluster -----------------------------------------------------


def test_f34_a_replacement_whose_ecs_agent_never_registers_fails_the_recycle(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    ids, _ = ecs_group(stack.world, "apps")
    emulator.ecs_agent("apps", None)  # the new AMI's ECS agent does not start: no tasks can land
    before = healthy(stack.world)
    report = recycle(stack)
    failed = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("failed", "replacement unhealthy after 60 s")
    assert "checks pending: ecs prod=not registered" in failed.detail
    assert ecs_timeline == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]
    assert_no_worse(before, healthy(stack.world), in_flight={"apps"})
    message = stack.alerts()[0]["Message"]
    assert "ecs prod: not registered" in message and "never joined its ECS cluster" in message


# ---- F35 a brake pulled while the drain runs ----------------------------------------------------------


def test_f35_a_kill_switch_engaged_during_the_drain_stops_the_terminate(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    ids, arns = ecs_group(stack.world, "apps")
    ssm = stack.world.session.client("ssm")
    ssm.put_parameter(Name="/recycler/kill-switch", Value="off", Type="String")

    def engage() -> None:
        ssm.put_parameter(Name="/recycler/kill-switch", Value="on", Type="String", Overwrite=True)

    report = recycle(
        stack,
        FaultPort(after={"apps:drain": engage}),
        Settings(kill_switch_parameter="/recycler/kill-switch"),
    )
    skipped = next(g for g in report.groups if g.group == "apps")
    assert outcome(report, "apps") == ("skipped", "kill-switch")
    assert "(while draining)" in skipped.detail and f"{ids[0]} was not terminated" in skipped.detail
    assert [kind for kind, _, _ in ecs_timeline] == ["DRAINING", "ACTIVE"]
    assert status_of(stack.world, arns[ids[0]]) == "ACTIVE"


def test_the_durable_run_covers_every_kind_of_container_host(stack: Stack, ecs_timeline: Timeline) -> None:
    """One scheduled run under the durable runner: an ECS host drained then recycled, a Kubernetes node
    group without a drain hook skipped, a launch hook's timeout, Standby and warm pool reported."""
    world = stack.world
    ids, _ = ecs_group(world, "apps")
    world.group("nodes", [9, 5], tags={"kubernetes.io/cluster/prod": "owned"})
    parked = world.group("web", [30, 9, 5], grace_seconds=60)
    world.autoscaling.enter_standby(
        InstanceIds=[parked[0]], AutoScalingGroupName="web", ShouldDecrementDesiredCapacity=True
    )
    world.autoscaling.put_warm_pool(AutoScalingGroupName="web", MinSize=1)
    world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName="web",
        LifecycleHookName=HOOK,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=900,
        DefaultResult="CONTINUE",
    )
    clock = itertools.count()
    emulator.hook_clock("web", lambda: NOW + timedelta(seconds=60 * next(clock)))  # the hook times out
    done = run_durable({"poll_seconds": 60})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    groups = {g["group"]: g for g in done.report["groups"]}
    assert (groups["apps"]["outcome"], groups["nodes"]["reason"]) == ("recycled", "no-drain-hook")
    assert groups["web"]["outcome"] == "recycled"
    assert groups["web"]["health_timeout_seconds"] == 60 + 900 + 600
    assert (groups["web"]["standby_instances"], groups["web"]["warm_pool"]) == (1, True)
    assert groups["web"]["victim"]["instance_id"] == parked[1]
    assert ecs_timeline[:2] == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]
    assert not any(
        who
        in world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["nodes"])[
            "AutoScalingGroups"
        ][0]["Instances"]
        for _, who, _ in ecs_timeline
    )
