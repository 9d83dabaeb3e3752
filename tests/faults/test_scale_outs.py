"""Fault matrix F-rows for the stampede guard (docs/scale-outs.md): a group about to scale out, by a
scheduled action or a predictive scaling forecast, keeps every instance; the emulator's side is
observed (the victim still runs, its group's instances are the ones it had), not recycler's report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.exceptions import ClientError

from recycler.aws.scaling_schedule import ScalingSchedule
from recycler.local import emulator
from tests.conftest import Stack
from tests.faults.harness import FaultPort, outcome, recycle

NEW_YORK = ZoneInfo("America/New_York")


def group_instances(stack: Stack, name: str) -> set[str]:
    return {i["InstanceId"] for i in stack.group_state(name)["Instances"]}


def running(stack: Stack, instance_ids: set[str]) -> set[str]:
    reservations = stack.world.ec2.describe_instances(InstanceIds=sorted(instance_ids))["Reservations"]
    return {i["InstanceId"] for r in reservations for i in r["Instances"] if i["State"]["Name"] == "running"}


def web(stack: Stack) -> set[str]:
    """Four instances, desired 4, a day old and older: due for a recycle on any run."""
    return set(stack.world.group("web", [9, 5, 5, 5], max_size=10))


def assert_untouched(stack: Stack, before: set[str], report: Any) -> None:
    assert group_instances(stack, "web") == before, "an instance was replaced"
    assert running(stack, before) == before, "an instance was terminated"
    assert outcome(report, "web")[1] == "scale-out-imminent"


def assert_recycled(stack: Stack, before: set[str], report: Any) -> None:
    assert outcome(report, "web") == ("recycled", "oldest-instance")
    assert len(running(stack, before)) == len(before) - 1, "no instance was terminated"


def schedule(stack: Stack, name: str, **action: Any) -> None:
    stack.world.autoscaling.put_scheduled_update_group_action(
        AutoScalingGroupName="web", ScheduledActionName=name, **action
    )


def test_f50_a_one_off_scale_out_in_20_minutes_defers_the_group(stack: Stack) -> None:
    before = web(stack)
    schedule(stack, "flash-sale", StartTime=datetime.now(UTC) + timedelta(minutes=20), DesiredCapacity=8)
    report = recycle(stack)
    assert_untouched(stack, before, report)
    assert "'flash-sale'" in next(g for g in report.groups if g.group == "web").detail


def test_f50_a_recurring_scale_out_due_in_the_window_defers_the_group(stack: Stack) -> None:
    """Recurrence is cron in the action's TimeZone: 20 minutes from now, read in New York."""
    before = web(stack)
    due = (datetime.now(UTC) + timedelta(minutes=20)).astimezone(NEW_YORK)
    schedule(
        stack,
        "weekday-peak",
        Recurrence=f"{due.minute} {due.hour} * * *",
        TimeZone="America/New_York",
        MinSize=6,
    )
    assert_untouched(stack, before, recycle(stack))


def test_f50_a_scale_out_beyond_the_window_or_a_scale_in_does_not_defer(stack: Stack) -> None:
    before = web(stack)
    soon = datetime.now(UTC) + timedelta(minutes=20)
    schedule(stack, "evening", StartTime=datetime.now(UTC) + timedelta(hours=6), DesiredCapacity=8)
    schedule(stack, "quiet", StartTime=soon, DesiredCapacity=2, MinSize=1)
    # The same wall-clock minute as soon, but in a zone five hours off: not within the window.
    elsewhere = soon.astimezone(NEW_YORK)
    schedule(stack, "utc-read", Recurrence=f"{elsewhere.minute} {elsewhere.hour} * * *", DesiredCapacity=8)
    assert_recycled(stack, before, recycle(stack))


def predictive(stack: Stack, mode: str) -> None:
    stack.world.autoscaling.put_scaling_policy(
        AutoScalingGroupName="web",
        PolicyName="cpu-forecast",
        PolicyType="PredictiveScaling",
        PredictiveScalingConfiguration={
            "MetricSpecifications": [
                {
                    "TargetValue": 50,
                    "PredefinedMetricPairSpecification": {"PredefinedMetricType": "ASGCPUUtilization"},
                }
            ],
            "Mode": mode,
        },
    )
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    emulator.predictive_forecast(
        "web",
        "cpu-forecast",
        [(hour, 4.0), (hour + timedelta(hours=1), 7.5), (hour + timedelta(hours=2), 9.0)],
    )


def test_f51_a_predictive_forecast_rising_in_the_window_defers_the_group(stack: Stack) -> None:
    before = web(stack)
    predictive(stack, "ForecastAndScale")
    report = recycle(stack, health_timeout_seconds=600)
    assert_untouched(stack, before, report)
    assert "'cpu-forecast'" in next(g for g in report.groups if g.group == "web").detail


def test_f51_a_forecast_only_policy_never_scales_so_it_does_not_defer(stack: Stack) -> None:
    before = web(stack)
    predictive(stack, "ForecastOnly")
    assert_recycled(stack, before, recycle(stack, health_timeout_seconds=600))


def test_f52_a_scale_out_read_that_fails_keeps_every_instance(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The role lacks autoscaling:DescribeScheduledActions (a stack deployed before this guard, say)."""
    before = web(stack)

    def refused(*_: Any, **__: Any) -> Any:
        message = "not authorized to perform DescribeScheduledActions"
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": message}}, "DescribeScheduledActions")

    monkeypatch.setattr(ScalingSchedule, "plans", refused)
    report = recycle(stack)
    assert_untouched(stack, before, report)
    assert "AccessDenied" in next(g for g in report.groups if g.group == "web").detail


def test_f53_a_scale_out_scheduled_after_the_plan_is_seen_right_before_the_act(stack: Stack) -> None:
    """The plan saw nothing; by the group's preflight (it may wait for a slot) a sale is 20 minutes off."""
    before = web(stack)

    def scheduled_meanwhile() -> None:
        schedule(stack, "late-sale", StartTime=datetime.now(UTC) + timedelta(minutes=20), DesiredCapacity=8)

    report = recycle(stack, FaultPort(before={"web:preflight": scheduled_meanwhile}))
    assert_untouched(stack, before, report)
    assert "'late-sale'" in next(g for g in report.groups if g.group == "web").detail


def test_many_groups_are_read_in_one_region_wide_call_and_each_judged_on_its_own(stack: Stack) -> None:
    """Beyond PER_GROUP_READS groups, one paginated read of the Region, filtered per group."""
    web(stack)
    quiet = {name: set(stack.world.group(name, [9, 5, 5], max_size=6)) for name in ("api", "jobs")}
    schedule(stack, "flash-sale", StartTime=datetime.now(UTC) + timedelta(minutes=20), DesiredCapacity=8)
    calls: list[dict[str, Any]] = []
    stack.world.session.events.register(
        "provide-client-params.autoscaling.DescribeScheduledActions", lambda params, **_: calls.append(params)
    )
    report = recycle(stack)
    assert outcome(report, "web")[1] == "scale-out-imminent"
    assert {name: outcome(report, name)[0] for name in quiet} == {"api": "recycled", "jobs": "recycled"}
    # The plan's one read of the Region, then each recycle's preflight reads its own group again.
    read = [str(c.get("AutoScalingGroupName", "(the Region)")) for c in calls]
    assert read[0] == "(the Region)" and sorted(read[1:]) == ["api", "jobs"]


def test_the_emulators_forecast_is_the_staged_one_within_start_and_end(stack: Stack) -> None:
    """GetPredictiveScalingForecast: StartTime inclusive, EndTime exclusive; no history, no forecast; a
    policy the group does not have is refused; so is a scheduled action starting in the past."""
    web(stack)
    predictive(stack, "ForecastAndScale")
    autoscaling = stack.world.autoscaling
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    answer = autoscaling.get_predictive_scaling_forecast(
        AutoScalingGroupName="web",
        PolicyName="cpu-forecast",
        StartTime=hour,
        EndTime=hour + timedelta(hours=2),
    )["CapacityForecast"]
    assert answer["Values"] == [4.0, 7.5]
    assert answer["Timestamps"] == [hour, hour + timedelta(hours=1)]
    emulator.reset()  # forget the staged forecast: a policy without 24 hours of history forecasts nothing
    empty = autoscaling.get_predictive_scaling_forecast(
        AutoScalingGroupName="web",
        PolicyName="cpu-forecast",
        StartTime=hour,
        EndTime=hour + timedelta(hours=2),
    )["CapacityForecast"]
    assert empty == {"Timestamps": [], "Values": []}
    with pytest.raises(ClientError, match="in the past"):
        schedule(stack, "late", StartTime=datetime.now(UTC) - timedelta(minutes=1), DesiredCapacity=8)
    with pytest.raises(ClientError, match="ValidationError"):
        autoscaling.get_predictive_scaling_forecast(
            AutoScalingGroupName="web", PolicyName="nope", StartTime=hour, EndTime=hour + timedelta(hours=1)
        )
