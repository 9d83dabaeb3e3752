"""boto3 adapter for everything recycler reads from or does to EC2 Auto Scaling.

Reads are batched so the number of calls grows with pages of groups, batches of instances and distinct
launch templates, never with one call per group or instance; the one exception is DescribeLifecycleHooks,
which takes a single group and is asked only for the groups a run would recycle (at most
max_groups_per_run).
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from recycler.policy import OPT_IN_VALUE, GroupSnapshot, InstanceSnapshot, LifecycleHook

if TYPE_CHECKING:
    from mypy_boto3_autoscaling import AutoScalingClient
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_elb import ElasticLoadBalancingClient
    from mypy_boto3_elbv2 import ElasticLoadBalancingv2Client
    from mypy_boto3_ssm import SSMClient

logger = logging.getLogger(__name__)

GROUP_PAGE_SIZE = 100  # DescribeAutoScalingGroups MaxRecords maximum
INSTANCE_BATCH_SIZE = 200  # values allowed in one DescribeInstances filter
LAUNCH_CONFIG_BATCH_SIZE = 50  # DescribeLaunchConfigurations names per call
ALARM_BATCH_SIZE = 100  # DescribeAlarms AlarmNames maximum
IMAGE_BATCH_SIZE = 100  # DescribeImages ImageIds per call
IN_PROGRESS_REFRESH = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
FINISHED_ACTIVITY = frozenset({"Successful", "Failed", "Cancelled"})

# Standard retry mode with a generous attempt budget: throttling on describe calls is retried with
# backoff by botocore instead of failing the run; adaptive mode adds client-side rate limiting.
RETRY_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, connect_timeout=10, read_timeout=30)


def client(service: str, session: boto3.Session | None = None) -> Any:
    return (session or boto3.Session()).client(service, config=RETRY_CONFIG)  # type: ignore[call-overload]


def planning_call_floor(groups: int, instances: int, launch_templates: int, planned: int = 0) -> int:
    """The fewest calls that can read a fleet for planning: pages of groups at the largest page size,
    instance batches, one lookup per distinct launch template (version), and for the groups a run
    would recycle their lifecycle hooks (one group per DescribeLifecycleHooks) plus one read of the
    region's ECS capacity providers."""
    containers = planned + 1 if planned else 0
    return (
        math.ceil(groups / GROUP_PAGE_SIZE)
        + math.ceil(instances / INSTANCE_BATCH_SIZE)
        + launch_templates
        + containers
    )


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


INSTANCE_IN_DESCRIPTION = re.compile(r"\b(i-[0-9a-f]{8,17})\b")


@dataclass(frozen=True)
class CurrentImage:
    """The image a group launches now, or None with the reason it is unknown."""

    image_id: str | None
    unknown_reason: str | None
    # MixedInstancesPolicy overrides with their own launch template: (instance type, its image).
    overrides: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Activity:
    status: str
    description: str
    message: str
    start_time: datetime | None
    cause: str = ""

    @property
    def instance_id(self) -> str | None:
        """The instance a launch or termination names ("Launching a new EC2 instance: i-...")."""
        found = INSTANCE_IN_DESCRIPTION.search(self.description)
        return found.group(1) if found else None

    @property
    def is_launch(self) -> bool:
        return self.description.startswith("Launching")


class Fleet:
    """Reads and acts on Auto Scaling groups. One instance per run; clients are created lazily."""

    def __init__(self, session: boto3.Session | None = None) -> None:
        self._session = session or boto3.Session()
        self._clients: dict[str, Any] = {}
        # boto3 clients are thread-safe once built, but building them from one Session is not.
        self._lock = threading.Lock()

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = client(service, self._session)
            return self._clients[service]

    @property
    def autoscaling(self) -> AutoScalingClient:
        return self._client("autoscaling")  # type: ignore[no-any-return]

    @property
    def ec2(self) -> EC2Client:
        return self._client("ec2")  # type: ignore[no-any-return]

    @property
    def elbv2(self) -> ElasticLoadBalancingv2Client:
        return self._client("elbv2")  # type: ignore[no-any-return]

    @property
    def elb(self) -> ElasticLoadBalancingClient:
        return self._client("elb")  # type: ignore[no-any-return]

    @property
    def cloudwatch(self) -> CloudWatchClient:
        return self._client("cloudwatch")  # type: ignore[no-any-return]

    @property
    def ssm(self) -> SSMClient:
        return self._client("ssm")  # type: ignore[no-any-return]

    # ---- discovery --------------------------------------------------------------------------

    def list_groups(self, opt_in_tag: str, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Opted-in groups (filtered by the API), or exactly the named groups whatever their tags."""
        paginator = self.autoscaling.get_paginator("describe_auto_scaling_groups")
        pages: Iterable[Any]
        if names:
            pages = (
                page
                for batch in chunks(list(names), GROUP_PAGE_SIZE)
                for page in paginator.paginate(
                    AutoScalingGroupNames=list(batch), PaginationConfig={"PageSize": GROUP_PAGE_SIZE}
                )
            )
        else:
            pages = paginator.paginate(
                Filters=[{"Name": f"tag:{opt_in_tag}", "Values": [OPT_IN_VALUE]}],
                PaginationConfig={"PageSize": GROUP_PAGE_SIZE},
            )
        return [dict(group) for page in pages for group in page["AutoScalingGroups"]]

    def instance_details(self, instance_ids: Sequence[str]) -> dict[str, tuple[datetime | None, str | None]]:
        """Launch time and image id per instance, in batches (the ASG API does not return them)."""
        details: dict[str, tuple[datetime | None, str | None]] = {}
        paginator = self.ec2.get_paginator("describe_instances")
        for batch in chunks(list(instance_ids), INSTANCE_BATCH_SIZE):
            try:
                pages = list(paginator.paginate(InstanceIds=list(batch)))
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") != "InvalidInstanceID.NotFound":
                    raise
                # An instance vanished since the group was read: a filter skips it instead of failing
                # the whole batch (slower, so only on this rare path).
                pages = list(
                    paginator.paginate(
                        Filters=[{"Name": "instance-id", "Values": list(batch)}],
                        PaginationConfig={"PageSize": 1000},
                    )
                )
            for page in pages:
                for reservation in page["Reservations"]:
                    for instance in reservation["Instances"]:
                        details[instance["InstanceId"]] = (
                            instance.get("LaunchTime"),
                            instance.get("ImageId"),
                        )
        return details

    def current_images(self, groups: Sequence[dict[str, Any]]) -> dict[str, CurrentImage]:
        """The image each group would launch now, as AWS resolves it at launch; one call per distinct
        template version. An image that cannot be resolved is unknown, with the reason."""
        by_template: dict[tuple[str, str, str], list[str]] = {}
        by_config: dict[str, list[str]] = {}
        images: dict[str, CurrentImage] = {}
        for group in groups:
            name = group["AutoScalingGroupName"]
            spec = launch_template_spec(group)
            if spec is not None:
                by_template.setdefault(spec, []).append(name)
            elif group.get("LaunchConfigurationName"):
                by_config.setdefault(group["LaunchConfigurationName"], []).append(name)
            else:
                images[name] = CurrentImage(None, "the group has no launch template or configuration")
        resolved: dict[tuple[str, str, str], CurrentImage] = {}

        def image_of_template(spec: tuple[str, str, str]) -> CurrentImage:
            if spec not in resolved:
                resolved[spec] = self._template_image(*spec)
            return resolved[spec]

        for spec, members in by_template.items():
            images.update(dict.fromkeys(members, image_of_template(spec)))
        for group in groups:
            overrides = override_specs(group)
            name = group["AutoScalingGroupName"]
            if overrides and name in images:
                images[name] = replace(
                    images[name],
                    overrides=tuple((kind, image_of_template(spec).image_id) for kind, spec in overrides),
                )
        configs = list(by_config)
        for batch in chunks(configs, LAUNCH_CONFIG_BATCH_SIZE):
            response = self.autoscaling.describe_launch_configurations(LaunchConfigurationNames=list(batch))
            for described in response["LaunchConfigurations"]:
                image = described.get("ImageId")
                found = (
                    CurrentImage(image, None)
                    if image
                    else CurrentImage(None, "launch configuration has no ImageId")
                )
                images.update(dict.fromkeys(by_config[described["LaunchConfigurationName"]], found))
        for name, members in by_config.items():
            for member in members:
                images.setdefault(member, CurrentImage(None, f"launch configuration {name} not found"))
        return images

    def _template_image(self, kind: str, ident: str, version: str) -> CurrentImage:
        locator: dict[str, Any] = (
            {"LaunchTemplateId": ident} if kind == "id" else {"LaunchTemplateName": ident}
        )
        where = f"launch template {ident} version {version}"
        try:
            # ResolveAlias: a resolve:ssm:<parameter> ImageId comes back as the AMI it resolves to now,
            # which is what the group launches (needs ssm:GetParameters on the parameter).
            response = self.ec2.describe_launch_template_versions(
                Versions=[version], ResolveAlias=True, **locator
            )
        except ClientError as error:
            info = error.response.get("Error", {})
            logger.warning("%s unreadable: %s", where, error)
            return CurrentImage(None, f"{where}: {info.get('Code', 'Error')}: {info.get('Message', '')}")
        versions = response.get("LaunchTemplateVersions", [])
        if not versions:
            return CurrentImage(None, f"{where} not found")
        image = versions[0].get("LaunchTemplateData", {}).get("ImageId")
        if not image:
            return CurrentImage(None, f"{where} has no ImageId")
        if str(image).startswith("resolve:ssm:"):
            return CurrentImage(None, f"{where}: {image} did not resolve (parameter missing or not readable)")
        return CurrentImage(str(image), None)

    def image_ages(self, image_ids: Sequence[str], now: datetime) -> dict[str, float]:
        """Days since each AMI's CreationDate; a deregistered or unreadable image is left out (unknown)."""
        ages: dict[str, float] = {}
        for batch in chunks(sorted(set(image_ids)), IMAGE_BATCH_SIZE):
            try:
                images = self.ec2.describe_images(ImageIds=list(batch))["Images"]
            except ClientError as error:
                if error.response.get("Error", {}).get("Code") not in (
                    "InvalidAMIID.NotFound",
                    "InvalidAMIID.Malformed",
                ):
                    raise
                # One unknown image fails the batch: a filter skips it instead.
                images = self.ec2.describe_images(Filters=[{"Name": "image-id", "Values": list(batch)}])[
                    "Images"
                ]
            for image in images:
                created = image.get("CreationDate")
                if created:
                    when = datetime.fromisoformat(str(created).replace("Z", "+00:00"))
                    ages[image["ImageId"]] = round((now - when).total_seconds() / 86400, 1)
        return ages

    def snapshots(
        self, raw_groups: Sequence[dict[str, Any]], opted_in: set[str] | None = None
    ) -> list[GroupSnapshot]:
        """Groups with their instances' launch times and the image they would launch now.

        Only groups in `opted_in` (all when None) have their instances and templates read.
        """
        readable = [g for g in raw_groups if opted_in is None or g["AutoScalingGroupName"] in opted_in]
        instance_ids = [i["InstanceId"] for g in readable for i in g.get("Instances", [])]
        details = self.instance_details(instance_ids) if instance_ids else {}
        images = self.current_images(readable) if readable else {}
        snapshots = []
        for group in raw_groups:
            snapshot = group_snapshot(group)
            if opted_in is None or snapshot.name in opted_in:
                instances = tuple(
                    _with_details(i, *details.get(i.instance_id, (None, None))) for i in snapshot.instances
                )
                current = images.get(snapshot.name, CurrentImage(None, "not read"))
                snapshot = replace(
                    snapshot,
                    instances=instances,
                    current_image_id=current.image_id,
                    current_image_reason=current.unknown_reason,
                    override_images=current.overrides,
                )
            snapshots.append(snapshot)
        return snapshots

    def lifecycle_hooks(self, names: Sequence[str]) -> dict[str, tuple[LifecycleHook, ...]]:
        """Each group's lifecycle hooks. DescribeLifecycleHooks takes one group per call, so planning asks
        only for the groups it would recycle."""
        hooks: dict[str, tuple[LifecycleHook, ...]] = {}
        for name in names:
            described = self.autoscaling.describe_lifecycle_hooks(AutoScalingGroupName=name)["LifecycleHooks"]
            hooks[name] = tuple(
                LifecycleHook(
                    name=h["LifecycleHookName"],
                    transition=h["LifecycleTransition"],
                    heartbeat_seconds=int(h.get("HeartbeatTimeout", 3600)),
                )
                for h in described
            )
        return hooks

    # ---- run-level guards -------------------------------------------------------------------

    def firing_alarms(self, names: Sequence[str]) -> list[str]:
        """Stop-condition alarms in ALARM; an alarm that does not exist counts as firing (unknown)."""
        found: dict[str, str] = {}
        for batch in chunks(list(names), ALARM_BATCH_SIZE):
            paginator = self.cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(
                AlarmNames=list(batch), AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            ):
                for alarm in [*page.get("MetricAlarms", []), *page.get("CompositeAlarms", [])]:
                    found[alarm["AlarmName"]] = alarm["StateValue"]
        firing = [name for name in names if found.get(name) == "ALARM"]
        missing = [f"{name} (not found)" for name in names if name not in found]
        return firing + missing

    def parameter(self, name: str) -> str | None:
        """Read an SSM parameter fresh (no cache); None when it does not exist."""
        from aws_lambda_powertools.utilities.parameters import SSMProvider
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = SSMProvider(boto3_client=self.ssm).get(name, max_age=0)
        except GetParameterError as error:
            if "ParameterNotFound" in str(error.__cause__ or error):
                return None
            raise
        return str(value)

    # ---- one group, at recycle time ----------------------------------------------------------

    def describe_group(self, name: str) -> dict[str, Any] | None:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        return dict(groups[0]) if groups else None

    def activity_in_progress(self, name: str) -> str | None:
        """A description of a running scaling activity or instance refresh, or None."""
        for activity in self.recent_activities(name, limit=10):
            if activity.status not in FINISHED_ACTIVITY:
                return f"scaling activity {activity.status}: {activity.description}"
        refreshes = self.autoscaling.describe_instance_refreshes(AutoScalingGroupName=name, MaxRecords=5)
        for refresh in refreshes.get("InstanceRefreshes", []):
            if refresh.get("Status") in IN_PROGRESS_REFRESH:
                return f"instance refresh {refresh.get('InstanceRefreshId')} is {refresh.get('Status')}"
        return None

    def recent_activities(self, name: str, limit: int = 10) -> list[Activity]:
        response = self.autoscaling.describe_scaling_activities(AutoScalingGroupName=name, MaxRecords=limit)
        return [
            Activity(
                status=a.get("StatusCode", ""),
                description=a.get("Description", ""),
                message=a.get("StatusMessage", ""),
                start_time=a.get("StartTime"),
                cause=a.get("Cause", ""),
            )
            for a in response.get("Activities", [])
        ]

    def terminate(self, instance_id: str, *, decrement: bool) -> str:
        response = self.autoscaling.terminate_instance_in_auto_scaling_group(
            InstanceId=instance_id, ShouldDecrementDesiredCapacity=decrement
        )
        return str(response.get("Activity", {}).get("Description", ""))

    def set_desired_capacity(self, name: str, desired: int) -> None:
        self.autoscaling.set_desired_capacity(
            AutoScalingGroupName=name, DesiredCapacity=desired, HonorCooldown=False
        )

    def target_health(self, target_group_arns: Sequence[str], instance_id: str) -> dict[str, str]:
        """State of the instance in each target group (elbv2) keyed by target group ARN."""
        states: dict[str, str] = {}
        for arn in target_group_arns:
            response = self.elbv2.describe_target_health(TargetGroupArn=arn)
            state = "unregistered"
            for description in response.get("TargetHealthDescriptions", []):
                if description["Target"]["Id"] == instance_id:
                    state = description.get("TargetHealth", {}).get("State", "unknown")
            states[arn] = state
        return states

    def classic_health(self, load_balancer_names: Sequence[str], instance_id: str) -> dict[str, str]:
        """State of the instance in each classic load balancer, keyed by name."""
        states: dict[str, str] = {}
        for name in load_balancer_names:
            try:
                response = self.elb.describe_instance_health(
                    LoadBalancerName=name, Instances=[{"InstanceId": instance_id}]
                )
                found = response.get("InstanceStates", [])
                states[name] = found[0].get("State", "Unknown") if found else "Unknown"
            except ClientError as error:
                states[name] = f"error: {error.response.get('Error', {}).get('Code', 'unknown')}"
        return states

    def image_of(self, instance_id: str) -> str | None:
        return self.instance_details([instance_id]).get(instance_id, (None, None))[1]


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


def _with_details(
    instance: InstanceSnapshot, launch_time: datetime | None, image_id: str | None
) -> InstanceSnapshot:
    return replace(instance, launch_time=launch_time, image_id=image_id)


def group_snapshot(group: dict[str, Any]) -> GroupSnapshot:
    spec = launch_template_spec(group)
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
        target_group_arns=tuple(group.get("TargetGroupARNs", [])),
        load_balancer_names=tuple(group.get("LoadBalancerNames", [])),
        health_check_grace_period=int(group.get("HealthCheckGracePeriod", 300)),
        launch_template=f"{spec[1]}:{spec[2]}" if spec else group.get("LaunchConfigurationName"),
        status=group.get("Status"),
        arn=group.get("AutoScalingGroupARN"),
        warm_pool=bool(group.get("WarmPoolConfiguration")),
    )
