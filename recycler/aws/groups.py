"""What DescribeAutoScalingGroups returns, as the domain's GroupSnapshot: the one place that reads its
shape (launch template specs, MixedInstancesPolicy overrides, tags, suspended processes, traffic
sources)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from recycler.domain import GroupSnapshot, InstanceSnapshot


def launch_template_spec(group: dict[str, Any]) -> tuple[str, str, str] | None:
    spec = group.get("LaunchTemplate") or (
        group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("LaunchTemplateSpecification")
    )
    if not spec:
        return None
    version = spec.get("Version") or "$Default"
    if spec.get("LaunchTemplateId"):
        return ("id", spec["LaunchTemplateId"], version)
    return ("name", spec["LaunchTemplateName"], version)


def override_specs(group: dict[str, Any]) -> list[tuple[str, tuple[str, str, str]]]:
    """(instance type, launch template spec) for each MixedInstancesPolicy override with its own template."""
    overrides = group.get("MixedInstancesPolicy", {}).get("LaunchTemplate", {}).get("Overrides", [])
    found = []
    for override in overrides:
        spec = override.get("LaunchTemplateSpecification")
        if spec and override.get("InstanceType"):
            version = spec.get("Version") or "$Default"
            ident = (
                ("id", spec["LaunchTemplateId"])
                if spec.get("LaunchTemplateId")
                else ("name", spec["LaunchTemplateName"])
            )
            found.append((override["InstanceType"], (ident[0], ident[1], version)))
    return found


def traffic_sources(group: dict[str, Any], kind: str) -> tuple[str, ...]:
    """The identifiers of the group's TrafficSources of one type: `elb` (a Classic Load Balancer's name),
    `elbv2` (an ALB/NLB/GWLB target group's ARN) or `vpc-lattice` (a VPC Lattice target group's ARN).
    https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TrafficSourceIdentifier.html
    AttachTrafficSources supersedes AttachLoadBalancerTargetGroups and both may be used on one group
    (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AttachLoadBalancerTargetGroups.html);
    nothing documents that a target group attached as a traffic source is also listed in
    TargetGroupARNs, so recycler checks the union of both lists."""
    return tuple(s["Identifier"] for s in group.get("TrafficSources", []) if s.get("Type") == kind)


def _union(*lists: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(item for items in lists for item in items))


def with_details(
    instance: InstanceSnapshot, launch_time: datetime | None, image_id: str | None
) -> InstanceSnapshot:
    return replace(instance, launch_time=launch_time, image_id=image_id)


def group_snapshot(group: dict[str, Any]) -> GroupSnapshot:
    return GroupSnapshot(
        name=group["AutoScalingGroupName"],
        desired_capacity=group["DesiredCapacity"],
        min_size=group["MinSize"],
        max_size=group["MaxSize"],
        instances=tuple(
            InstanceSnapshot(
                instance_id=i["InstanceId"],
                lifecycle_state=i["LifecycleState"],
                health_status=i["HealthStatus"],
                protected_from_scale_in=bool(i.get("ProtectedFromScaleIn", False)),
                instance_type=i.get("InstanceType"),
            )
            for i in group.get("Instances", [])
        ),
        tags={t["Key"]: t.get("Value", "") for t in group.get("Tags", [])},
        suspended_processes=frozenset(p["ProcessName"] for p in group.get("SuspendedProcesses", [])),
        target_group_arns=_union(tuple(group.get("TargetGroupARNs", [])), traffic_sources(group, "elbv2")),
        load_balancer_names=_union(tuple(group.get("LoadBalancerNames", [])), traffic_sources(group, "elb")),
        lattice_target_groups=traffic_sources(group, "vpc-lattice"),
        health_check_grace_period=int(group.get("HealthCheckGracePeriod", 300)),
        status=group.get("Status"),
        arn=group.get("AutoScalingGroupARN"),
        warm_pool=bool(group.get("WarmPoolConfiguration")),
    )
