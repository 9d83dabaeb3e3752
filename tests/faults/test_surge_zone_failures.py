"""A two-zone surge's failures after the victim is gone (surge.finish_in_the_victims_zone): the victim's
replacement in its own zone that never joins the ECS cluster or sits in a launch hook, a surge
instance whose drain never ends or whose terminate is denied. Once the victim is terminated, recycler
keeps the surge instance serving at desired + 1 rather than unbalance the zones, and says how to
remove it; each test reads that from the emulated AWS (instances, ECS, desired capacity, the alert),
not only from the report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from recycler.fix_commands import remove_surge_instance_command
from recycler.local import emulator
from recycler.local.port import LocalPort
from recycler.models import Settings
from tests.conftest import Stack
from tests.faults.harness import FaultPort, outcome, recycle
from tests.faults.test_fleet_realism import HOOK, hooked, run_on
from tests.faults.test_surge_zones import (
    ZONES,
    CapacityPort,
    Watch,
    placement,
    two_zone_surge,
    watch,  # noqa: F401 - the fixture
)
from tests.integration.test_container_hosts import container_state

Timeline = list[tuple[str, str, int | None]]


def ecs_two_zone_surge(stack: Stack, **tags: str) -> tuple[dict[str, str], str]:
    """two_zone_surge's group "apps" as hosts of ECS cluster prod recycler drains, 2 service tasks on
    each; the instances it launches register with prod when they boot."""
    zones, victim = two_zone_surge(stack, "apps", **{"recycler:ecs-cluster": "prod", **tags})
    ecs = stack.world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", list(zones), group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=2)
    return zones, victim


def lifecycle(stack: Stack, group: str) -> dict[str, str]:
    """Instance id -> lifecycle state, as Auto Scaling holds the group now."""
    return {i["InstanceId"]: i["LifecycleState"] for i in stack.group_state(group)["Instances"]}


def new_instance(stack: Stack, group: str, known: dict[str, str]) -> str:
    [found] = set(lifecycle(stack, group)) - set(known)
    return found


def test_a_cross_zone_replacement_that_never_joins_the_ecs_cluster_keeps_the_surge_instance(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    zones, victim = ecs_two_zone_surge(stack)
    surge: list[str] = []

    def agents_break_after_the_surge() -> None:
        surge.append(new_instance(stack, "apps", zones))  # the surge instance joined prod
        emulator.ecs_agent("apps", None)  # the victim's replacement's agent never starts

    port = FaultPort(before={"apps:terminate": agents_break_after_the_surge})
    report = recycle(stack, port)
    apps = report.groups[0]
    assert outcome(report, "apps") == ("failed", "replacement unhealthy after 60 s"), apps.detail
    assert "checks pending: ecs prod=not registered" in apps.detail
    [kept] = surge
    assert f"victim {victim} was terminated" in apps.detail
    assert remove_surge_instance_command(kept) in apps.detail
    # AWS: the surge instance still serves, registered and ACTIVE, and desired stays one up.
    states = lifecycle(stack, "apps")
    assert states[kept] == "InService" and victim not in states
    assert stack.group_state("apps")["DesiredCapacity"] == len(zones) + 1
    assert container_state(stack.world, "prod", kept)[0] == "ACTIVE"
    assert ecs_timeline == [("surge", "apps", None), ("DRAINING", victim, 2), ("terminate", victim, 0)]
    assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: apps")


# A deployment's launch hook: 300 s heartbeat timeout, so its owner heartbeats every 200 s (a 30 s hook,
# as in test_fleet_realism, costs ten times the emulated calls for the same hour). The plan's health
# timeout is then 5 + 300 + 600 = 905 s; the hook's global timeout 100 x 300 s.
HEARTBEAT, BEAT_EVERY = 300, 200


def deployment(
    stack: Stack, clock: emulator.SimulatedClock, holds: list[float]
) -> tuple[LocalPort, dict[str, float]]:
    """A port on whose simulated clock the launch hook's owner acts every BEAT_EVERY seconds: the n-th
    instance to enter the hook is heartbeated until holds[n] seconds after it entered, then completed
    with CONTINUE (seen at the next poll or beat). Also returns each wait's elapsed at its last poll, by
    step name. The owner knows the instances it deploys to: it reads them from the emulator, not with a
    DescribeAutoScalingGroups per beat."""
    entered: dict[str, Any] = {}
    waits: dict[str, float] = {}
    asg = stack.world.autoscaling

    def act(beat: bool) -> None:
        for instance_id in list(emulator.current_state().in_launch_hook):
            since = entered.setdefault(instance_id, clock())
            action = {"AutoScalingGroupName": "api", "LifecycleHookName": HOOK, "InstanceId": instance_id}
            if (clock() - since).total_seconds() >= holds[list(entered).index(instance_id)]:
                asg.complete_lifecycle_action(**action, LifecycleActionResult="CONTINUE")
            elif beat:
                asg.record_lifecycle_action_heartbeat(**action)

    def sleep(seconds: float) -> None:
        while seconds > 0:
            clock.sleep(min(BEAT_EVERY, seconds))
            seconds -= BEAT_EVERY
            act(beat=True)

    def polled(name: str, state: Any) -> None:
        waits[name] = state.elapsed
        act(beat=False)

    return LocalPort(sleep=sleep, on_poll=polled), waits


@pytest.mark.parametrize("hook", ["released-late", "held-forever"])
def test_a_cross_zone_replacement_in_a_heartbeated_launch_hook_is_waited_for_up_to_the_hook_limit(
    stack: Stack, terminations: list[Any], hook: str
) -> None:
    """The surge instance and then the victim's replacement launch into the group's launch hook (a
    deployment); its owner records heartbeats past the plan's health timeout. The replacement's wait,
    like the surge instance's, goes on up to the hook limit (context.hook_limit), and the report's wait
    is both waits."""
    zones, victim = two_zone_surge(stack, "api")
    clock = hooked(stack, "api", HEARTBEAT)
    if hook == "released-late":
        # Each deployment takes 1000 s, past the 905 s health timeout.
        port, waits = deployment(stack, clock, [1000, 1000])
        settings = Settings(failures_before_stop=10)
    else:
        # The surge instance's deployment ends at once; the replacement's is heartbeated forever. A
        # one-hour execution holds 2880 s of waits (80 %): recycler stops waiting there.
        port, waits = deployment(stack, clock, [0, float("inf")])
        settings = Settings(failures_before_stop=10, execution_timeout_hours=1)

    report = run_on(stack, port, clock, settings)
    [api] = report.groups
    if hook == "released-late":
        assert (api.outcome, api.reason) == ("recycled", "oldest-instance"), api.detail
    else:
        assert (api.outcome, api.reason) == ("failed", f"launch hook {HOOK} not completed after 2880 s")
    surge_wait, replacement_wait = waits["api:health"], waits["api:replacement-health"]
    assert api.waited_seconds == round(surge_wait + replacement_wait, 1)
    assert terminations[0] == (victim, False)
    if hook == "released-late":
        # Each instance sat 1000 s in its hook, one after the other: the report's wait holds both.
        assert replacement_wait >= 1000 and api.waited_seconds >= 2 * 1000
        assert Counter(placement(stack.world, "api").values()) == Counter(zones.values())
        assert stack.group_state("api")["DesiredCapacity"] == len(zones)
        assert stack.alerts() == []
    else:
        assert replacement_wait == 2880
        states = lifecycle(stack, "api")
        held = [i for i, s in states.items() if s == "Pending:Wait"]
        assert len(held) == 1 and victim not in states  # still held by its hook: nothing abandoned
        assert stack.group_state("api")["DesiredCapacity"] == len(zones) + 1  # the surge instance serves
        assert terminations == [(victim, False)]
        assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: api")


def container_arn(stack: Stack, instance_id: str) -> str:
    ecs = stack.world.session.client("ecs")
    arns = ecs.list_container_instances(cluster="prod")["containerInstanceArns"]
    found = ecs.describe_container_instances(cluster="prod", containerInstances=arns)["containerInstances"]
    return str(next(c["containerInstanceArn"] for c in found if c["ec2InstanceId"] == instance_id))


def test_an_ecs_surge_instance_whose_drain_never_ends_is_set_back_to_active_and_kept(
    stack: Stack, ecs_timeline: Timeline
) -> None:
    """The victim's tasks moved onto the surge instance, with a task started by hand that never leaves a
    DRAINING instance (ECS stops only service tasks: "Container instance draining",
    https://docs.aws.amazon.com/AmazonECS/latest/developerguide/container-instance-draining.html). The
    surge instance's drain times out: it goes back to ACTIVE and keeps serving; nothing else changes."""
    zones, victim = ecs_two_zone_surge(stack, **{"recycler:drain-timeout-minutes": "1"})
    ecs = stack.world.session.client("ecs")
    surge: list[str] = []

    def tasks_land_on_the_surge_instance() -> None:
        surge.append(new_instance(stack, "apps", zones))
        emulator.run_tasks(ecs, "prod", container_arn(stack, surge[0]), service=2, standalone=1)

    report = recycle(stack, FaultPort(after={"apps:zones": tasks_land_on_the_surge_instance}))
    [kept] = surge
    # ECS: the surge host takes tasks again, its hand-started task still on it; Auto Scaling: it serves.
    assert container_state(stack.world, "prod", kept) == ("ACTIVE", 1)
    assert ecs_timeline == [
        ("surge", "apps", None),
        ("DRAINING", victim, 2),
        ("terminate", victim, 0),
        ("DRAINING", kept, 3),
        ("ACTIVE", kept, 1),
    ]
    assert lifecycle(stack, "apps")[kept] == "InService"
    assert stack.group_state("apps")["DesiredCapacity"] == len(zones) + 1
    apps = report.groups[0]
    assert outcome(report, "apps") == ("failed", "drain-failed"), apps.detail
    assert apps.detail.startswith(
        f"surge instance {kept} could not be drained (drain timed out after 60 s: 1 task(s) still running"
    )
    assert "the container instance was set back to ACTIVE" in apps.detail
    assert f"desired stays at {len(zones) + 1}" in apps.detail
    assert remove_surge_instance_command(kept) in apps.detail
    alert = stack.alerts()[0]
    assert alert["Subject"].startswith("recycler FAILED: apps - drain-failed")
    assert remove_surge_instance_command(kept) in alert["Message"]


def deny_terminate(monkeypatch: pytest.MonkeyPatch, denied: Callable[[str], bool]) -> None:
    """TerminateInstanceInAutoScalingGroup is refused for the instances `denied` picks, as AWS refuses a
    call the caller's IAM policy does not allow: AccessDenied, "User: <arn> is not authorized to
    perform: <action>" (https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied-authorization-id.html,
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/ec2-auto-scaling-api-permissions.html); moto
    answers its own IAM denials with the same error. Refused in the emulator, before moto acts: botocore
    and recycler's adapter see what they would see on AWS."""
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.core.exceptions import AccessDeniedError

    emulator.install()  # wrap the emulator's methods, never be wrapped by them
    original = AutoScalingResponse.terminate_instance_in_auto_scaling_group

    def terminate(self: Any) -> Any:
        if denied(self._get_param("InstanceId")):
            role = "arn:aws:sts::123456789012:assumed-role/recycler/run"
            raise AccessDeniedError(role, "autoscaling:TerminateInstanceInAutoScalingGroup")
        return original(self)

    monkeypatch.setattr(AutoScalingResponse, "terminate_instance_in_auto_scaling_group", terminate)


def test_a_surge_instance_whose_terminate_is_denied_keeps_serving_and_the_group_fails(
    stack: Stack,
    watch: Watch,  # noqa: F811 - the fixture imported above
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    zones, victim = two_zone_surge(stack)
    deny_terminate(monkeypatch, lambda instance_id: instance_id not in zones)  # the surge instance only
    report = recycle(stack, CapacityPort(stack, "duo", watch))
    duo = report.groups[0]
    assert outcome(report, "duo") == ("failed", "terminate-failed"), duo.detail
    final = placement(stack.world, "duo")
    [kept] = [i for i in final if i not in zones and final[i] == ZONES[0]]  # the surge landed in the first
    [replacement] = set(final) - set(zones) - {kept}
    assert duo.detail.startswith(f"victim {victim} was replaced by {replacement}; ROLLBACK FAILED (")
    assert (
        "(AccessDenied: User: arn:aws:sts::" in duo.detail
        and remove_surge_instance_command(kept) in duo.detail
    )
    # AWS: the victim alone left; the surge instance still serves at desired one up, its zone one long:
    # zones within one instance of each other, nothing for AZRebalance to terminate.
    assert watch.terminated == [victim] and victim not in final
    assert stack.group_state("duo")["DesiredCapacity"] == len(zones) + 1
    assert lifecycle(stack, "duo")[kept] == "InService"
    assert Counter(final.values()) == {ZONES[0]: 3, ZONES[1]: 2}
    assert all(serving >= len(zones) for _, serving in watch.serving_at), watch.serving_at
    alert = stack.alerts()[0]
    assert alert["Subject"].startswith("recycler FAILED: duo - terminate-failed")
    assert remove_surge_instance_command(kept) in alert["Message"]
