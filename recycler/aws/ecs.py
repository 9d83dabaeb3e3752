"""boto3 adapter for the ECS side of a container host group: which groups are ECS capacity, and
draining one container instance before its EC2 instance is terminated."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recycler.aws.clients import OnClients, chunks
from recycler.domain import AdapterError, ContainerInstance, EcsCapacityProvider

CLUSTER_BATCH_SIZE = 100  # DescribeClusters clusters per call
CONTAINER_INSTANCE_BATCH_SIZE = 100  # DescribeContainerInstances per call
GROUP_ARN_NAME = "autoScalingGroupName/"


class EcsError(AdapterError):
    """ECS answered, but not with what recycler needs (a failure entry for the container instance)."""


def group_name_of(arn: str) -> str:
    """The group name an Auto Scaling group ARN ends with (a capacity provider may hold name or ARN)."""
    return arn.split(GROUP_ARN_NAME, 1)[1] if GROUP_ARN_NAME in arn else arn


class EcsHosts(OnClients):
    """Reads ECS capacity providers and drains container instances; shares the run's clients."""

    def capacity_providers_by_group(self) -> dict[str, EcsCapacityProvider]:
        """Every Auto Scaling capacity provider in the region, keyed by the group it points at, with
        the cluster that uses it: DescribeCapacityProviders, then ListClusters + DescribeClusters only
        when some provider exists."""
        providers: list[Any] = []
        token = ""
        while True:
            page = (
                self.ecs.describe_capacity_providers(nextToken=token)
                if token
                else self.ecs.describe_capacity_providers()
            )
            providers += [p for p in page.get("capacityProviders", []) if p.get("autoScalingGroupProvider")]
            token = page.get("nextToken", "")
            if not token:
                break
        if not providers:
            return {}
        cluster_of: dict[str, str] = {}
        cluster_arns = [
            arn for page in self.ecs.get_paginator("list_clusters").paginate() for arn in page["clusterArns"]
        ]
        for batch in chunks(cluster_arns, CLUSTER_BATCH_SIZE):
            for cluster in self.ecs.describe_clusters(clusters=list(batch))["clusters"]:
                for name in cluster.get("capacityProviders", []):
                    cluster_of.setdefault(name, cluster["clusterName"])
        found: dict[str, EcsCapacityProvider] = {}
        for provider in providers:
            details = provider["autoScalingGroupProvider"]
            found[group_name_of(details["autoScalingGroupArn"])] = EcsCapacityProvider(
                name=provider["name"],
                cluster=cluster_of.get(provider["name"]),
                managed_draining=details.get("managedDraining", "ENABLED") == "ENABLED",
                managed_termination_protection=details.get("managedTerminationProtection") == "ENABLED",
            )
        return found

    def container_instance(self, cluster: str, ec2_instance_id: str) -> ContainerInstance | None:
        """The container instance an EC2 instance registered as in the cluster, or None."""
        paginator = self.ecs.get_paginator("list_container_instances")
        arns = [
            arn
            for page in paginator.paginate(cluster=cluster, filter=f"ec2InstanceId == {ec2_instance_id}")
            for arn in page["containerInstanceArns"]
        ]
        for batch in chunks(arns, CONTAINER_INSTANCE_BATCH_SIZE):
            for described in self.ecs.describe_container_instances(
                cluster=cluster, containerInstances=list(batch)
            )["containerInstances"]:
                if described.get("ec2InstanceId") == ec2_instance_id:
                    return _container_instance(described)
        return None

    def describe(self, cluster: str, arn: str) -> ContainerInstance | None:
        response = self.ecs.describe_container_instances(cluster=cluster, containerInstances=[arn])
        found = response.get("containerInstances", [])
        return _container_instance(found[0]) if found else None

    def set_state(self, cluster: str, arns: Sequence[str], status: str) -> None:
        """DRAINING or ACTIVE; a failure entry in the answer is an error, not a success."""
        response = self.ecs.update_container_instances_state(
            cluster=cluster,
            containerInstances=list(arns),
            status=status,  # type: ignore[arg-type]
        )
        failures = response.get("failures", [])
        if failures:
            reasons = ", ".join(f"{f.get('arn', '?')}: {f.get('reason', '?')}" for f in failures)
            raise EcsError(f"UpdateContainerInstancesState {status} failed for {reasons}")


def _container_instance(described: Any) -> ContainerInstance:
    return ContainerInstance(
        arn=described["containerInstanceArn"],
        status=described.get("status", "UNKNOWN"),
        running_tasks=int(described.get("runningTasksCount", 0)),
        pending_tasks=int(described.get("pendingTasksCount", 0)),
        agent_connected=bool(described.get("agentConnected", True)),
    )
