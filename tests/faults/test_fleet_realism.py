"""Fault matrix rows F36-F44: AWS behaviour a fleet shows and moto does not (design.md §11b), taught to
the emulator: launches that fail for capacity and are retried, ECS managed termination protection,
victims that stay Terminating through a load balancer's deregistration delay, launch hooks whose owner
records heartbeats, and traffic sources (VPC Lattice target groups, target groups attached as one)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from recycler.local import emulator
from recycler.local.emulator.target_health import replacements_unhealthy_in
from recycler.local.port import LocalPort
from recycler.models import ManualPayload, Settings
from recycler.workflow.budget import LONGEST_POLL_SECONDS
from recycler.workflow.run import run
from tests.conftest import NOW, Stack
from tests.faults.harness import FaultPort, assert_no_worse, healthy, outcome, recycle
from tests.faults.harness import services as harness_services


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


# A mixed instances group's launch: one instance type found no capacity, the other refused the image
# (Auto Scaling words each override's failure in one StatusMessage).
MIXED_FAILURE = (
    "Could not launch On-Demand Instances. InsufficientInstanceCapacity - We currently do not have "
    "sufficient m6i.large capacity in the Availability Zone you requested (us-east-1a). Could not launch "
    "On-Demand Instances. InvalidParameterValue - The architecture 'arm64' of the specified instance type "
    "does not match the architecture 'x86_64' of the specified AMI. Launching EC2 instance failed."
)


def test_a_launch_failure_naming_the_image_and_capacity_is_the_images(stack: Stack) -> None:
    """The image's or template's words win over a capacity word in the same message: the launch fails
    every time, so the canary fails fast and condemns the image instead of waiting out the timeout."""
    two_groups_on_a_new_image(stack)
    small_before = stack.group_state("small")["Instances"]
    emulator.sabotage("big", "launch-failed")

    def mixed_failure() -> None:
        failed = [a for a in emulator.current_state().activities["big"] if a["StatusCode"] == "Failed"]
        failed[-1]["StatusMessage"] = MIXED_FAILURE
        failed[-1]["Description"] = f"Launching a new EC2 instance.  Status Reason: {MIXED_FAILURE}"

    report = recycle(stack, FaultPort(after={"big:terminate": mixed_failure}), health_timeout_seconds=900)
    # What SNS and DynamoDB received: a launch failure at once, and the image condemned for it.
    assert "recycler FAILED: big - launch failed" in [a["Subject"] for a in stack.alerts()]
    [condemned] = [
        i for i in stack.ledger_items(f"image#{stack.world.images[1]}") if i["record"] == "condemned"
    ]
    assert condemned["reason"] == "launch failed"
    assert stack.group_state("small")["Instances"] == small_before
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


# ---- F40-F42 a launch hook whose owner records heartbeats ------------------------------------------

HOOK = "deploy-api"
HEARTBEAT = 30  # AWS's smallest: its global timeout is 100 x 30 s = 3000 s
GRACE, MARGIN = 5, 600  # the group's grace period, the default health timeout margin (10 minutes)


def hooked_api(stack: Stack) -> tuple[list[str], emulator.SimulatedClock]:
    """A group whose replacements wait in a launch hook (default ABANDON), on a simulated clock that
    moves only when the health wait sleeps, so hours of heartbeats take a moment."""
    ids = stack.world.group("api", [9, 5], grace_seconds=GRACE)
    return ids, hooked(stack, "api")


def hooked(stack: Stack, group: str, heartbeat_seconds: int = HEARTBEAT) -> emulator.SimulatedClock:
    """Launch hook HOOK (default ABANDON) on the group, its heartbeats timed by a new simulated clock."""
    stack.world.autoscaling.put_lifecycle_hook(
        AutoScalingGroupName=group,
        LifecycleHookName=HOOK,
        LifecycleTransition="autoscaling:EC2_INSTANCE_LAUNCHING",
        HeartbeatTimeout=heartbeat_seconds,
        DefaultResult="ABANDON",
    )
    clock = emulator.SimulatedClock(NOW)
    emulator.hook_clock(group, clock)
    return clock


def hook_owner(
    stack: Stack, clock: emulator.SimulatedClock, heartbeats_for: float, then: str | None
) -> tuple[LocalPort, list[float]]:
    """A port on whose simulated clock the hook's owner acts every 20 s (inside the heartbeat timeout),
    whenever recycler polls or not (its polls back off to minutes): it records a heartbeat for each
    replacement it holds until `heartbeats_for` seconds after it entered the hook, then completes the
    action with `then` (None: it falls silent)."""
    entered: dict[str, Any] = {}
    beats: list[float] = []
    asg = stack.world.autoscaling

    def act(*_: Any) -> None:
        for instance in stack.group_state("api")["Instances"]:
            if instance["LifecycleState"] != "Pending:Wait":
                continue
            held = (clock() - entered.setdefault(instance["InstanceId"], clock())).total_seconds()
            action = {"AutoScalingGroupName": "api", "LifecycleHookName": HOOK}
            if held < heartbeats_for:
                asg.record_lifecycle_action_heartbeat(**action, InstanceId=instance["InstanceId"])
                beats.append(held)
            elif then is not None:
                asg.complete_lifecycle_action(
                    **action, InstanceId=instance["InstanceId"], LifecycleActionResult=then
                )

    def sleep(seconds: float) -> None:
        while seconds > 0:
            clock.sleep(min(20.0, seconds))
            seconds -= 20.0
            act()

    return LocalPort(sleep=sleep, on_poll=act), beats


def cancelled_launch(stack: Stack) -> tuple[str, str]:
    """The abandoned replacement and why (the Cancelled launch activity Auto Scaling recorded)."""
    activities = stack.world.autoscaling.describe_scaling_activities(AutoScalingGroupName="api")
    [cancelled] = [a for a in activities["Activities"] if a["StatusCode"] == "Cancelled"]
    instance = cancelled["Description"].split("instance: ")[1].split(".")[0]
    return instance, cancelled["StatusMessage"]


def run_on(
    stack: Stack, port: LocalPort, clock: emulator.SimulatedClock, settings: Settings | None = None
) -> Any:
    """A scheduled-style run (no drill timeout: the plan's own) whose services read the simulated clock."""
    services = replace(harness_services(stack), clock=clock)
    return run(port, services, settings or Settings(failures_before_stop=10), ManualPayload(poll_seconds=20))


def test_f40_a_launch_hook_heartbeated_past_its_heartbeat_timeout_is_waited_out(
    stack: Stack, terminations: list[Any]
) -> None:
    ids, clock = hooked_api(stack)
    # The deployment takes 15 minutes, past the plan's health timeout (5 + 30 + 600 = 635 s): its owner
    # keeps the replacement in Pending:Wait with heartbeats, then lets it go on.
    port, beats = hook_owner(stack, clock, heartbeats_for=900, then="CONTINUE")
    report = run_on(stack, port, clock)
    [api] = report.groups
    assert (api.outcome, api.reason) == ("recycled", "oldest-instance")
    assert api.waited_seconds is not None and api.waited_seconds >= 900 > api.health_timeout_seconds
    assert len(beats) > 900 // 20 - 2  # heartbeats all along, each inside the 30 s heartbeat timeout
    assert terminations == [(ids[0], False)]
    states = {i["InstanceId"]: i["LifecycleState"] for i in stack.group_state("api")["Instances"]}
    assert len(states) == 2 and set(states.values()) == {"InService"} and ids[1] in states
    assert stack.alerts() == []


def test_f41_a_launch_hook_owner_that_stops_heartbeating_gets_the_default_result(
    stack: Stack, terminations: list[Any]
) -> None:
    ids, clock = hooked_api(stack)
    port, beats = hook_owner(stack, clock, heartbeats_for=200, then=None)  # the deployment dies
    report = run_on(stack, port, clock)
    [api] = report.groups
    # The heartbeat timeout runs out 30 s after the last heartbeat: Auto Scaling abandons the replacement.
    assert (api.outcome, api.reason) == ("failed", "launch failed")
    assert "Lifecycle Action Completed with ABANDON Result" in api.detail
    # Seen at the next poll: polls back off to one every LONGEST_POLL_SECONDS at most.
    limit = 200 + HEARTBEAT + LONGEST_POLL_SECONDS
    assert api.waited_seconds is not None and 200 <= api.waited_seconds <= limit
    assert beats and max(beats) < 200
    abandoned, why = cancelled_launch(stack)
    assert why == f"heartbeat of lifecycle hook {HOOK} timed out"
    assert terminations == [(ids[0], False)]  # recycler terminated the victim, nothing else
    group = stack.group_state("api")
    assert abandoned not in {i["InstanceId"] for i in group["Instances"]}
    assert len(group["Instances"]) == group["DesiredCapacity"] == 2  # Auto Scaling launched another


@pytest.mark.parametrize("bound", ["global-timeout", "execution-budget"])
def test_f42_a_launch_hook_heartbeated_forever_ends_at_its_global_timeout(
    stack: Stack, terminations: list[Any], bound: str
) -> None:
    ids, clock = hooked_api(stack)
    before = healthy(stack.world)
    port, _ = hook_owner(stack, clock, heartbeats_for=float("inf"), then=None)
    if bound == "global-timeout":
        # Heartbeats cannot hold an instance past the hook's global timeout (100 x 30 s): Auto Scaling
        # then takes the default result, ABANDON.
        report = run_on(stack, port, clock)
        [api] = report.groups
        assert (api.outcome, api.reason) == ("failed", "launch failed")
        assert cancelled_launch(stack)[1] == f"global timeout of lifecycle hook {HOOK} timed out"
        # Seen a poll after the read that took the default result (activities are read before the group).
        assert api.waited_seconds is not None and 3000 <= api.waited_seconds <= 3000 + 2 * 20
    else:
        # A one-hour execution timeout holds 2880 s of waits (80 %): recycler gives up there, naming the
        # hook, before Lambda would stop the execution.
        report = run_on(stack, port, clock, Settings(failures_before_stop=10, execution_timeout_hours=1))
        [api] = report.groups
        assert (api.outcome, api.reason) == ("failed", f"launch hook {HOOK} not completed after 2880 s")
        assert api.waited_seconds == 2880
        assert "is waiting in a launch lifecycle hook (Pending:Wait)" in api.detail
        held = [i for i in stack.group_state("api")["Instances"] if i["LifecycleState"] == "Pending:Wait"]
        assert len(held) == 1  # still held by its hook: recycler neither terminated nor abandoned it
    assert terminations == [(ids[0], False)]
    assert_no_worse(before, healthy(stack.world), in_flight={"api"})
    assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: api")


# ---- F43/F44 traffic sources: VPC Lattice, and a target group attached as one ----------------------


def lattice_target_group(stack: Stack, name: str) -> str:
    lattice = stack.world.session.client("vpc-lattice")
    config = {"port": 80, "protocol": "HTTP", "vpcIdentifier": "vpc-0example"}
    return str(lattice.create_target_group(name=name, type="INSTANCE", config=config)["arn"])


def attach(stack: Stack, group: str, identifier: str, kind: str) -> None:
    stack.world.autoscaling.attach_traffic_sources(
        AutoScalingGroupName=group, TrafficSources=[{"Identifier": identifier, "Type": kind}]
    )


def test_f43_a_replacement_unhealthy_in_its_vpc_lattice_target_group_fails_the_recycle(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("api", [9, 5])
    attach(stack, "api", lattice_target_group(stack, "api-lattice"), "vpc-lattice")
    replacements_unhealthy_in("api", "api-lattice")  # Lattice's health check fails it
    before = healthy(stack.world)
    report = recycle(stack)
    [api] = report.groups
    assert outcome(report, "api") == ("failed", "replacement unhealthy after 60 s")
    assert "checks pending: lattice tg-" in api.detail and "=UNHEALTHY" in api.detail
    assert terminations == [(ids[0], False)]
    assert_no_worse(before, healthy(stack.world), in_flight={"api"})
    assert "lattice" in stack.alerts()[0]["Message"]


def test_a_replacement_healthy_in_its_vpc_lattice_target_group_is_recycled(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("api", [9, 5])
    attach(stack, "api", lattice_target_group(stack, "api-lattice"), "vpc-lattice")
    report = recycle(stack)
    assert outcome(report, "api") == ("recycled", "oldest-instance")
    assert terminations == [(ids[0], False)]


def test_a_lattice_target_on_another_port_than_the_protocols_default_is_found(
    stack: Stack, terminations: list[Any]
) -> None:
    lattice = stack.world.session.client("vpc-lattice")
    config = {"port": 8080, "protocol": "HTTP", "vpcIdentifier": "vpc-0example"}
    arn = lattice.create_target_group(name="api-8080", type="INSTANCE", config=config)["arn"]
    ids = stack.world.group("api", [9, 5])
    attach(stack, "api", arn, "vpc-lattice")  # registered on 8080; a filter without a port means 80
    report = recycle(stack)
    assert outcome(report, "api") == ("recycled", "oldest-instance")
    assert terminations == [(ids[0], False)]


def test_a_lattice_target_group_without_health_checks_does_not_hold_the_recycle(
    stack: Stack, terminations: list[Any]
) -> None:
    lattice = stack.world.session.client("vpc-lattice")
    config = {"port": 80, "protocol": "HTTP", "protocolVersion": "HTTP2", "vpcIdentifier": "vpc-0example"}
    arn = lattice.create_target_group(name="grpc-ish", type="INSTANCE", config=config)["arn"]
    ids = stack.world.group("api", [9, 5])
    attach(stack, "api", arn, "vpc-lattice")  # HTTP2: Lattice health checks are off by default
    report = recycle(stack)
    assert outcome(report, "api") == ("recycled", "oldest-instance")
    assert terminations == [(ids[0], False)]


def test_f44_a_target_group_attached_as_a_traffic_source_is_checked(
    stack: Stack, terminations: list[Any]
) -> None:
    session = stack.world.session
    arn = emulator.create_target_group(session.client("ec2"), session.client("elbv2"), "api")
    stack.world.group("api", [9, 5])
    attach(stack, "api", arn, "elbv2")  # AttachTrafficSources, not AttachLoadBalancerTargetGroups
    assert stack.group_state("api")["TrafficSources"] == [{"Identifier": arn, "Type": "elbv2"}]
    replacements_unhealthy_in("api", "api")
    report = recycle(stack)
    api = next(g for g in report.groups if g.group == "api")
    assert outcome(report, "api") == ("failed", "replacement unhealthy after 60 s")
    assert "checks pending: target-group targetgroup/api/" in api.detail and "=unhealthy" in api.detail
    assert len(terminations) == 1
