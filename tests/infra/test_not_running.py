"""The "recycler is not running" alarm (issue 33): no completed run within a day plus the schedule's
longest gap, missing data breaching, on the dashboard; and the stack outputs the README uses."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aws_cdk.assertions import Template

from infra.observability import longest_gap, not_running_window
from tests.infra.test_stack import OVERRIDES, resources, synth


@pytest.fixture(scope="module")
def template() -> Template:
    return synth(**OVERRIDES)  # a weekday schedule: Friday's run is followed by Monday's


@pytest.mark.parametrize(
    ("expression", "zone", "gap"),
    [
        ("cron(30 6 ? * MON-FRI *)", "Europe/Berlin", timedelta(hours=72)),
        ("cron(0 10 * * ? *)", "UTC", timedelta(hours=24)),
        ("cron(0 10 ? * MON,THU *)", "UTC", timedelta(days=4)),
        ("rate(12 hours)", "UTC", timedelta(hours=12)),
    ],
)
def test_the_longest_gap_comes_from_the_schedule(expression: str, zone: str, gap: timedelta) -> None:
    # A DST change moves one gap by an hour; the window rounds up to whole hours and covers it.
    assert gap <= longest_gap(expression, zone) <= gap + timedelta(hours=1)


def test_the_window_is_capped_at_cloudwatchs_seven_days() -> None:
    assert not_running_window("cron(0 10 ? * MON *)", "UTC") == timedelta(days=7)
    assert not_running_window("cron(0 10 * * ? *)", "UTC") == timedelta(hours=48)


def test_not_running_alarm_breaches_on_missing_runs(template: Template) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    [alarm] = [a for k, a in alarms.items() if k.startswith("AlarmsNotRunning")]
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "Recycler",
        "RunsCompleted",
        "Sum",
    )
    assert props["Dimensions"] == [{"Name": "service", "Value": "recycler"}]
    assert props["ComparisonOperator"] == "LessThanThreshold" and props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching" and props["EvaluationPeriods"] == 1
    # A day plus the weekday schedule's weekend (72 h; 73 h across a DST change).
    assert props["Period"] in (96 * 3600, 97 * 3600)
    assert len(props["AlarmActions"]) == 1


def test_runs_completed_is_on_the_dashboard(template: Template) -> None:
    [dashboard] = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    assert "RunsCompleted" in body and "NotRunning alarm" in body


def test_the_outputs_an_operator_needs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert {"FunctionAlias", "DashboardUrl", "LedgerTable", "AlertTopicArn", "KillSwitchParameter"} <= set(
        outputs
    )
    url = json.dumps(outputs["DashboardUrl"]["Value"])
    assert "cloudwatch/home?region=" in url and "#dashboards/dashboard/" in url
