"""What may scale groups out soon: their scheduled actions and predictive scaling forecasts (read only).

DescribeScheduledActions and DescribePolicies each take one AutoScalingGroupName, or none for every
group in the Region (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScheduledActions.html,
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribePolicies.html; both paginated,
MaxRecords up to 100). So for one group its own read, for more one paginated read of the Region
filtered here: a run's reads do not grow with the groups it plans. GetPredictiveScalingForecast
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_GetPredictiveScalingForecast.html) is one
call per policy, made only for policies in ForecastAndScale mode on the groups asked about: a
ForecastOnly policy (the default Mode) never scales.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from recycler.aws.clients import OnClients
from recycler.domain import AWS_ERRORS
from recycler.messages import aws_error_text
from recycler.policy.stampede import CapacityForecast, ScaleOutPlans, ScheduledAction

PAGE_SIZE = 100  # MaxRecords maximum of both Describe calls
# One group (a drill): its own read; more: the Region's list, filtered here, so the reads stay at one page
# each while the Region holds at most PAGE_SIZE scheduled actions and predictive policies.
PER_GROUP_READS = 1
FORECAST_HOURS_PAST_WINDOW = timedelta(hours=1)  # the forecast is hourly: the hour after the window too
FORECAST_AND_SCALE = "ForecastAndScale"


def scale_out_read_floor(planned: int) -> int:
    """The fewest calls that read what may scale `planned` groups out, without predictive policies: one
    page of scheduled actions and one of predictive policies (planning.py adds this to its floor)."""
    return 2 if planned else 0


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class ScalingSchedule(OnClients):
    """Scheduled actions, predictive policies and their forecasts, per group."""

    def plans(self, groups: Sequence[str], now: datetime, until: datetime) -> dict[str, ScaleOutPlans]:
        """Per group: what may scale it out between now and until. A group whose forecast could not be
        read carries the error as `unknown`; a failed Describe raises (planning skips every group)."""
        wanted = set(groups)
        if not wanted:
            return {}
        actions: dict[str, list[ScheduledAction]] = {g: [] for g in wanted}
        for raw in self._pages(groups, "describe_scheduled_actions", "ScheduledUpdateGroupActions"):
            if raw.get("AutoScalingGroupName") in wanted:
                actions[raw["AutoScalingGroupName"]].append(
                    ScheduledAction(
                        name=raw.get("ScheduledActionName", "?"),
                        start=_utc(raw.get("StartTime")),
                        end=_utc(raw.get("EndTime")),
                        recurrence=raw.get("Recurrence") or None,
                        time_zone=raw.get("TimeZone") or None,
                        desired_capacity=raw.get("DesiredCapacity"),
                        min_size=raw.get("MinSize"),
                    )
                )
        forecasts: dict[str, list[CapacityForecast]] = {g: [] for g in wanted}
        unknown: dict[str, str] = {}
        policies = self._pages(
            groups, "describe_policies", "ScalingPolicies", PolicyTypes=["PredictiveScaling"]
        )
        for policy in policies:
            group = policy.get("AutoScalingGroupName")
            config = policy.get("PredictiveScalingConfiguration") or {}
            if group not in wanted or config.get("Mode", "ForecastOnly") != FORECAST_AND_SCALE:
                continue
            try:
                forecasts[group].append(self._forecast(group, policy, config, now, until))
            except AWS_ERRORS as error:
                unknown[group] = f"forecast of {policy.get('PolicyName')}: {aws_error_text(error)}"
        return {
            g: ScaleOutPlans(tuple(actions[g]), tuple(forecasts[g]), unknown.get(g)) for g in sorted(wanted)
        }

    def _pages(
        self, groups: Sequence[str], operation: str, key: str, **extra: Any
    ) -> Iterator[dict[str, Any]]:
        scopes: list[dict[str, Any]] = (
            [{"AutoScalingGroupName": g} for g in groups] if len(groups) <= PER_GROUP_READS else [{}]
        )
        paginator = self.autoscaling.get_paginator(operation)  # type: ignore[call-overload]
        for scope in scopes:
            for page in paginator.paginate(**scope, **extra, PaginationConfig={"PageSize": PAGE_SIZE}):
                yield from page.get(key, [])

    def _forecast(
        self, group: str, policy: dict[str, Any], config: dict[str, Any], now: datetime, until: datetime
    ) -> CapacityForecast:
        answer = self.autoscaling.get_predictive_scaling_forecast(
            AutoScalingGroupName=group,
            PolicyName=policy["PolicyName"],
            StartTime=now,
            EndTime=until + FORECAST_HOURS_PAST_WINDOW,
        )
        capacity = answer.get("CapacityForecast") or {}
        points = tuple(
            (moment, float(value))
            for stamp, value in zip(capacity.get("Timestamps", []), capacity.get("Values", []), strict=False)
            if (moment := _utc(stamp)) is not None
        )
        buffer = timedelta(seconds=int(config.get("SchedulingBufferTime", 300)))
        return CapacityForecast(policy=policy["PolicyName"], points=points, buffer=buffer)
