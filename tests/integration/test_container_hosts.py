"""Container hosts and lifecycle hooks: ECS instances are drained before they are terminated, Kubernetes
nodes only go through a termination hook that drains them, launch hooks lengthen the health wait,
Standby instances are left alone, and a warm pool is named when it hands out an old image."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import pytest

from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.report import GroupReport, RunReport
from recycler.workflow.run import run
from tests.conftest import NOW, Stack, World
from tests.faults.harness import services

Timeline = list[tuple[str, str, int | None]]
HOOK = "CodeDeploy-managed-automatic-launch-deployment-hook-web-1a2b3c"


def ecs_group(
    world: World, name: str, cluster: str, *, tags: dict[str, str] | None = None, **kw: Any
) -> list[str]:
    """A group whose instances are container instances of `cluster`, each running 2 service tasks."""
    ids = world.group(name, [9, 5, 2], tags=tags, **kw)
    ecs = world.session.client("ecs")
    arns = emulator.create_ecs_cluster(ecs, cluster, ids, group=name)
    for arn in arns.values():
        emulator.run_tasks(ecs, cluster, arn, service=2)
    return ids


def recycle(stack: Stack, port: LocalPort | None = None, **payload: Any) -> RunReport:
    payload = {"poll_seconds": 5, "health_timeout_seconds": 120, **payload}
    return run(port or LocalPort(sleep=lambda _: None), services(stack), Settings(), ManualPayload(**payload))


def only(report: RunReport, group: str) -> GroupReport:
    return next(g for g in report.groups if g.group == group)


def container_state(world: World, cluster: str, instance_id: str) -> tuple[str, int]:
    ecs = world.session.client("ecs")
    arns = ecs.list_container_instances(cluster=cluster)["containerInstanceArns"]
    for found in ecs.describe_container_instances(cluster=cluster, containerInstances=arns)[
        "containerInstances"
    ]:
        if found["ec2InstanceId"] == instance_id:
            return found["status"], found["runningTasksCount"]
    raise AssertionError(f"{instance_id} is not a container instance of {cluster}")


def test_an_ecs_host_is_drained_before_its_instance_is_terminated(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    ids = ecs_group(stack.world, "apps", "prod", tags={"recycler:ecs-cluster": "prod"})
    stack.world.publish_patched_image()
    report = recycle(stack)
    apps = only(report, "apps")
    assert (apps.outcome, apps.container_host) == ("recycled", "ecs:prod (drained by recycler)")
    assert ecs_timeline == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]


def test_a_capacity_provider_with_managed_draining_is_left_to_ecs(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    ids = ecs_group(stack.world, "apps", "prod")
    ecs = stack.world.session.client("ecs")
    emulator.create_capacity_provider(
        ecs, "apps-cp", stack.group_state("apps")["AutoScalingGroupARN"], "prod"
    )
    apps = only(recycle(stack), "apps")
    assert (apps.outcome, apps.container_host) == ("recycled", "ecs:prod (ECS managed draining)")
    assert ecs_timeline == [("terminate", ids[0], 2)]  # ECS drains it in its own termination hook


def test_a_capacity_provider_without_managed_draining_is_drained_by_recycler(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    ids = ecs_group(stack.world, "apps", "prod")
    ecs = stack.world.session.client("ecs")
    arn = stack.group_state("apps")["AutoScalingGroupARN"]
    emulator.create_capacity_provider(ecs, "apps-cp", arn, "prod", managed_draining=False)
    apps = only(recycle(stack), "apps")
    assert (apps.outcome, apps.container_host) == ("recycled", "ecs:prod (drained by recycler)")
    assert ecs_timeline == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]


def test_surge_drains_only_after_the_surge_instance_is_healthy(stack: Stack, ecs_timeline: Timeline) -> None:
    ids = ecs_group(
        stack.world,
        "apps",
        "prod",
        tags={"recycler:ecs-cluster": "prod", "recycler:mode": "surge"},
        max_size=4,
    )
    apps = only(recycle(stack), "apps")
    assert apps.outcome == "recycled"
    assert ecs_timeline == [("surge", "apps", None), ("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]


@pytest.mark.parametrize("tag", ["kubernetes.io/cluster/prod", "eks:cluster-name"])
def test_a_kubernetes_node_group_without_a_drain_hook_is_skipped(
    stack: Stack, terminations: list[Any], tag: str
) -> None:
    stack.world.group("nodes", [9, 5], tags={tag: "owned" if tag.startswith("kubernetes") else "prod"})
    nodes = only(recycle(stack), "nodes")
    assert (nodes.outcome, nodes.reason) == ("skipped", "no-drain-hook")
    assert (
        "Kubernetes cluster prod" in nodes.detail
        and "--lifecycle-transition autoscaling:EC2_INSTANCE_TERMINATING" in nodes.detail
    )
    assert terminations == []


def test_a_kubernetes_node_group_with_a_drain_hook_is_recycled(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("nodes", [9, 5], tags={"eks:cluster-name": "prod"})
    stack.world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName="nodes",
        LifecycleHookName="drain-node",
        LifecycleTransition="autoscaling:EC2_INSTANCE_TERMINATING",
        HeartbeatTimeout=300,
        DefaultResult="CONTINUE",
    )
    nodes = only(recycle(stack), "nodes")
    assert (nodes.outcome, nodes.container_host) == (
        "recycled",
        "kubernetes:prod (drained by its termination lifecycle hook)",
    )
    assert terminations == [(ids[0], False)]


def launch_hook(world: World, group: str, heartbeat: int = 600) -> None:
    world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=group,
        LifecycleHookName=HOOK,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=heartbeat,
        DefaultResult="ABANDON",
    )


def test_a_launch_hook_lengthens_the_health_timeout_unless_a_tag_sets_it(stack: Stack) -> None:
    world = stack.world
    world.group("deployed", [9, 5], grace_seconds=60)
    world.group("pinned", [9, 5], grace_seconds=60, tags={"recycler:health-timeout-minutes": "20"})
    world.group("plain", [9, 5], grace_seconds=60)
    launch_hook(world, "deployed", heartbeat=1800)
    launch_hook(world, "pinned", heartbeat=1800)
    report = run(LocalPort(), services(stack), Settings(), ManualPayload(dry_run=True))
    deployed, pinned, plain = (only(report, g) for g in ("deployed", "pinned", "plain"))
    assert deployed.health_timeout_seconds == 60 + 1800 + 600  # grace + longest launch hook + margin
    assert f"waits out launch hook {HOOK} (1800 s heartbeat)" in deployed.detail
    assert pinned.health_timeout_seconds == 20 * 60
    assert plain.health_timeout_seconds == 60 + 600


def test_the_wait_reports_a_replacement_held_in_its_launch_hook_in_plain_words(stack: Stack) -> None:
    world = stack.world
    world.group("deployed", [9, 5])
    launch_hook(world, "deployed")
    details: list[str] = []

    def polled(name: str, state: Any) -> None:
        details.append(state.detail)
        if len(details) == 2:  # the deployment finishes: CodeDeploy completes the lifecycle action
            for instance in world.autoscaling.describe_auto_scaling_groups(
                AutoScalingGroupNames=["deployed"]
            )["AutoScalingGroups"][0]["Instances"]:
                if instance["LifecycleState"] == "Pending:Wait":
                    world.autoscaling.complete_lifecycle_action(
                        AutoScalingGroupName="deployed",
                        LifecycleHookName=HOOK,
                        InstanceId=instance["InstanceId"],
                        LifecycleActionResult="CONTINUE",
                    )

    report = recycle(stack, LocalPort(sleep=lambda _: None, on_poll=polled))
    assert only(report, "deployed").outcome == "recycled"
    assert "is waiting in a launch lifecycle hook (Pending:Wait)" in details[0]


def test_standby_instances_are_neither_candidates_nor_unsteady(stack: Stack, terminations: list[Any]) -> None:
    world = stack.world
    ids = world.group("web", [30, 9, 5])
    world.autoscaling.enter_standby(
        InstanceIds=[ids[0]], AutoScalingGroupName="web", ShouldDecrementDesiredCapacity=True
    )
    web = only(recycle(stack), "web")
    assert (web.outcome, web.standby_instances) == ("recycled", 1)
    assert terminations == [(ids[1], False)]  # the oldest in service, never the parked one


def test_a_warm_pool_is_named_when_the_replacement_brings_the_old_image(stack: Stack) -> None:
    world = stack.world
    world.group("web", [9, 5])
    world.autoscaling.put_warm_pool(AutoScalingGroupName="web", MinSize=1)  # filled with today's image
    world.publish_patched_image()
    web = only(recycle(stack), "web")
    assert (web.outcome, web.warm_pool) == ("recycled", True)
    assert web.replacement is not None and web.replacement.ami_refreshed is False
    assert "came from the group's warm pool" in web.detail


def test_a_container_instance_deregistered_while_draining_counts_as_drained(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    from tests.faults.harness import FaultPort

    ids = ecs_group(stack.world, "apps", "prod", tags={"recycler:ecs-cluster": "prod"})
    ecs = stack.world.session.client("ecs")
    emulator.drain_time("prod", 3600)  # its tasks would take an hour to move

    def deregister() -> None:  # someone removes it from the cluster (its tasks stop with it)
        arns = ecs.list_container_instances(cluster="prod")["containerInstanceArns"]
        found = ecs.describe_container_instances(cluster="prod", containerInstances=arns)[
            "containerInstances"
        ]
        victim = next(c["containerInstanceArn"] for c in found if c["ec2InstanceId"] == ids[0])
        ecs.deregister_container_instance(cluster="prod", containerInstance=victim, force=True)

    report = recycle(stack, FaultPort(after={"apps:drain": deregister}))
    assert only(report, "apps").outcome == "recycled"
    assert [kind for kind, _, _ in ecs_timeline] == ["DRAINING", "terminate"]


def test_a_launch_hook_that_abandons_the_replacement_fails_the_recycle_at_once(stack: Stack) -> None:
    world = stack.world
    ids = world.group("deployed", [9, 5])
    launch_hook(world, "deployed", heartbeat=30)  # default result ABANDON: the deployment failed
    ticks = itertools.count()
    emulator.hook_clock("deployed", lambda: NOW + timedelta(seconds=20 * next(ticks)))
    deployed = only(recycle(stack), "deployed")
    assert (deployed.outcome, deployed.reason) == ("failed", "launch failed")
    assert "Lifecycle Action Completed with ABANDON Result" in deployed.detail
    group = stack.group_state("deployed")
    # Auto Scaling launched another instance for the abandoned one; the victim is gone as planned.
    assert ids[0] not in {i["InstanceId"] for i in group["Instances"]}
    assert len(group["Instances"]) == group["DesiredCapacity"] == 2
