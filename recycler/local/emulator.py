"""Completes moto's Auto Scaling emulation for the demo and the tests; never used against AWS.

moto 5.2 does not implement DescribeInstanceRefreshes and returns no scaling activities. recycler treats
an unanswered read as unknown (it will not terminate), so the embedded AWS must answer them: with
nothing by default, or with what a test or the demo injects to stage a running refresh or a failed
launch.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import TagTypeDef

INSTANCE_REFRESHES: dict[str, list[dict[str, Any]]] = defaultdict(list)
ACTIVITIES: dict[str, list[dict[str, Any]]] = defaultdict(list)
# group name -> how its next replacements misbehave (see sabotage()).
SABOTAGE: dict[str, str] = {}
UNHEALTHY_TARGETS: set[str] = set()
# instance id -> remaining DescribeAutoScalingGroups reads before it leaves Pending.
SLOW_INSTANCES: dict[str, int] = {}
FAILURES = ("unhealthy", "target-unhealthy", "launch-failed", "slow")
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
        _sabotage_replacements(AutoScalingResponse)
        _sabotage_target_health()
        _installed.append(True)


def sabotage(group: str, how: str, *, slow_reads: int = 0) -> None:
    """Make the group's next replacements misbehave the way real ones do.

    unhealthy: the replacement is marked Unhealthy by Auto Scaling; target-unhealthy: it stays
    InService but fails its target-group health check; launch-failed: the launch activity Failed;
    slow: the replacement stays Pending for `slow_reads` DescribeAutoScalingGroups reads.
    """
    if how not in FAILURES:
        raise ValueError(f"sabotage how={how!r}; use one of {', '.join(FAILURES)}")
    SABOTAGE[group] = f"{how}:{slow_reads}"


def _apply_sabotage(backend: Any, group_name: str, before: set[str]) -> None:
    plan = SABOTAGE.get(group_name)
    group = backend.autoscaling_groups.get(group_name)
    if not plan or group is None:
        return
    how, reads = plan.split(":")
    fresh = [state for state in group.instance_states if state.instance.id not in before]
    for state in fresh:
        if how == "unhealthy":
            state.health_status = "Unhealthy"
        elif how == "target-unhealthy":
            UNHEALTHY_TARGETS.add(state.instance.id)
        elif how == "launch-failed":
            state.lifecycle_state = "Pending"
        elif how == "slow":
            state.lifecycle_state = "Pending"
            SLOW_INSTANCES[state.instance.id] = int(reads)
    if how == "launch-failed":
        add_activity(
            group_name,
            "Failed",
            "Launching a new EC2 instance. Status Reason: The image id does not exist.",
            "InvalidAMIID.NotFound: The image id '[ami-0broken]' does not exist. Launching EC2 instance failed.",
        )


def _sabotage_replacements(response_class: Any) -> None:
    """Wrap the calls that launch replacements so sabotage() can act on the new instances."""

    def wrap(method_name: str, group_of: Any) -> None:
        original = getattr(response_class, method_name)

        def wrapped(self: Any) -> Any:
            backend = self.autoscaling_backend
            name = group_of(self, backend)
            if name is None and method_name == "terminate_instance_in_auto_scaling_group":
                from moto.autoscaling.exceptions import ValidationError

                # What Auto Scaling answers; moto itself raises a bare StopIteration here.
                instance_id = self._get_param("InstanceId")
                raise ValidationError(
                    f"Instance Id not found - No managed instance found for instance ID: {instance_id}"
                )
            group = backend.autoscaling_groups.get(name) if name else None
            before = {s.instance.id for s in group.instance_states} if group else set()
            result = original(self)
            if name:
                _apply_sabotage(backend, name, before)
            return result

        setattr(response_class, method_name, wrapped)

    def group_of_instance(self: Any, backend: Any) -> str | None:
        instance_id = self._get_param("InstanceId")
        for group in backend.autoscaling_groups.values():
            if any(s.instance.id == instance_id for s in group.instance_states):
                return str(group.name)
        return None

    wrap("terminate_instance_in_auto_scaling_group", group_of_instance)
    wrap("set_desired_capacity", lambda self, backend: self._get_param("AutoScalingGroupName"))

    original_describe = response_class.describe_auto_scaling_groups

    def describe(self: Any) -> Any:
        for group in self.autoscaling_backend.autoscaling_groups.values():
            for state in group.instance_states:
                remaining = SLOW_INSTANCES.get(state.instance.id)
                if remaining is None:
                    continue
                if remaining <= 0:
                    state.lifecycle_state = "InService"
                    del SLOW_INSTANCES[state.instance.id]
                else:
                    SLOW_INSTANCES[state.instance.id] = remaining - 1
        return original_describe(self)

    response_class.describe_auto_scaling_groups = describe


def _sabotage_target_health() -> None:
    from moto.elbv2.models import FakeHealthStatus
    from moto.elbv2.responses import ELBV2Response

    original = ELBV2Response.describe_target_health

    def describe_target_health(self: Any) -> Any:
        result = original(self)
        body: Any = result.result
        descriptions = body["TargetHealthDescriptions"]
        body["TargetHealthDescriptions"] = [
            FakeHealthStatus(
                d.instance_id,
                d.port,
                d.health_check_port,
                "unhealthy",
                "Target.FailedHealthChecks",
                "Health checks failed",
            )
            if d.instance_id in UNHEALTHY_TARGETS
            else d
            for d in descriptions
        ]
        return result

    ELBV2Response.describe_target_health = describe_target_health  # type: ignore[method-assign]


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
    SABOTAGE.clear()
    UNHEALTHY_TARGETS.clear()
    SLOW_INSTANCES.clear()


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
        Tags=group_tags(name, tags or {}),
    )
    return group_instances(autoscaling, name)


def group_tags(name: str, tags: dict[str, str]) -> list[TagTypeDef]:
    """Tags in the shape CreateAutoScalingGroup takes."""
    return [
        {
            "Key": k,
            "Value": v,
            "PropagateAtLaunch": False,
            "ResourceId": name,
            "ResourceType": "auto-scaling-group",
        }
        for k, v in tags.items()
    ]


def create_aged_group(
    autoscaling: Any,
    name: str,
    template_id: str,
    ages_days: Sequence[float],
    now: datetime,
    *,
    region: str,
    max_size: int | None = None,
    tags: dict[str, str] | None = None,
    target_group_arns: list[str] | None = None,
) -> list[str]:
    """A group with one instance per age (days before `now`), launched from the template's version 1;
    its replacements launch from $Latest, where publish_image() puts a patched image."""
    ids = create_group(
        autoscaling,
        name,
        template_id,
        size=len(ages_days),
        max_size=max_size,
        tags=tags,
        target_group_arns=target_group_arns,
        version="1",
    )
    for instance_id, age in zip(ids, ages_days, strict=True):
        backdate([instance_id], now - timedelta(days=age), region)
    point_group_at(autoscaling, name, template_id, "$Latest")
    return ids


def stock_images(ec2: Any, count: int = 2) -> list[str]:
    """The first `count` of the emulator's stock AMIs, in a stable order (old image first)."""
    return sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])[:count]


def point_group_at(autoscaling: Any, name: str, template_id: str, version: str) -> None:
    autoscaling.update_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateId": template_id, "Version": version}
    )


def create_target_group(ec2: Any, elbv2: Any, name: str) -> str:
    """An instance target group in a new VPC; returns its ARN."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return str(
        elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")[
            "TargetGroups"
        ][0]["TargetGroupArn"]
    )


def create_ledger_table(dynamodb: Any, name: str) -> None:
    """The same key schema infra/ledger.py deploys."""
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "group_name", "KeyType": "HASH"},
            {"AttributeName": "record", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "group_name", "AttributeType": "S"},
            {"AttributeName": "record", "AttributeType": "S"},
        ],
    )


def create_alert_topic(sns: Any, sqs: Any, name: str = "recycler-alerts") -> tuple[str, str]:
    """An SNS topic with an SQS queue subscribed, so what was published can be read back."""
    topic_arn = sns.create_topic(Name=name)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=f"{name}-tap")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    return str(topic_arn), str(queue_url)


def published(sqs: Any, queue_url: str) -> list[dict[str, str]]:
    """Drain the tap queue: [{"Subject": ..., "Message": ...}] in publish order."""
    messages: list[dict[str, str]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return messages
        for message in batch:
            body = json.loads(message["Body"])
            messages.append({"Subject": body.get("Subject", ""), "Message": body.get("Message", "")})
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
