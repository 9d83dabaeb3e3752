"""Alarms to the alert topic and the dashboard that shows whether bit rot is under control."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.config import DeployConfig
from recycler.domain import METRIC_NAMESPACE, METRIC_SERVICE
from recycler.schedule import parse_schedule

NAMESPACE = METRIC_NAMESPACE
# Every recycler metric carries the service dimension (recycler/metrics.py): a metric is identified by
# its whole dimension set, so each alarm and graph names it too (tests/infra/test_metrics_contract.py).
SERVICE = {"service": METRIC_SERVICE}
DAY = Duration.days(1)
# CloudWatch: Period x EvaluationPeriods may not exceed seven days.
LONGEST_ALARM_WINDOW = timedelta(days=7)
GAP_SAMPLES = 400  # scheduled runs looked at: over a year of a daily schedule, both DST changes


def longest_gap(expression: str, time_zone: str, start: datetime | None = None) -> timedelta:
    """The longest time between two scheduled runs (a weekday schedule: the weekend, 72 h)."""
    schedule = parse_schedule(expression, time_zone)
    moment = schedule.next(start or datetime(2026, 1, 1, tzinfo=UTC))
    gap = timedelta(0)
    for _ in range(GAP_SAMPLES):
        following = schedule.next(moment)
        gap, moment = max(gap, following - moment), following
    return gap


def not_running_window(expression: str, time_zone: str) -> timedelta:
    """How long without a completed run means recycler stopped: a day (a run's own time, retries, a
    late start) plus the schedule's longest gap, in whole hours, at most CloudWatch's seven days."""
    window = timedelta(days=1) + longest_gap(expression, time_zone)
    hours = math.ceil(window.total_seconds() / 3600)
    return min(timedelta(hours=hours), LONGEST_ALARM_WINDOW)


def recycler_metric(
    name: str, statistic: str = "Sum", period: Duration = DAY, **dimensions: str
) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=NAMESPACE,
        metric_name=name,
        dimensions_map={**SERVICE, **dimensions},
        statistic=statistic,
        period=period,
    )


def search(metric: str, dimension: str, statistic: str, label: str) -> cloudwatch.MathExpression:
    return cloudwatch.MathExpression(
        expression=f"SEARCH('{{{NAMESPACE},{dimension},service}} MetricName=\"{metric}\"', '{statistic}', 86400)",
        label=label,
        period=DAY,
    )


def durable_metric(function: lambda_.Function, name: str, period: Duration) -> cloudwatch.Metric:
    """Lambda's per-function durable execution metrics (DurableExecution<Status>)."""
    return cloudwatch.Metric(
        namespace="AWS/Lambda",
        metric_name=name,
        dimensions_map={"FunctionName": function.function_name},
        statistic="Sum",
        period=period,
    )


class Alarms(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: DeployConfig,
        function: lambda_.Function,
        dead_letters: sqs.IQueue,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        five_minutes = Duration.minutes(5)
        specs: list[tuple[str, cloudwatch.IMetric, float, str]] = [
            (
                "RecycleFailed",
                recycler_metric("Failed", period=five_minutes),
                1,
                "a replacement did not come up healthy",
            ),
            (
                "AlertNotDelivered",
                recycler_metric("AlertsNotDelivered", period=five_minutes),
                1,
                "an SNS alert failed to publish",
            ),
            (
                "FunctionErrors",
                function.metric_errors(period=five_minutes),
                1,
                "the recycler function raised errors",
            ),
            (
                "DurableExecutionFailed",
                durable_metric(function, "DurableExecutionFailed", five_minutes),
                1,
                "a recycle run failed as a whole (bad input, unrecoverable error)",
            ),
            (
                "DurableExecutionTimedOut",
                durable_metric(function, "DurableExecutionTimedOut", five_minutes),
                1,
                "a recycle run exceeded its execution timeout",
            ),
            (
                "ScheduleDeadLetters",
                dead_letters.metric_approximate_number_of_messages_visible(
                    period=five_minutes, statistic="Maximum"
                ),
                1,
                "the schedule could not invoke the function",
            ),
            (
                "BitRot",
                recycler_metric("FleetOldestInstanceAgeDays", statistic="Maximum", Fleet="all"),
                config.bit_rot_days,
                f"an opted-in group has an instance older than {config.bit_rot_days:g} days",
            ),
            (
                "FreshnessTargetMissed",
                recycler_metric("FreshnessTargetMissed", statistic="Maximum", Fleet="all"),
                1,
                "a group's freshness target (recycler:max-age-days) cannot hold at the rate its cap, the "
                "schedule's windows or the execution's budget allow; the run summary alert names the groups "
                "and the setting that fixes each",
            ),
            (
                "ImageRot",
                recycler_metric("FleetOldestImageAgeDays", statistic="Maximum", Fleet="all"),
                config.image_rot_days,
                f"an opted-in group runs an AMI built more than {config.image_rot_days:g} days ago",
            ),
        ]
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        # Nothing else notices that runs stopped happening: missing data is the signal here.
        window = not_running_window(config.schedule_expression, config.schedule_time_zone)
        self.not_running_window = window
        not_running = cloudwatch.Alarm(
            self,
            "NotRunning",
            metric=recycler_metric(
                "RunsCompleted", period=Duration.hours(int(window.total_seconds() // 3600))
            ),
            threshold=1,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
            alarm_description=f"recycler is not running: no completed run in {window.total_seconds() / 3600:g} h "
            f"(a day plus the longest gap of {config.schedule_expression} in {config.schedule_time_zone}); "
            "check the schedule (enabled? its dead-letter queue), the function's errors and the kill switch",
        )
        not_running.add_alarm_action(actions.SnsAction(topic))
        self.alarms["NotRunning"] = not_running
        for name, metric, threshold, meaning in specs:
            alarm = cloudwatch.Alarm(
                self,
                name,
                metric=metric,
                threshold=threshold,
                evaluation_periods=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                alarm_description=f"recycler: {meaning}",
            )
            alarm.add_alarm_action(actions.SnsAction(topic))
            self.alarms[name] = alarm


class Dashboard(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.Function, log_group: logs.ILogGroup
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=Duration.days(30))
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Recycles per day",
                left=[recycler_metric("Recycled"), recycler_metric("Failed"), recycler_metric("Planned")],
                stacked=True,
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Runs completed per day (none for a day plus the schedule's gap: NotRunning alarm)",
                left=[recycler_metric("RunsCompleted")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Skipped per day, by reason",
                left=[search("Skipped", "Reason", "Sum", "")],
                stacked=True,
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Oldest instance age per group (days)",
                left=[search("OldestInstanceAgeDays", "AutoScalingGroupName", "Maximum", "")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Oldest image (AMI) age per group (days)",
                left=[search("OldestImageAgeDays", "AutoScalingGroupName", "Maximum", "")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Health wait (seconds) and stale-AMI replacements",
                left=[search("HealthWaitSeconds", "Outcome", "Maximum", "")],
                right=[recycler_metric("StaleAmiReplacements")],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Fleet instance age (days): p50, p95 and max, as each run's plan read it",
                left=[
                    recycler_metric(name, statistic="Maximum", Fleet="all").with_(label=label)
                    for name, label in (
                        ("FleetInstanceAgeP50Days", "p50"),
                        ("FleetInstanceAgeP95Days", "p95"),
                        ("FleetOldestInstanceAgeDays", "max"),
                    )
                ],
                width=12,
            ),
        )
        self.dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Failed AMI canaries, by image",
                left=[search("CanaryFailed", "ImageId", "Sum", "")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Function errors and duration",
                left=[function.metric_errors(period=Duration.hours(1))],
                right=[function.metric_duration(period=Duration.hours(1), statistic="Maximum")],
                width=12,
            ),
            cloudwatch.LogQueryWidget(
                title="Last runs, per group",
                log_group_names=[log_group.log_group_name],
                query_lines=[
                    "fields @timestamp, run_id, group, outcome, reason, victim.instance_id, replacement.instance_id",
                    'filter message = "group result"',
                    "sort @timestamp desc",
                    "limit 100",
                ],
                width=12,
            ),
        )
