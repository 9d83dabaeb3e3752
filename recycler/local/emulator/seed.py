"""Seeding helpers shared by the demo, the tests and the bench: fleets with known ages and images, the
target group, ledger table and alert topic the stack deploys, and ECS clusters with tasks.

They call the emulated AWS through the boto3 clients they are given, except where only moto's backends
can set a value (an instance's LaunchTime).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from recycler.local.emulator.ecs import ecs_agent
from recycler.local.emulator.state import DEFAULT_ACCOUNT

if TYPE_CHECKING:
    from mypy_boto3_autoscaling.type_defs import TagTypeDef


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
    grace_seconds: int = 5,
) -> list[str]:
    """Create a group at `size` instances launched from `version`, returning their ids. The grace
    period is short so drills that really sleep (demo, CLI tests) wait seconds, not minutes."""
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=name,
        LaunchTemplate={"LaunchTemplateId": template_id, "Version": version},
        MinSize=min(size, 1),
        MaxSize=max_size if max_size is not None else size + 1,
        DesiredCapacity=size,
        AvailabilityZones=[zone],
        HealthCheckGracePeriod=grace_seconds,
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
    grace_seconds: int = 5,
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
        zone=f"{region}a",
        grace_seconds=grace_seconds,
    )
    for instance_id, age in zip(ids, ages_days, strict=True):
        backdate([instance_id], now - timedelta(days=age), region)
    point_group_at(autoscaling, name, template_id, "$Latest")
    return ids


# Every fresh emulator (each test's mock_aws, each moto server) holds the same stock AMIs for a region:
# moto's bundled amis.json. Reading them means serializing some 4,000 images (about 2 s), so a process
# reads them once per region and image-loading setting.
_stock_images: dict[tuple[str, str], list[str]] = {}


def stock_images(ec2: Any, count: int = 2) -> list[str]:
    """The first `count` of the emulator's stock AMIs, in a stable order (old image first)."""
    key = (str(ec2.meta.region_name), os.environ.get("MOTO_EC2_LOAD_DEFAULT_AMIS", "true"))
    if key not in _stock_images:
        _stock_images[key] = sorted(i["ImageId"] for i in ec2.describe_images(Owners=["amazon"])["Images"])
    return _stock_images[key][:count]


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


# ---- container hosts (ECS) ----------------------------------------------------------------------


def create_ecs_cluster(
    ecs: Any, name: str, instance_ids: Sequence[str], group: str | None = None
) -> dict[str, str]:
    """An ECS cluster with the instances registered as container instances (what each instance's ECS
    agent does at boot), and the group's future instances too; returns EC2 instance id -> container
    instance ARN."""
    ecs.create_cluster(clusterName=name)
    if group is not None:
        ecs_agent(group, name)
    ecs.register_task_definition(
        family=f"{name}-app", containerDefinitions=[{"name": "app", "image": "app", "memory": 64, "cpu": 64}]
    )
    return register_container_instances(ecs, name, instance_ids)


def register_container_instances(ecs: Any, cluster: str, instance_ids: Sequence[str]) -> dict[str, str]:
    return {
        instance_id: ecs.register_container_instance(
            cluster=cluster, instanceIdentityDocument=json.dumps({"instanceId": instance_id})
        )["containerInstance"]["containerInstanceArn"]
        for instance_id in instance_ids
    }


def run_tasks(
    ecs: Any, cluster: str, container_instance: str, *, service: int = 0, standalone: int = 0
) -> None:
    """Tasks on one container instance: `service` tasks belong to a service (they move off a DRAINING
    instance), `standalone` ones were started by hand (they stay until they stop)."""
    for count, started_by in ((service, f"ecs-svc/{cluster}-web"), (standalone, "operator")):
        for _ in range(count):
            ecs.start_task(
                cluster=cluster,
                taskDefinition=f"{cluster}-app",
                containerInstances=[container_instance],
                startedBy=started_by,
            )


def create_capacity_provider(
    ecs: Any,
    name: str,
    group_arn: str,
    cluster: str | None = None,
    *,
    managed_draining: bool = True,
    managed_termination_protection: bool = False,
) -> None:
    """A capacity provider for the group; with managed termination protection ECS keeps every instance
    that runs tasks protected from scale-in (ecs_protection.py)."""
    provider: dict[str, Any] = {
        "autoScalingGroupArn": group_arn,
        "managedDraining": "ENABLED" if managed_draining else "DISABLED",
        "managedTerminationProtection": "ENABLED" if managed_termination_protection else "DISABLED",
    }
    if managed_termination_protection:
        # "When using managed termination protection, managed scaling must also be used"
        # (https://docs.aws.amazon.com/AmazonECS/latest/APIReference/API_AutoScalingGroupProviderUpdate.html).
        provider["managedScaling"] = {"status": "ENABLED"}
    ecs.create_capacity_provider(name=name, autoScalingGroupProvider=provider)
    if cluster is not None:
        ecs.put_cluster_capacity_providers(
            cluster=cluster, capacityProviders=[name], defaultCapacityProviderStrategy=[]
        )


def create_alarm(cloudwatch: Any, name: str) -> None:
    """A metric alarm (OK until a test or the demo sets its state): a group's 5xx alarm, say."""
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        MetricName="HTTPCode_Target_5XX_Count",
        Namespace="AWS/ApplicationELB",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )


class SimulatedClock:
    """A clock that moves only when a wait sleeps: a port's `sleep` and the services' `clock` in one."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
