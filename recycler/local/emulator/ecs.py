"""ECS where moto differs from AWS: capacity providers, container instance draining, ECS agents.

drain_time() sets how long a cluster's service tasks take to move off a DRAINING instance; ecs_agent()
says which cluster a group's instances register in when they boot (None: no agent, or a broken one).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from recycler.local.emulator.state import Clock, current_state


def ecs_like_aws() -> None:
    """ECS as AWS documents it where moto differs:
    - DescribeCapacityProviders without names describes every capacity provider (moto fails);
    - managed instance draining is on by default when a capacity provider is created (ECS Developer
      Guide, "Configuring Amazon ECS capacity providers to safely shut down instances");
    - a DRAINING container instance's service tasks are stopped and started elsewhere (ECS Developer
      Guide, "Container instance draining"); standalone tasks stay until they stop on their own. moto
      never moves a task: here service tasks (startedBy ecs-svc/...) leave after the cluster's drain
      time (drain_time()), or by default one task per DescribeContainerInstances read of the cluster
      (so a drain of n service tasks is over at the n-th read after DRAINING, as a poll sees it)."""
    from moto.ecs.models import EC2ContainerServiceBackend
    from moto.ecs.responses import EC2ContainerServiceResponse

    original_describe_providers = EC2ContainerServiceBackend.describe_capacity_providers

    def describe_capacity_providers(self: Any, names: list[str] | None) -> Any:
        return original_describe_providers(self, names or list(self.capacity_providers))

    EC2ContainerServiceBackend.describe_capacity_providers = describe_capacity_providers  # type: ignore[method-assign]
    original_create_provider = EC2ContainerServiceBackend.create_capacity_provider

    def create_capacity_provider(self: Any, name: str, asg_details: dict[str, Any], tags: Any) -> Any:
        asg_details.setdefault("managedDraining", "ENABLED")
        return original_create_provider(self, name, asg_details, tags)

    EC2ContainerServiceBackend.create_capacity_provider = create_capacity_provider  # type: ignore[method-assign]
    original_update = EC2ContainerServiceResponse.update_container_instances_state

    def update_container_instances_state(self: Any) -> Any:
        result = original_update(self)
        cluster = self._get_param("cluster").split("/")[-1]
        clock = current_state().drain_times.get(cluster, (0.0, lambda: datetime.now(UTC)))[1]
        for arn in self._get_param("containerInstances"):
            instance_id = arn.split("/")[-1]
            if self._get_param("status").upper() == "DRAINING":
                current_state().draining_since.setdefault(instance_id, (clock(), clock))
            else:
                current_state().draining_since.pop(instance_id, None)
        return result

    EC2ContainerServiceResponse.update_container_instances_state = update_container_instances_state  # type: ignore[method-assign]
    original_describe = EC2ContainerServiceResponse.describe_container_instances

    def describe_container_instances(self: Any) -> Any:
        cluster = self._get_param("cluster").split("/")[-1]
        timed = current_state().drain_times.get(cluster)
        backend = self.ecs_backend
        for instance_id, (since, clock) in list(current_state().draining_since.items()):
            if timed is not None and clock() < since + timedelta(seconds=timed[0]):
                continue
            leaving = [
                task
                for task in backend.tasks.get(cluster, {}).values()
                if (task.container_instance_arn or "").endswith(instance_id)
                and task.last_status == "RUNNING"
                and str(task.started_by).startswith("ecs-svc/")
            ]
            # Without a drain time, tasks leave one per read of the cluster's container instances: a
            # drain is seen in progress over several polls, never over at the first one.
            for task in leaving if timed is not None else leaving[:1]:
                backend.stop_task(cluster, task.task_arn, "Service is draining this container instance")
        return original_describe(self)

    EC2ContainerServiceResponse.describe_container_instances = describe_container_instances  # type: ignore[method-assign]


def drain_time(cluster: str, seconds: float, clock: Clock | None = None) -> None:
    """Service tasks leave a DRAINING container instance of `cluster` after `seconds` on `clock`."""
    current_state().drain_times[cluster] = (seconds, clock or (lambda: datetime.now(UTC)))


def ecs_agent(group: str, cluster: str | None) -> None:
    """The group's instances run an ECS agent configured for `cluster` (None: no agent, or a broken one)."""
    if cluster is None:
        current_state().ecs_agents.pop(group, None)
    else:
        current_state().ecs_agents[group] = cluster


def start_ecs_agents(group: Any, launched: Sequence[str]) -> None:
    """An ECS host's agent registers the instance in its cluster when it boots (ECS Developer Guide,
    "Amazon ECS container instance"); moto registers nothing by itself."""
    cluster = current_state().ecs_agents.get(group.name)
    if cluster is None:
        return
    from moto.ecs.models import ecs_backends

    backend = ecs_backends[group.account_id][group.region]
    for instance_id in launched:
        backend.register_container_instance(cluster, instance_id)
