"""Safety properties the mutation audit (issue 29) found unguarded, each observed at the emulator (what
AWS would have seen), never in recycler's own report. `python -m tests.faults.mutations` proves each one
fails when its guard is mutated away."""

from __future__ import annotations

from typing import Any

import pytest
from aws_durable_execution_sdk_python.exceptions import RetryableSerDesError

from recycler import durable
from recycler.aws.fleet import Fleet
from recycler.local import emulator
from recycler.local.emulator.target_health import replacements_unhealthy_in
from recycler.workflow.health import HealthCheck
from recycler.workflow.state import HealthState
from tests.conftest import Stack, run_durable
from tests.faults.harness import assert_no_worse, healthy, outcome, recycle

Timeline = list[tuple[str, str, int | None]]


def terminates(timeline: Timeline) -> list[str]:
    """Instance ids of every TerminateInstanceInAutoScalingGroup the emulator received, in order."""
    return [who for kind, who, _ in timeline if kind == "terminate"]


# ---- at most once: an invocation that dies between the terminate and its checkpoint -------------------


def test_an_invocation_lost_after_the_terminate_never_sends_it_again(
    stack: Stack, ecs_timeline: Timeline, invocations: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The terminate reaches Auto Scaling, then the invocation dies before the step's result is
    checkpointed (Lambda's timeout, an out-of-memory kill). The SDK's own path for that is a
    RetryableSerDesError while serializing the result: the invocation fails and is retried, the step's
    START checkpoint stays. An at-most-once step then fails as interrupted; an at-least-once one would
    run its body, the terminate, again."""
    ids = stack.world.group("web", [9, 5, 4])
    sent = {"terminated": False, "lost": 0}
    terminate, serialize = Fleet.terminate, durable.CompactJson.serialize

    def terminating(self: Fleet, instance_id: str, *, decrement: bool) -> str:
        result = terminate(self, instance_id, decrement=decrement)
        sent["terminated"] = True
        return result

    def losing(self: durable.CompactJson, value: Any, context: Any) -> str:
        if sent["terminated"] and not sent["lost"]:
            sent["lost"] += 1  # the terminate step's own result: the first serialize after the call
            raise RetryableSerDesError("the invocation died before the checkpoint")
        return serialize(self, value, context)

    monkeypatch.setattr(Fleet, "terminate", terminating)
    monkeypatch.setattr(durable.CompactJson, "serialize", losing)
    done = run_durable({"poll_seconds": 15})
    assert sent["lost"] == 1, "the fault was never injected"
    assert len(invocations) >= 2, "the lost invocation should have been retried"
    assert terminates(ecs_timeline) == [ids[0]], ecs_timeline
    assert done.status == "SUCCEEDED", done.error
    # The report says what may have happened, never "nothing was terminated" after a terminate was sent.
    assert done.report is not None
    [web] = done.report["groups"]
    assert (
        "nothing was terminated" not in web["detail"]
        and "terminate of victim" in web["detail"]
        and "may have reached AWS" in web["detail"]
    ), web


# ---- stop after failures: failures that ended in different invocations --------------------------------


def in_service(stack: Stack, group: str) -> set[str]:
    return {
        i["InstanceId"]
        for i in stack.group_state(group)["Instances"]
        if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
    }


def test_stop_after_failures_counts_failures_from_earlier_invocations(
    stack: Stack,
    ecs_timeline: Timeline,
    invocations: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """failures_before_stop=2, one group at a time: g0's replacement is Unhealthy at its first poll, g1's
    stays Pending until its health timeout, many suspended polls (invocations) later. g2 must not start.
    A count kept in memory would have forgotten g0 by then: the map returns finished branches from
    their checkpoints without running them again."""
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "1")
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "2")
    world = stack.world
    g0 = world.group("g0", [30, 1])
    g1 = world.group("g1", [29, 1])
    g2 = world.group("g2", [28, 1])
    stack.prove(world.images[0])  # no canary phase: one window, the blast-radius rule alone decides
    emulator.sabotage("g0", "unhealthy")
    emulator.sabotage("g1", "slow", slow_reads=1000)
    ended_in: dict[str, int] = {}  # group -> the invocation its health wait ended in
    poll = HealthCheck.poll

    def polling(self: HealthCheck, state: HealthState) -> HealthState:
        result = poll(self, state)
        if result.done:
            ended_in.setdefault(self.group, len(invocations))
        return result

    monkeypatch.setattr(HealthCheck, "poll", polling)
    done = run_durable({"poll_seconds": 15, "health_timeout_seconds": 60})
    assert done.status == "SUCCEEDED", done.error
    assert ended_in["g0"] < ended_in["g1"], f"staging: both waits ended in one invocation {ended_in}"
    # What Auto Scaling saw: g0's and g1's victims terminated, nothing of g2's.
    assert terminates(ecs_timeline) == [g0[0], g1[0]], ecs_timeline
    assert in_service(stack, "g2") == set(g2)


# ---- every target group: the replacement fails the second target group's check only ---------------


def test_a_surge_instance_failing_only_its_second_target_group_is_rolled_back(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    """Surge mode, two target groups: the surge instance passes the first and fails the second. The
    recycle fails: at the emulator the surge instance is removed again and the victim never terminated,
    so the group ends as it began. A check of the first target group alone would terminate the victim."""
    session = stack.world.session
    ec2, elbv2 = session.client("ec2"), session.client("elbv2")
    first = emulator.create_target_group(ec2, elbv2, "web-http")
    second = emulator.create_target_group(ec2, elbv2, "web-grpc")
    ids = stack.world.group(
        "web", [9, 5], tags={"recycler:mode": "surge"}, max_size=3, target_group_arns=[first, second]
    )
    replacements_unhealthy_in("web", "web-grpc")
    before = healthy(stack.world)
    report = recycle(stack, health_timeout_seconds=60)
    # What the emulator saw: the surge instance passed the first target group and failed the second;
    # the only terminate was of the surge instance itself, and the group is back as it began.
    [surge_instance] = terminates(ecs_timeline)
    assert surge_instance not in ids
    assert target_state(elbv2, first, surge_instance) == "healthy"
    assert target_state(elbv2, second, surge_instance) == "unhealthy"
    group = stack.group_state("web")
    assert group["DesiredCapacity"] == 2
    assert in_service(stack, "web") == set(ids)
    assert_no_worse(before, healthy(stack.world))
    assert outcome(report, "web")[0] == "failed"


def target_state(elbv2: Any, arn: str, instance_id: str) -> str:
    found = elbv2.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    return str(next(d["TargetHealth"]["State"] for d in found if d["Target"]["Id"] == instance_id))


# ---- surge on ECS hosts: the victim is drained only once the surge instance is verified ----------------


def ecs_surge_group(stack: Stack) -> list[str]:
    """Three ECS hosts of cluster `prod` that recycler drains itself, recycled in surge mode; two service
    tasks on each."""
    world = stack.world
    tags = {"recycler:ecs-cluster": "prod", "recycler:mode": "surge"}
    ids = world.group("apps", [9, 5, 2], tags=tags, max_size=4)
    ecs = world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", ids, group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=2)
    return ids


def test_a_surge_drains_the_victim_only_after_the_surge_instance_is_in_service_and_healthy(
    stack: Stack, ecs_timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The surge instance boots over a few polls. The DRAINING call must reach ECS only after it is
    InService+Healthy in the group and ACTIVE in the cluster: drained earlier, the victim's tasks have
    nowhere new to go, and a surge instance that then fails leaves the group short of a host."""
    from moto.autoscaling.models import autoscaling_backends
    from moto.ecs.models import ecs_backends
    from moto.ecs.responses import EC2ContainerServiceResponse

    ids = ecs_surge_group(stack)
    emulator.sabotage("apps", "slow", slow_reads=3)
    at_drain: list[dict[str, tuple[str, str, str]]] = []  # instance -> (lifecycle, health, ECS status)
    update = EC2ContainerServiceResponse.update_container_instances_state

    def drained(self: Any) -> Any:
        if self._get_param("status") == "DRAINING":
            backend = ecs_backends[emulator.DEFAULT_ACCOUNT]["us-east-1"]
            in_ecs = {c.ec2_instance_id: c.status for c in backend.container_instances["prod"].values()}
            group = autoscaling_backends[emulator.DEFAULT_ACCOUNT]["us-east-1"].autoscaling_groups["apps"]
            at_drain.append(
                {
                    s.instance.id: (s.lifecycle_state, s.health_status, in_ecs.get(s.instance.id, "-"))
                    for s in group.instance_states
                }
            )
        return update(self)

    monkeypatch.setattr(EC2ContainerServiceResponse, "update_container_instances_state", drained)
    report = recycle(stack)
    assert outcome(report, "apps") == ("recycled", "oldest-instance")
    kinds = [(kind, who) for kind, who, _ in ecs_timeline]
    assert kinds == [("surge", "apps"), ("DRAINING", ids[0]), ("terminate", ids[0])], ecs_timeline
    [seen] = at_drain
    [surge_instance] = set(seen) - set(ids)
    assert seen[surge_instance] == ("InService", "Healthy", "ACTIVE"), seen


# ---- a drain is waited out: the terminate comes once no task runs on the victim ------------------------


def test_the_victim_is_terminated_only_once_its_drain_left_no_task_running(
    stack: Stack, ecs_timeline: Timeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three service tasks leave the DRAINING victim one per read of the cluster (the emulator's
    default drain). recycler must poll until none is left: the terminate arrives with 0 tasks, after
    reads that saw 2, then 1, then 0 running."""
    from moto.ecs.models import ecs_backends
    from moto.ecs.responses import EC2ContainerServiceResponse

    world = stack.world
    ids = world.group("apps", [9, 5, 2], tags={"recycler:ecs-cluster": "prod"}, max_size=4)
    ecs = world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", ids, group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=3)
    reads: list[
        tuple[str, int]
    ] = []  # the victim's (status, running tasks) each read before the terminate saw
    describe = EC2ContainerServiceResponse.describe_container_instances

    def reading(self: Any) -> Any:
        answer = describe(self)
        backend = ecs_backends[emulator.DEFAULT_ACCOUNT]["us-east-1"]
        for found in backend.container_instances.get("prod", {}).values():
            if found.ec2_instance_id == ids[0] and ("terminate", ids[0], 0) not in ecs_timeline:
                reads.append((found.status, found.running_tasks_count))
        return answer

    monkeypatch.setattr(EC2ContainerServiceResponse, "describe_container_instances", reading)
    report = recycle(stack)
    assert ecs_timeline[:2] == [("DRAINING", ids[0], 3), ("terminate", ids[0], 0)], ecs_timeline
    assert [tasks for status, tasks in reads if status == "DRAINING"] == [2, 1, 0], reads
    assert outcome(report, "apps") == ("recycled", "oldest-instance")
