"""Auto Scaling's scaling activities and instance refreshes: the two reads moto lacks.

moto 5.2 does not implement DescribeInstanceRefreshes and returns no scaling activities. recycler treats
an unanswered read as unknown (it will not terminate), so the embedded AWS must answer them: with
nothing by default, or with what a test or the demo injects to stage a running refresh or a failed
launch. The emulator's own launches and terminations (capacity.py) are recorded here too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.state import current_state


def answer_activity_reads(response_class: Any) -> None:
    """DescribeInstanceRefreshes and DescribeScalingActivities answer from the emulator's state."""
    from moto.core.responses import ActionResult

    def describe_instance_refreshes(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        return ActionResult({"InstanceRefreshes": list(current_state().instance_refreshes.get(name, []))})

    def describe_scaling_activities(self: Any) -> Any:
        name = self._get_param("AutoScalingGroupName")
        activities = [
            a for group, items in current_state().activities.items() if name in (None, group) for a in items
        ]
        activities.sort(key=lambda a: a["StartTime"], reverse=True)
        return ActionResult({"Activities": activities})

    response_class.describe_instance_refreshes = describe_instance_refreshes
    response_class.describe_scaling_activities = describe_scaling_activities


def add_activity(
    group: str,
    status: str,
    description: str,
    message: str = "",
    when: datetime | None = None,
    cause: str = "injected by the emulator",
) -> None:
    current_state().activities[group].append(
        {
            "ActivityId": f"act-{len(current_state().activities[group]) + 1}",
            "AutoScalingGroupName": group,
            "Description": description,
            "Cause": cause,
            "StartTime": when or datetime.now(UTC),
            "StatusCode": status,
            "StatusMessage": message,
            "Progress": 100 if status in ("Successful", "Failed", "Cancelled") else 30,
        }
    )


def add_instance_refresh(group: str, status: str = "InProgress") -> None:
    current_state().instance_refreshes[group].append(
        {"InstanceRefreshId": f"refresh-{group}", "AutoScalingGroupName": group, "Status": status}
    )
