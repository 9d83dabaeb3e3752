"""Fault matrix F15-F19: the group scales while recycler waits for its replacement.

The emulator reconciles capacity as AWS does (Pending counts; a scale-in removes by termination
policy) and records each launch as a scaling activity naming the instance and its cause. Every test
asserts no false failure, no alert and no termination by recycler beyond the victim; F19 asserts that
the replacement's own failure still fails fast in the middle of a scale-out.
"""

from __future__ import annotations

from typing import Any

from recycler.local import emulator
from tests.conftest import Stack
from tests.faults.harness import FaultPort, outcome, recycle


def in_service(stack: Stack, group: str) -> set[str]:
    return {
        i["InstanceId"]
        for i in stack.group_state(group)["Instances"]
        if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy"
    }


def report_of(report: Any, group: str) -> Any:
    return next(g for g in report.groups if g.group == group)


def test_f15_scale_in_of_an_original_during_the_wait_is_not_a_failure(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5, 4, 3])
    stack.world.publish_patched_image()
    emulator.sabotage("web", "slow", slow_reads=3)  # the replacement boots over a few polls
    port = FaultPort(after_poll={1: lambda: emulator.scale("web", 3, stack.world.autoscaling)})
    report = recycle(stack, port)
    web = report_of(report, "web")
    assert (web.outcome, web.reason) == ("recycled", "oldest-instance"), web.detail
    assert "desired capacity changed from 4 to 3" in web.detail
    assert terminations == [(ids[0], False)]
    group = stack.group_state("web")
    assert group["DesiredCapacity"] == 3 and len(in_service(stack, "web")) == 3
    assert web.replacement is not None and web.replacement.instance_id in in_service(stack, "web")
    assert stack.alerts() == [] and not report.failed


def test_f16_slow_scale_out_during_the_wait_is_not_the_replacement(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    stack.world.publish_patched_image()
    emulator.sabotage("web", "slow", slow_reads=2)

    def scale_out_slowly() -> None:
        before = {i["InstanceId"] for i in stack.group_state("web")["Instances"]}
        emulator.scale("web", 4, stack.world.autoscaling)
        added = [
            i["InstanceId"] for i in stack.group_state("web")["Instances"] if i["InstanceId"] not in before
        ]
        emulator.hold_pending(added, reads=10_000)  # never boots within the health timeout

    report = recycle(stack, FaultPort(after_poll={1: scale_out_slowly}), health_timeout_seconds=60)
    web = report_of(report, "web")
    assert (web.outcome, web.reason) == ("recycled", "oldest-instance"), web.detail
    assert web.waited_seconds is not None and web.waited_seconds < 60
    pending = [
        i["InstanceId"] for i in stack.group_state("web")["Instances"] if i["LifecycleState"] == "Pending"
    ]
    assert len(pending) == 1 and web.replacement is not None and web.replacement.instance_id not in pending
    assert terminations == [(ids[0], False)] and stack.alerts() == []


def test_f17_the_replacement_itself_scaled_in_is_not_a_failure(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    stack.world.publish_patched_image()
    # A group whose scale-in removes the newest instance first: the replacement.
    stack.world.autoscaling.update_auto_scaling_group(
        AutoScalingGroupName="web", TerminationPolicies=["NewestInstance"]
    )
    emulator.sabotage("web", "slow", slow_reads=3)
    report = recycle(
        stack, FaultPort(after_poll={1: lambda: emulator.scale("web", 2, stack.world.autoscaling)})
    )
    web = report_of(report, "web")
    assert (web.outcome, web.reason) == ("recycled", "oldest-instance"), web.detail
    assert "was scaled in before it was verified" in web.detail and "healthy at desired 2" in web.detail
    assert web.replacement is not None and web.replacement.image_id == stack.world.images[1]
    assert web.replacement.ami_refreshed is True
    assert terminations == [(ids[0], False)] and stack.alerts() == []
    assert len(in_service(stack, "web")) == 2


def test_f18_victim_held_in_terminating_wait_is_not_a_failure(stack: Stack, terminations: list[Any]) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    emulator.sabotage("web", "terminating-wait", slow_reads=4)

    def slow_replacement() -> None:
        # The replacement boots over two reads: the wait is seen going on while the victim is held.
        new = set(emulator.group_instances(stack.world.autoscaling, "web")) - set(ids)
        emulator.hold_pending(sorted(new), reads=2)

    details: list[str] = []
    port = FaultPort(after={"web:terminate": slow_replacement})
    port.on_poll = lambda name, state: details.append(state.detail) if name.endswith(":health") else None
    report = recycle(stack, port)
    web = report_of(report, "web")
    assert (web.outcome, web.reason) == ("recycled", "oldest-instance"), web.detail
    assert terminations == [(ids[0], False)] and stack.alerts() == []
    assert ids[0] not in in_service(stack, "web")
    # The polls saw the victim held by the hook while the replacement booted, and the wait ended on
    # the replacement's health, the victim neither counted as capacity nor waited for.
    held = f"{ids[0]} is being drained by a termination lifecycle hook (Terminating:Wait)"
    assert any(held in detail for detail in details[:-1]), details
    assert details[-1] == "all checks passed", details


def test_f19_replacement_unhealthy_during_a_scale_out_still_fails_fast(
    stack: Stack, terminations: list[Any]
) -> None:
    ids = stack.world.group("web", [9, 5, 4])
    emulator.sabotage("web", "unhealthy")

    def healthy_scale_out() -> None:
        emulator.current_state().sabotage.pop("web")  # the scale-out instance itself is fine
        emulator.scale("web", 4, stack.world.autoscaling)

    report = recycle(stack, FaultPort(after={"web:terminate": healthy_scale_out}), poll_seconds=5)
    web = report_of(report, "web")
    assert outcome(report, "web") == ("failed", "replacement unhealthy")
    # The poll right after the terminate (real time on a busy machine: a fraction of a second), before
    # any pause, let alone the timeout.
    assert web.waited_seconds is not None and web.waited_seconds < 5
    unhealthy = [
        i["InstanceId"] for i in stack.group_state("web")["Instances"] if i["HealthStatus"] != "Healthy"
    ]
    assert web.replacement is not None and [web.replacement.instance_id] == unhealthy
    assert terminations == [(ids[0], False)]
    assert stack.alerts()[0]["Subject"].startswith("recycler FAILED: web")
