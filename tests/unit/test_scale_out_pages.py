"""aws/scaling_schedule.py beyond one page: a Region with more scheduled actions than one
DescribeScheduledActions page (MaxRecords 100) still has every one read. A read that stops at the first
page misses a scale-out on the second and recycles a group just before it scales (fail open)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.stub import Stubber

from recycler.aws.clients import Clients
from recycler.aws.scaling_schedule import PAGE_SIZE, ScalingSchedule

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)


class StubbedClients(Clients):
    """The run's clients, with autoscaling answered by a botocore Stubber."""

    def __init__(self, autoscaling: Any) -> None:
        super().__init__(boto3.Session(region_name="us-east-1"))
        self._autoscaling = autoscaling

    def get(self, service: str) -> Any:
        assert service == "autoscaling", service
        return self._autoscaling


def action(group: str, name: str, desired: int) -> dict[str, Any]:
    return {
        "AutoScalingGroupName": group,
        "ScheduledActionName": name,
        "StartTime": NOW + timedelta(minutes=20),
        "DesiredCapacity": desired,
    }


def test_a_scheduled_action_on_the_second_page_of_the_region_is_read() -> None:
    autoscaling = boto3.client(
        "autoscaling", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stubber = Stubber(autoscaling)
    first_page = [action("api", f"nightly-{n}", 1) for n in range(PAGE_SIZE)]
    stubber.add_response(
        "describe_scheduled_actions",
        {"ScheduledUpdateGroupActions": first_page, "NextToken": "page-2"},
        {"MaxRecords": PAGE_SIZE},
    )
    stubber.add_response(
        "describe_scheduled_actions",
        {"ScheduledUpdateGroupActions": [action("web", "flash-sale", 8)]},
        {"MaxRecords": PAGE_SIZE, "NextToken": "page-2"},
    )
    stubber.add_response(
        "describe_policies",
        {"ScalingPolicies": []},
        {"PolicyTypes": ["PredictiveScaling"], "MaxRecords": PAGE_SIZE},
    )
    with stubber:
        plans = ScalingSchedule(StubbedClients(autoscaling)).plans(
            ["api", "web"], NOW, NOW + timedelta(hours=2)
        )
    assert [a.name for a in plans["web"].actions] == ["flash-sale"], "the second page was not read"
    assert len(plans["api"].actions) == PAGE_SIZE
    stubber.assert_no_pending_responses()
