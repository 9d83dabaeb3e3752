"""What a run tells CloudWatch: EMF metrics for the dashboard and the alarms (namespace Recycler)."""

from __future__ import annotations

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from recycler.domain import METRIC_NAMESPACE, METRIC_SERVICE
from recycler.report import RunReport

metrics = Metrics(namespace=METRIC_NAMESPACE, service=METRIC_SERVICE)


def publish_metrics(report: RunReport) -> None:
    """EMF metrics for the dashboard and alarms (namespace Recycler)."""
    summary = report.summary
    metrics.add_metric(name="Recycled", unit=MetricUnit.Count, value=summary.recycled)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=summary.failed)
    metrics.add_metric(name="Planned", unit=MetricUnit.Count, value=summary.planned)
    metrics.add_metric(
        name="StaleAmiReplacements",
        unit=MetricUnit.Count,
        value=sum(1 for g in report.groups if g.replacement and g.replacement.ami_refreshed is False),
    )
    metrics.add_metric(name="AlertsNotDelivered", unit=MetricUnit.Count, value=len(report.alerts_failed))
    metrics.add_metric(name="InstancesRecycled", unit=MetricUnit.Count, value=summary.instances_recycled)
    # 1 per run that got this far: the "not running" alarm treats a day plus the schedule's longest gap
    # without one as recycler having stopped (a disabled or broken schedule, a run failing early).
    metrics.add_metric(name="RunsCompleted", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()
    for reason, count in report.skipped_groups_omitted.items():  # a very large fleet's unlisted skips
        _emit("Skipped", MetricUnit.Count, count, "Reason", reason)
    for group in report.groups:
        if group.outcome == "skipped":
            _emit("Skipped", MetricUnit.Count, 1, "Reason", group.reason)
        if group.waited_seconds is not None:
            _emit("HealthWaitSeconds", MetricUnit.Seconds, group.waited_seconds, "Outcome", group.outcome)
        if group.oldest_image_age_days is not None:
            _emit(
                "OldestImageAgeDays",
                MetricUnit.Count,
                group.oldest_image_age_days,
                "AutoScalingGroupName",
                group.group,
            )
        if group.oldest_instance_age_days is not None:
            _emit(
                "OldestInstanceAgeDays",
                MetricUnit.Count,
                group.oldest_instance_age_days,
                "AutoScalingGroupName",
                group.group,
            )
    # Groups whose freshness target cannot hold at the planned rate: one series for the alarm (0 when none,
    # so the alarm sees every run), one per group for the dashboard.
    missed = report.freshness_missed
    _emit("FreshnessTargetMissed", MetricUnit.Count, len(missed), "Fleet", "all")
    for group in missed:
        _emit("FreshnessTargetMissed", MetricUnit.Count, 1, "AutoScalingGroupName", group.group)
    for group in report.groups:
        if group.behind_by:
            # The freshness target's cap cannot keep up: that many due instances wait for later runs.
            _emit("BehindBy", MetricUnit.Count, group.behind_by, "AutoScalingGroupName", group.group)
        if group.canary and group.outcome == "failed" and group.current_image_id:
            _emit("CanaryFailed", MetricUnit.Count, 1, "ImageId", group.current_image_id)
    # One series without the group dimension: the "bit rot" alarm watches its maximum across groups
    # (including skipped groups a very large fleet's report only counts).
    if report.fleet_oldest_instance_age_days is not None:
        _emit(
            "FleetOldestInstanceAgeDays",
            MetricUnit.Count,
            report.fleet_oldest_instance_age_days,
            "Fleet",
            "all",
        )
    # The fleet's age distribution beside its maximum (the dashboard's p50 / p95 / max widget).
    for name, value in (
        ("FleetInstanceAgeP50Days", report.fleet_instance_age_p50_days),
        ("FleetInstanceAgeP95Days", report.fleet_instance_age_p95_days),
    ):
        if value is not None:
            _emit(name, MetricUnit.Count, value, "Fleet", "all")
    if report.fleet_oldest_image_age_days is not None:
        _emit("FleetOldestImageAgeDays", MetricUnit.Count, report.fleet_oldest_image_age_days, "Fleet", "all")


def _emit(name: str, unit: MetricUnit, value: float, dimension: str, label: str) -> None:
    """One metric with its own dimension (EMF allows one dimension set per Metrics flush), plus `service`
    set here, not left to POWERTOOLS_SERVICE_NAME: CloudWatch identifies a metric by its whole dimension
    set, so what the alarms and the dashboard name must not depend on the environment."""
    with single_metric(
        name=name,
        unit=unit,
        value=value,
        namespace=METRIC_NAMESPACE,
        default_dimensions={"service": METRIC_SERVICE},
    ) as metric:
        metric.add_dimension(name=dimension, value=label)
