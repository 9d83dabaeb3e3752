"""Fault matrix rows F36-F39: AWS behaviour a fleet shows and moto does not (design.md §11b), taught to
the emulator: launches that fail for capacity and are retried, ECS managed termination protection, and
victims that stay Terminating through a load balancer's deregistration delay."""

from __future__ import annotations

from typing import Any

import pytest

from recycler.local import emulator
from tests.conftest import Stack
from tests.faults.harness import FaultPort, assert_no_worse, healthy, outcome, recycle


def two_groups_on_a_new_image(stack: Stack) -> None:
    """ "big" has the most headroom, so it is the new image's canary; "small" waits for its verdict."""
    stack.world.group("big", [9, 5, 5, 5], max_size=6)
    stack.world.group("small", [9, 5], max_size=3)
    stack.world.publish_patched_image()


def canaries(report: Any) -> list[str]:
    return [g.group for g in report.groups if g.canary]


# ---- F36/F37 a launch that fails for capacity is not a verdict on the image ---------------------


def test_f36_a_capacity_blip_is_waited_out_and_condemns_no_image(
    stack: Stack, terminations: list[Any]
) -> None:
    two_groups_on_a_new_image(stack)
    emulator.sabotage("big", "capacity-blip", attempts=3)
    report = recycle(stack, health_timeout_seconds=300)
    assert canaries(report) == ["big"]
    assert outcome(report, "big") == ("recycled", "oldest-instance")
    assert outcome(report, "small") == ("recycled", "oldest-instance")  # the image was not condemned
    failed = [
        a
        for a in stack.world.autoscaling.describe_scaling_activities(AutoScalingGroupName="big")["Activities"]
        if a["StatusCode"] == "Failed"
    ]
    assert len(failed) == 3 and "do not have sufficient t3.micro capacity" in failed[0]["StatusMessage"]
    assert failed[0]["Description"].startswith("Launching a new EC2 instance.  Status Reason: We currently")
    assert len(terminations) == 2 and stack.alerts() == []


def test_f37_capacity_that_never_returns_fails_no_capacity_not_the_image(
    stack: Stack, terminations: list[Any]
) -> None:
    two_groups_on_a_new_image(stack)
    before = healthy(stack.world)
    emulator.sabotage("big", "no-capacity")
    report = recycle(stack, health_timeout_seconds=120)
    # big was the canary; unproven (not condemned) after it, the image gets small as its next canary.
    assert canaries(report) == ["big", "small"]
    big = next(g for g in report.groups if g.group == "big")
    assert (big.outcome, big.reason, big.waited_seconds) == ("failed", "no-capacity", 120)
    assert "do not have sufficient t3.micro capacity" in big.detail
    # Nothing launched to judge the image by: the group waiting on the canary still recycles.
    assert outcome(report, "small") == ("recycled", "oldest-instance")
    assert_no_worse(before, healthy(stack.world), in_flight={"big"})
    alert = stack.alerts()[0]
    assert alert["Subject"] == "recycler FAILED: big - no-capacity"
    assert "The image is not at fault" in alert["Message"] and len(terminations) == 2


def test_an_image_failure_after_a_capacity_failure_still_fails_fast(stack: Stack) -> None:
    """A capacity failure in the activities does not hide a launch the image failed."""
    stack.world.group("web", [9, 5])
    emulator.sabotage("web", "launch-failed")
    emulator.add_activity(
        "web",
        "Failed",
        "Launching a new EC2 instance.  Status Reason: There is no Spot capacity available that matches "
        "your request. Launching EC2 instance failed.",
        "There is no Spot capacity available that matches your request. Launching EC2 instance failed.",
        cause="an instance was started in response to a difference between desired and actual capacity",
    )
    report = recycle(stack, health_timeout_seconds=900)
    assert outcome(report, "web") == ("failed", "launch failed")
    assert report.groups[0].waited_seconds == 0


# ---- F38 ECS managed termination protection -----------------------------------------------------


def test_f38_an_ecs_protected_host_is_recycled_after_its_drain(
    stack: Stack, ecs_timeline: list[tuple[str, str, int | None]]
) -> None:
    world = stack.world
    ids = world.group("apps", [9, 5, 2], max_size=4)
    ecs = world.session.client("ecs")
    arns = emulator.create_ecs_cluster(ecs, "prod", ids, group="apps")
    for arn in arns.values():
        emulator.run_tasks(ecs, "prod", arn, service=2)
    emulator.create_capacity_provider(
        ecs,
        "apps-cp",
        stack.group_state("apps")["AutoScalingGroupARN"],
        "prod",
        managed_draining=False,
        managed_termination_protection=True,
    )
    # ECS protects every instance that runs tasks: all three.
    assert all(i["ProtectedFromScaleIn"] for i in stack.group_state("apps")["Instances"])
    # Protection set by hand, in a group ECS does not manage, still keeps an instance out.
    plain = world.group("plain", [9, 5])
    world.autoscaling.set_instance_protection(
        AutoScalingGroupName="plain", InstanceIds=[plain[0]], ProtectedFromScaleIn=True
    )
    report = recycle(stack)
    apps = next(g for g in report.groups if g.group == "apps")
    assert (apps.outcome, apps.container_host) == ("recycled", "ecs:prod (drained by recycler)")
    assert apps.victim is not None and apps.victim.instance_id == ids[0]
    # Drained first (2 tasks), terminated once no task ran.
    assert [e for e in ecs_timeline if e[1] == ids[0]] == [("DRAINING", ids[0], 2), ("terminate", ids[0], 0)]
    other = next(g for g in report.groups if g.group == "plain")
    assert other.outcome == "recycled" and other.victim is not None and other.victim.instance_id == plain[1]


# ---- F39 a freshness target behind a load balancer ----------------------------------------------

TARGET = {"recycler:max-age-days": "7", "recycler:max-per-run": "3"}
AGES = [20.0, 19.0, 18.0, 2.0, 1.5, 1.2]  # three due whatever weekday it is


def due_group_behind_a_load_balancer(stack: Stack) -> list[str]:
    session = stack.world.session
    target_group = emulator.create_target_group(session.client("ec2"), session.client("elbv2"), "web")
    ids = stack.world.group("web", AGES, tags=TARGET, max_size=8, target_group_arns=[target_group])
    stack.world.publish_patched_image()
    # Proven already: no canary bake between the recycles (its polls would outlast the delay below).
    stack.prove(stack.world.images[1])
    # Each victim stays Terminating (its terminate activity in progress) for ten reads of the group:
    # through the next victim's preflight and recycle, and the one after.
    emulator.deregistration_delay("web", reads=10)
    return ids


def test_f39_a_freshness_target_recycles_every_due_instance_through_the_deregistration_delay(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = due_group_behind_a_load_balancer(stack)
    port = FaultPort()
    seen: list[list[str]] = []
    port.before["web:3:preflight"] = lambda: seen.append(
        [i["LifecycleState"] for i in stack.group_state("web")["Instances"] if i["InstanceId"] in ids[:2]]
    )
    report = recycle(stack, port)
    [web] = report.groups
    assert seen == [["Terminating", "Terminating"]]  # both earlier victims were still leaving
    assert [(r.outcome, r.reason) for r in web.recycles] == [("recycled", "oldest-instance")] * 3
    assert (web.outcome, web.behind_by) == ("recycled", 0)
    assert [i for i, _ in terminations] == ids[:3]


@pytest.mark.parametrize("unrelated", ["instance", "activity"])
def test_f39_an_unrelated_terminating_instance_or_activity_still_blocks(
    stack: Stack, terminations: list[Any], unrelated: str
) -> None:
    ids = due_group_behind_a_load_balancer(stack)

    def someone_else_terminates() -> None:
        if unrelated == "instance":  # not one of this run's victims: the group is not steady
            emulator.hold_terminating(ids[5], reads=100)
        else:
            emulator.add_activity("web", "InProgress", f"Terminating EC2 instance: {ids[5]}")

    report = recycle(stack, FaultPort(before={"web:2:preflight": someone_else_terminates}))
    [web] = report.groups
    blocked = "not-steady" if unrelated == "instance" else "activity-in-progress"
    assert (web.recycles[0].outcome, web.recycles[1].outcome, web.recycles[1].reason) == (
        "recycled",
        "skipped",
        blocked,
    )
    assert [i for i, _ in terminations] == ids[:1]


def test_a_surge_that_finds_no_capacity_is_undone_and_fails_no_capacity(
    stack: Stack, terminations: list[Any]
) -> None:
    stack.world.group("web", [9, 5], tags={"recycler:mode": "surge"}, max_size=3)
    emulator.sabotage("web", "no-capacity")
    report = recycle(stack, health_timeout_seconds=60)
    assert outcome(report, "web") == ("failed", "no-capacity")
    assert terminations == []  # the victim stays: the surge instance never came
    assert stack.group_state("web")["DesiredCapacity"] == 2
