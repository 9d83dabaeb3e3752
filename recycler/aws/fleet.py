"""The Auto Scaling and EC2 adapter: read groups and instances, health per load balancer, and the two
acts (terminate an instance, set desired capacity).

Reads are batched so the number of calls grows with pages of groups, batches of instances and distinct
launch templates, never with one call per group or instance; the one exception is DescribeLifecycleHooks,
which takes a single group and is asked only for the groups a run would recycle (at most
max_groups_per_run).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from recycler.aws.clients import Clients, OnClients, chunks
from recycler.aws.codedeploy import codedeploy_call_floor
from recycler.aws.groups import group_snapshot, with_details
from recycler.aws.images import CurrentImage, Images
from recycler.aws.scaling_schedule import scale_out_read_floor
from recycler.domain import Activity, GroupSnapshot, LifecycleHook, RawGroup
from recycler.policy.tags import TagError, parse_bool_tag

GROUP_PAGE_SIZE = 100  # DescribeAutoScalingGroups MaxRecords maximum
INSTANCE_BATCH_SIZE = 200  # values allowed in one DescribeInstances filter
IN_PROGRESS_REFRESH = frozenset({"Pending", "InProgress", "Cancelling", "RollbackInProgress", "Baking"})
FINISHED_ACTIVITY = frozenset({"Successful", "Failed", "Cancelled"})


def planning_call_floor(groups: int, instances: int, launch_templates: int, planned: int = 0) -> int:
    """The fewest calls that can read a fleet for planning: pages of groups at the largest page size,
    instance batches, one lookup per distinct launch template (version), and for the groups a run
    would recycle their lifecycle hooks (one group per DescribeLifecycleHooks) plus one read of the
    region's ECS capacity providers, CodeDeploy's applications (codedeploy_call_floor: one
    ListApplications in an account without any) and what may scale them out (scaling_schedule.py)."""
    containers = planned + 1 + codedeploy_call_floor([], 0) if planned else 0
    return (
        math.ceil(groups / GROUP_PAGE_SIZE)
        + math.ceil(instances / INSTANCE_BATCH_SIZE)
        + launch_templates
        + containers
        + scale_out_read_floor(planned)
    )


class Fleet(OnClients):
    """Reads and acts on Auto Scaling groups. One instance per run; clients are created lazily."""

    def __init__(self, session: boto3.Session | None = None, clients: Clients | None = None) -> None:
        super().__init__(clients or Clients(session))
        self._images = Images(self._clients)

    # ---- discovery --------------------------------------------------------------------------

    def list_groups(self, opt_in_tag: str, names: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every group carrying the opt-in tag key whatever its value (the API filters by key), so a
        misspelt opt-in (`True`, `yes`, `"true "`) reaches the plan as invalid-tag instead of being
        left out silently; a group tagged off (`false`, `no`, `0`) is left out. Or exactly the named
        groups, whatever their tags. Planning reads instances only for the opted-in ones."""
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
                Filters=[{"Name": "tag-key", "Values": [opt_in_tag]}],
                PaginationConfig={"PageSize": GROUP_PAGE_SIZE},
            )
            return [
                dict(group)
                for page in pages
                for group in page["AutoScalingGroups"]
                if not _tagged_off(group, opt_in_tag)
            ]
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

    def current_images(self, groups: Sequence[RawGroup]) -> dict[str, CurrentImage]:
        return self._images.current_images(groups)

    def image_ages(self, image_ids: Sequence[str], now: datetime) -> dict[str, float]:
        return self._images.image_ages(image_ids, now)

    def snapshot(self, group: RawGroup) -> GroupSnapshot:
        return group_snapshot(group)

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
                    with_details(i, *details.get(i.instance_id, (None, None))) for i in snapshot.instances
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
                    global_seconds=int(h.get("GlobalTimeout", 0)),
                )
                for h in described
            )
        return hooks

    # ---- one group, at recycle time ----------------------------------------------------------

    def describe_group(self, name: str) -> dict[str, Any] | None:
        groups = self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])[
            "AutoScalingGroups"
        ]
        return dict(groups[0]) if groups else None

    def group(self, name: str) -> GroupSnapshot | None:
        raw = self.describe_group(name)
        return None if raw is None else group_snapshot(raw)

    def activity_in_progress(self, name: str, leaving: Collection[str] = ()) -> str | None:
        """A description of a running scaling activity or instance refresh, or None. The terminations
        of `leaving` (this run's earlier victims, still on their way out) are expected, not news."""
        for activity in self.recent_activities(name, limit=10):
            expected = not activity.is_launch and activity.instance_id in leaving
            if activity.status not in FINISHED_ACTIVITY and not expected:
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

    def lattice_health(self, target_group_arns: Sequence[str], instance_id: str) -> dict[str, str]:
        """Status of the instance in each VPC Lattice target group, keyed by ARN: DRAINING, UNAVAILABLE,
        HEALTHY, UNHEALTHY, INITIAL or UNUSED (ListTargets,
        https://docs.aws.amazon.com/vpc-lattice/latest/APIReference/API_TargetSummary.html)."""
        states: dict[str, str] = {}
        for arn in target_group_arns:
            # Every registration of the instance, on any port: a `targets` filter without a port names
            # the protocol's default port (API_Target: 80 for HTTP, 443 for HTTPS), so it would miss an
            # instance registered on 8080. One status if they agree; otherwise all of them, which no
            # check passes (the wait goes on until every registration is healthy).
            found = [
                str(t.get("status", "unknown"))
                for page in self.lattice.get_paginator("list_targets").paginate(targetGroupIdentifier=arn)
                for t in page.get("items", [])
                if t.get("id") == instance_id
            ]
            states[arn] = "/".join(sorted(set(found))) if found else "unregistered"
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


def _tagged_off(group: Any, key: str) -> bool:
    """The opt-in tag says no (`false`, `no`, ...): the owner opted out; not worth a row in every plan."""
    value = next((t.get("Value", "") for t in group.get("Tags", []) if t.get("Key") == key), "")
    try:
        return not parse_bool_tag(value, key)
    except TagError:
        return False
