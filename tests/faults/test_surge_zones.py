"""Surge never leaves a group unbalanced across Availability Zones (issue 28 item 4).

AWS: "If you decrement the desired capacity, your Auto Scaling group can become unbalanced between
Availability Zones. Amazon EC2 Auto Scaling tries to rebalance the group, and rebalancing might
terminate instances in other zones." (API_TerminateInstanceInAutoScalingGroup). A rebalance is a launch
and a terminate recycler never sees: on an ECS host, an undrained termination. The emulator rebalances
as AWS documents (emulator/zones.py); these tests watch it at the emulator, not through recycler.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from recycler.local import emulator
from tests.conftest import NOW, REGION, Stack, World
from tests.faults.harness import FaultPort, outcome, recycle

T = TypeVar("T")
ZONES = [f"{REGION}a", f"{REGION}b"]
SURGE = {"recycler:mode": "surge", "recycler:enabled": "true"}


def zoned_group(
    world: World, name: str, ages_by_zone: dict[str, list[float]], **extra: Any
) -> dict[str, str]:
    """A group spread over ZONES; each instance aged by its zone's list (days before NOW). Returns
    instance id -> zone."""
    from datetime import timedelta

    size = sum(len(ages) for ages in ages_by_zone.values())
    world.autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": world.template(), "Version": "1"},
        MinSize=1,
        MaxSize=size + 1,
        DesiredCapacity=size,
        AvailabilityZones=ZONES,
        HealthCheckGracePeriod=5,
        Tags=emulator.group_tags(name, extra.get("tags", {})),
    )
    zones = placement(world, name)
    assert Counter(zones.values()) == {z: len(a) for z, a in ages_by_zone.items()}, "launches balance"
    for zone, ages in ages_by_zone.items():
        in_zone = sorted(i for i, z in zones.items() if z == zone)
        for instance_id, age in zip(in_zone, ages, strict=True):
            emulator.backdate([instance_id], NOW - timedelta(days=age), REGION)
    emulator.point_group_at(world.autoscaling, name, world.template(), "$Latest")
    return zones


def placement(world: World, name: str) -> dict[str, str]:
    group = world.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return {i["InstanceId"]: i["AvailabilityZone"] for i in group[0]["Instances"]}


@dataclass
class Watch:
    """What the emulated AWS saw, whoever sent it: every TerminateInstanceInAutoScalingGroup, every EC2
    instance terminated (by any path), and recycler's view of capacity at every poll and step."""

    terminate_calls: list[tuple[str, bool]] = field(default_factory=list)
    terminated: list[str] = field(default_factory=list)
    serving_at: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture
def watch(monkeypatch: pytest.MonkeyPatch) -> Watch:
    from moto.autoscaling.responses import AutoScalingResponse
    from moto.ec2.models.instances import InstanceBackend

    emulator.install()  # wrap the emulator's methods, never be wrapped by them
    seen = Watch()
    original_call = AutoScalingResponse.terminate_instance_in_auto_scaling_group
    original_ec2 = InstanceBackend.terminate_instances

    def terminate_call(self: Any) -> Any:
        decrement = str(self._get_param("ShouldDecrementDesiredCapacity")).lower() == "true"
        seen.terminate_calls.append((self._get_param("InstanceId"), decrement))
        return original_call(self)

    def terminate_ec2(self: Any, instance_ids: list[str]) -> Any:
        seen.terminated.extend(instance_ids)
        return original_ec2(self, instance_ids)

    monkeypatch.setattr(AutoScalingResponse, "terminate_instance_in_auto_scaling_group", terminate_call)
    monkeypatch.setattr(InstanceBackend, "terminate_instances", terminate_ec2)
    return seen


class CapacityPort(FaultPort):
    """Records the group's InService+Healthy count after every health poll and every step."""

    def __init__(self, stack: Stack, group: str, watch: Watch) -> None:
        super().__init__()
        self.stack, self.group, self.watch = stack, group, watch

    def _serving(self, when: str) -> None:
        instances = self.stack.group_state(self.group)["Instances"]
        healthy = [
            i for i in instances if (i["LifecycleState"], i["HealthStatus"]) == ("InService", "Healthy")
        ]
        self.watch.serving_at.append((when, len(healthy)))

    def _polled(self, name: str, state: Any) -> None:
        super()._polled(name, state)
        self._serving(f"poll {name}")

    def step(self, name: str, fn: Callable[[], T], kind: type[T], *, at_most_once: bool = False) -> T:
        result = super().step(name, fn, kind, at_most_once=at_most_once)
        self._serving(f"after {name}")
        return result


@pytest.mark.parametrize("victim_zone", ZONES)
def test_a_two_zone_surge_terminates_only_the_victim_and_its_own_instance(
    stack: Stack, watch: Watch, victim_zone: str
) -> None:
    # Two per zone; the oldest lives in victim_zone. The surge launches into the first-listed zone (a
    # tie), so with the victim in the other zone a terminate with decrement leaves 3 and 1: rebalanced.
    ages = {zone: [9.0, 4.0] if zone == victim_zone else [6.0, 5.0] for zone in ZONES}
    zones = zoned_group(stack.world, "duo", ages, tags=SURGE)
    stack.world.publish_patched_image()
    victim = oldest(stack, zones)
    assert zones[victim] == victim_zone
    began = Counter(zones.values())

    report = recycle(stack, CapacityPort(stack, "duo", watch))

    assert outcome(report, "duo") == ("recycled", "oldest-instance"), report.groups[0].detail
    activities = emulator.current_state().activities["duo"]
    launches = [a for a in activities if a["Description"].startswith("Launch")]
    assert not [a["Cause"] for a in activities if "balanc" in a["Cause"]], "AZRebalance ran"
    # Nothing but the victim and recycler's own (surge) instance ever left the group.
    [surge] = [
        a["Description"].rsplit(" ", 1)[-1]
        for a in launches
        if f"changing the desired capacity from {len(zones)} to {len(zones) + 1}" in a["Cause"]
    ]
    # Every scaling activity since: the surge's launch, and across zones the victim's replacement.
    new_launches = [a for a in launches if a["Description"].rsplit(" ", 1)[-1] not in zones]
    assert len(new_launches) == (1 if victim_zone == ZONES[0] else 2), new_launches
    assert not [a for a in activities if a["Description"].startswith("Terminating")]
    assert victim in watch.terminated and set(watch.terminated) <= {victim, surge}
    assert {i for i, _ in watch.terminate_calls} <= {victim, surge}
    assert len(watch.terminate_calls) == len(set(watch.terminated)) == len(watch.terminated)
    final = placement(stack.world, "duo")
    assert Counter(final.values()) == began
    assert set(zones) - set(final) == {victim}
    group = stack.group_state("duo")
    assert group["DesiredCapacity"] == len(zones)
    assert all(serving >= len(zones) for _, serving in watch.serving_at), watch.serving_at


def oldest(stack: Stack, zones: dict[str, str]) -> str:
    described = stack.world.ec2.describe_instances(InstanceIds=list(zones))["Reservations"]
    launched = {i["InstanceId"]: i["LaunchTime"] for r in described for i in r["Instances"]}
    return str(min(launched, key=lambda i: launched[i]))


# ---- the emulator's zones, as AWS documents them ------------------------------------------------


def test_a_terminate_with_decrement_that_unbalances_the_group_is_rebalanced(
    world: World, watch: Watch
) -> None:
    zones = zoned_group(world, "g", {ZONES[0]: [3, 2], ZONES[1]: [1]})
    lone = next(i for i, z in zones.items() if z == ZONES[1])
    world.autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=lone, ShouldDecrementDesiredCapacity=True
    )
    after = placement(world, "g")
    assert Counter(after.values()) == {ZONES[0]: 1, ZONES[1]: 1}
    # Launch first, then terminate one in the long zone: an instance recycler never asked about.
    assert len(watch.terminated) == 2 and watch.terminated[0] == lone
    causes = [a["Cause"] for a in emulator.current_state().activities["g"]]
    assert any("An instance was launched to aid in balancing the group's zones." in c for c in causes)
    assert any(f"instance {watch.terminated[1]} was selected for termination" in c for c in causes)


def test_with_az_rebalance_suspended_a_decrement_leaves_the_group_unbalanced(
    world: World, watch: Watch
) -> None:
    zones = zoned_group(world, "g", {ZONES[0]: [3, 2], ZONES[1]: [1]})
    world.autoscaling.suspend_processes(AutoScalingGroupName="g", ScalingProcesses=["AZRebalance"])
    lone = next(i for i, z in zones.items() if z == ZONES[1])
    world.autoscaling.terminate_instance_in_auto_scaling_group(
        InstanceId=lone, ShouldDecrementDesiredCapacity=True
    )
    assert Counter(placement(world, "g").values()) == {ZONES[0]: 2}
    assert watch.terminated == [lone]


def test_a_terminate_without_decrement_replaces_in_the_victims_zone(world: World) -> None:
    zones = zoned_group(world, "g", {ZONES[0]: [3, 2], ZONES[1]: [1, 1]})
    for victim in sorted(zones):
        before = placement(world, "g")
        world.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=victim, ShouldDecrementDesiredCapacity=False
        )
        after = placement(world, "g")
        [new] = set(after) - set(before)
        assert after[new] == zones[victim]


def test_a_scale_out_launches_into_the_zone_with_fewest_and_a_scale_in_empties_the_fullest(
    world: World,
) -> None:
    zoned_group(world, "g", {ZONES[0]: [3, 2], ZONES[1]: [1]})
    world.autoscaling.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=4)
    assert Counter(placement(world, "g").values()) == {ZONES[0]: 2, ZONES[1]: 2}
    world.autoscaling.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=1)
    assert len(placement(world, "g")) == 1
    world.autoscaling.set_desired_capacity(AutoScalingGroupName="g", DesiredCapacity=3)
    assert sorted(Counter(placement(world, "g").values()).values()) == [1, 2]


# ---- the two-zone sequence's own failure paths, replays and ECS hosts --------------------------


def two_zone_surge(stack: Stack, name: str = "duo", **tags: str) -> tuple[dict[str, str], str]:
    """Four instances, two per zone, the oldest in the second zone: the surge lands in the first."""
    zones = zoned_group(
        stack.world, name, {ZONES[0]: [6.0, 5.0], ZONES[1]: [9.0, 4.0]}, tags={**SURGE, **tags}
    )
    stack.world.publish_patched_image()
    return zones, oldest(stack, zones)


def test_a_broken_replacement_in_the_victims_zone_keeps_the_surge_instance_serving(
    stack: Stack, watch: Watch
) -> None:
    zones, victim = two_zone_surge(stack)
    port = CapacityPort(stack, "duo", watch)
    port.before["duo:terminate"] = lambda: emulator.sabotage("duo", "unhealthy")  # the surge was fine
    report = recycle(stack, port)
    duo = report.groups[0]
    assert outcome(report, "duo") == ("failed", "replacement unhealthy")
    assert f"victim {victim} was terminated" in duo.detail and "keeps serving" in duo.detail
    assert "terminate-instance-in-auto-scaling-group --instance-id i-" in duo.detail
    # Only the victim left; desired stays one up so no zone is short: nothing to rebalance.
    assert watch.terminated == [victim] and watch.terminate_calls == [(victim, False)]
    assert stack.group_state("duo")["DesiredCapacity"] == len(zones) + 1
    assert all(serving >= len(zones) for _, serving in watch.serving_at), watch.serving_at
    assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: duo")


def test_a_replayed_two_zone_surge_terminates_each_instance_once(
    stack: Stack, terminations: list[Any]
) -> None:
    from recycler.domain import Mode
    from recycler.workflow import budget
    from tests.conftest import run_durable

    zones, victim = two_zone_surge(stack)
    emulator.sabotage("duo", "slow", slow_reads=6)  # the surge and the replacement: several replays each
    done = run_durable({"poll_seconds": 15})
    assert done.status == "SUCCEEDED" and done.report is not None, done.error
    duo = done.report["groups"][0]
    assert duo["outcome"] == "recycled"
    [(first, first_decrement), (surge, surge_decrement)] = terminations
    assert (first, first_decrement, surge_decrement) == (victim, False, True) and surge not in zones
    final = placement(stack.world, "duo")
    assert Counter(final.values()) == Counter(zones.values()) and surge not in final
    assert duo["replacement"]["instance_id"] in final
    steps = Counter(str(getattr(op, "name", "")) for op in done.operations)
    assert steps["duo:surge"] == steps["duo:terminate"] == steps["duo:surge-remove"] == 1
    # Both health waits and the canary's bake, every poll counted, within what the plan budgets for a
    # surge (5 s grace + 10 min) that is its image's canary (30-minute bake).
    job = budget.JobCost(Mode.SURGE, health_seconds=605, canary=True, bake_seconds=1800)
    assert done.metered <= budget.run_operations([job])


def test_an_ecs_surge_instance_is_drained_before_it_goes(stack: Stack, ecs_timeline: list[Any]) -> None:
    zones, victim = two_zone_surge(stack, "apps", **{"recycler:ecs-cluster": "prod"})
    ecs = stack.world.session.client("ecs")
    for arn in emulator.create_ecs_cluster(ecs, "prod", list(zones), group="apps").values():
        emulator.run_tasks(ecs, "prod", arn, service=2)

    def tasks_land_on_the_surge_instance() -> None:
        arns = ecs.list_container_instances(cluster="prod")["containerInstanceArns"]
        found = ecs.describe_container_instances(cluster="prod", containerInstances=arns)[
            "containerInstances"
        ]
        surge = [c for c in found if c["ec2InstanceId"] not in zones]
        emulator.run_tasks(ecs, "prod", surge[0]["containerInstanceArn"], service=2)

    port = FaultPort(after={"apps:zones": tasks_land_on_the_surge_instance})
    report = recycle(stack, port, health_timeout_seconds=120)
    assert outcome(report, "apps") == ("recycled", "oldest-instance"), report.groups[0].detail
    surge = ecs_timeline[3][1]
    assert ecs_timeline == [
        ("surge", "apps", None),
        ("DRAINING", victim, 2),
        ("terminate", victim, 0),
        ("DRAINING", surge, 2),
        ("terminate", surge, 0),
    ]
    assert Counter(placement(stack.world, "apps").values()) == Counter(zones.values())


@pytest.mark.parametrize("zone_read", ["throttled", "answers-nothing"])
def test_f48_a_surge_whose_zone_read_fails_terminates_without_decrement(
    stack: Stack, watch: Watch, monkeypatch: pytest.MonkeyPatch, zone_read: str
) -> None:
    """Zones unknown (the read throttled, or answering without the instances): unknown is not "the same
    zone". recycler refuses the decrement and waits: the victim goes without decrement, Auto Scaling
    replaces it in the zone it left, then the surge instance goes with decrement. Zones end as they began
    whatever they were; a decrement on a guess would leave the victim's zone short and AZRebalance would
    terminate an instance recycler never drained. Waiting costs one more health wait (budgeted: a surge
    counts two), guessing may cost an undrained instance."""
    from botocore.exceptions import ClientError

    from recycler.aws.fleet import Fleet

    zones, victim = two_zone_surge(stack)
    began = Counter(zones.values())
    read = Fleet.list_groups
    failing: list[bool] = []

    def zone_read_fails(self: Fleet, opt_in_tag: str, names: Any = None) -> list[dict[str, Any]]:
        if failing:
            if zone_read == "throttled":
                raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Describe")
            return []
        return read(self, opt_in_tag, names)

    monkeypatch.setattr(Fleet, "list_groups", zone_read_fails)
    port = CapacityPort(stack, "duo", watch)
    port.before["duo:zones"] = lambda: failing.append(True)
    port.after["duo:zones"] = failing.clear
    report = recycle(stack, port)

    assert outcome(report, "duo") == ("recycled", "oldest-instance"), report.groups[0].detail
    assert watch.terminate_calls[0] == (victim, False)  # what Auto Scaling received
    activities = emulator.current_state().activities["duo"]
    assert not [a["Cause"] for a in activities if "balanc" in a["Cause"]], "AZRebalance ran"
    assert set(watch.terminated) - set(zones) and victim in watch.terminated
    assert Counter(placement(stack.world, "duo").values()) == began
    assert stack.group_state("duo")["DesiredCapacity"] == len(zones)
    assert all(serving >= len(zones) for _, serving in watch.serving_at), watch.serving_at
