"""Predictive scaling forecasts, which moto 5.2 lacks (it stores scheduled actions and predictive
policies, and answers DescribeScheduledActions and DescribePolicies, but has no
GetPredictiveScalingForecast and scales nothing on a schedule or a forecast), and a scheduled action's
StartTime in the past, which moto accepts: AWS refuses it ("If you try to schedule your action in the
past, Amazon EC2 Auto Scaling returns an error message",
https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScheduledUpdateGroupAction.html).

AWS (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_GetPredictiveScalingForecast.html,
https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-predictive-scaling.html): the
forecast of a group's predictive policy between StartTime (inclusive) and EndTime (exclusive), hourly;
"a minimum of 24 hours of data is required to create the initial forecasts", so a policy without
history has an empty forecast. A test stages the capacity forecast with predictive_forecast(); the
load forecast is answered empty. A policy that is not the group's predictive policy is a
ValidationError, as AWS answers a name it does not know.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.state import current_state


def predictive_forecast(group: str, policy: str, points: Sequence[tuple[datetime, float]]) -> None:
    """Stage the hourly capacity forecast GetPredictiveScalingForecast answers for a group's policy."""
    current_state().capacity_forecasts[(group, policy)] = sorted(points)


def _moment(text: Any) -> datetime:
    moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def predictive_forecasts_like_aws(response_class: Any) -> None:
    from moto.autoscaling.exceptions import ValidationError
    from moto.core.responses import ActionResult

    def get_predictive_scaling_forecast(self: Any) -> Any:
        group, name = self._get_param("AutoScalingGroupName"), self._get_param("PolicyName")
        policy = self.autoscaling_backend.policies.get(name)
        if (
            policy is None
            or policy.auto_scaling_group_name != group
            or policy.policy_type != "PredictiveScaling"
        ):
            raise ValidationError(f"No predictive scaling policy {name} found for group {group}")
        start, end = _moment(self._get_param("StartTime")), _moment(self._get_param("EndTime"))
        points = [
            (t, v) for t, v in current_state().capacity_forecasts.get((group, name), []) if start <= t < end
        ]
        return ActionResult(
            {
                "LoadForecast": [],
                "CapacityForecast": {"Timestamps": [t for t, _ in points], "Values": [v for _, v in points]},
                "UpdateTime": datetime.now(UTC),
            }
        )

    response_class.get_predictive_scaling_forecast = get_predictive_scaling_forecast
    original_put = response_class.put_scheduled_update_group_action

    def put_scheduled_update_group_action(self: Any) -> Any:
        start = self._get_param("StartTime")
        if start and _moment(start) < datetime.now(UTC):
            raise ValidationError(f"Given start time is in the past: {start}")
        return original_put(self)

    response_class.put_scheduled_update_group_action = put_scheduled_update_group_action
