"""Completes moto's Auto Scaling emulation for the demo and the tests; never used against AWS.

moto 5.2 does not implement DescribeInstanceRefreshes and returns no scaling activities. recycler treats
an unanswered read as unknown (it will not terminate), so the embedded AWS must answer them: with
nothing by default, or with what a test or the demo injects to stage a running refresh or a failed
launch.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

INSTANCE_REFRESHES: dict[str, list[dict[str, Any]]] = defaultdict(list)
ACTIVITIES: dict[str, list[dict[str, Any]]] = defaultdict(list)
_lock = threading.Lock()
_installed: list[bool] = []


def install() -> None:
    """Teach moto's Auto Scaling responses the two reads; idempotent."""
    with _lock:
        if _installed:
            return
        from moto.autoscaling.responses import AutoScalingResponse
        from moto.core.responses import ActionResult

        def describe_instance_refreshes(self: Any) -> Any:
            name = self._get_param("AutoScalingGroupName")
            return ActionResult({"InstanceRefreshes": list(INSTANCE_REFRESHES.get(name, []))})

        def describe_scaling_activities(self: Any) -> Any:
            name = self._get_param("AutoScalingGroupName")
            activities = [a for group, items in ACTIVITIES.items() if name in (None, group) for a in items]
            activities.sort(key=lambda a: a["StartTime"], reverse=True)
            return ActionResult({"Activities": activities})

        AutoScalingResponse.describe_instance_refreshes = describe_instance_refreshes  # type: ignore[attr-defined]
        AutoScalingResponse.describe_scaling_activities = describe_scaling_activities  # type: ignore[method-assign]
        _installed.append(True)


def add_activity(
    group: str, status: str, description: str, message: str = "", when: datetime | None = None
) -> None:
    ACTIVITIES[group].append(
        {
            "ActivityId": f"act-{len(ACTIVITIES[group]) + 1}",
            "AutoScalingGroupName": group,
            "Description": description,
            "Cause": "injected by the emulator",
            "StartTime": when or datetime.now(UTC),
            "StatusCode": status,
            "StatusMessage": message,
            "Progress": 100 if status in ("Successful", "Failed", "Cancelled") else 30,
        }
    )


def add_instance_refresh(group: str, status: str = "InProgress") -> None:
    INSTANCE_REFRESHES[group].append(
        {"InstanceRefreshId": f"refresh-{group}", "AutoScalingGroupName": group, "Status": status}
    )


def reset() -> None:
    INSTANCE_REFRESHES.clear()
    ACTIVITIES.clear()


# ---- seeding helpers shared by the demo and the tests -----------------------------------------

DEFAULT_ACCOUNT = "123456789012"


def backdate(
    instance_ids: list[str], launched_at: datetime, region: str, account: str = DEFAULT_ACCOUNT
) -> None:
    """Set instances' LaunchTime in the emulator's EC2 backend (moto stamps creation time)."""
    from moto.ec2.models import ec2_backends

    backend = ec2_backends[account][region]
    for instance_id in instance_ids:
        backend.get_instance(instance_id).launch_time = launched_at.astimezone(UTC).replace(tzinfo=None)


def mark_unhealthy(instance_id: str, region: str, account: str = DEFAULT_ACCOUNT) -> None:
    from moto.autoscaling.models import autoscaling_backends

    autoscaling_backends[account][region].set_instance_health(instance_id, "Unhealthy")


def group_instances(autoscaling: Any, name: str) -> list[str]:
    groups = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    return [i["InstanceId"] for i in groups[0]["Instances"]] if groups else []


def create_launch_template(ec2: Any, name: str, image: str) -> str:
    template = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro"}
    )["LaunchTemplate"]["LaunchTemplateId"]
    return str(template)


def publish_image(ec2: Any, template_id: str, image: str) -> None:
    """A new launch template version: what a patched-AMI pipeline does; $Latest now boots `image`."""
    ec2.create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion="1", LaunchTemplateData={"ImageId": image}
    )


def create_group(
    autoscaling: Any,
    name: str,
    template_id: str,
    *,
    size: int,
    max_size: int | None = None,
    tags: dict[str, str] | None = None,
    target_group_arns: list[str] | None = None,
    version: str = "$Latest",
    zone: str = "us-east-1a",
) -> list[str]:
    """Create a group at `size` instances launched from `version`, returning their ids."""
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": version},
        MinSize=min(size, 1),
        MaxSize=max_size if max_size is not None else size + 1,
        DesiredCapacity=size,
        AvailabilityZones=[zone],
        HealthCheckGracePeriod=60,
        TargetGroupARNs=target_group_arns or [],
        Tags=[
            {
                "Key": k,
                "Value": v,
                "PropagateAtLaunch": False,
                "ResourceId": name,
                "ResourceType": "auto-scaling-group",
            }
            for k, v in (tags or {}).items()
        ],
    )
    return group_instances(autoscaling, name)


def point_group_at(autoscaling: Any, name: str, template_id: str, version: str) -> None:
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template_id, "Version": version}
    )
