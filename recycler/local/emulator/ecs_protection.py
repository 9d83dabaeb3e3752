"""ECS managed termination protection, which moto does not apply: with a capacity provider whose
managedTerminationProtection is ENABLED, an instance of its group running tasks is protected from
scale-in.

AWS (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/managed-termination-protection.html):
"Amazon ECS first turns on the instance scale-in protection option for the EC2 instances in the Auto
Scaling group. Then, Amazon ECS places the tasks on the instances. When all non-daemon tasks are stopped
on an instance, Amazon ECS initiates the scale-in process and turns off scale-in protection for the EC2
instance." Scale-in protection does not stop TerminateInstanceInAutoScalingGroup
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-instance-protection.html), so
moto's terminate is left as it is. Here protection follows the tasks: set when one starts, cleared when
the last one stops (daemon services are not emulated).
"""

from __future__ import annotations

from typing import Any


def protect_task_hosts(backend: Any, cluster: str) -> None:
    """Set or clear ProtectedFromScaleIn on the cluster's container instances by whether they run
    tasks, for the groups of its capacity providers with managed termination protection."""
    from moto.autoscaling.models import autoscaling_backends

    found = backend.clusters.get(cluster)
    if found is None:
        return
    arns = set()
    for name in found.capacity_providers or []:
        provider = backend.capacity_providers.get(name)
        details = getattr(provider, "auto_scaling_group_provider", None) or {}
        if details.get("managedTerminationProtection") == "ENABLED":
            arns.add(details.get("autoScalingGroupArn", ""))
    if not arns:
        return
    running: dict[str, int] = {}
    for task in backend.tasks.get(cluster, {}).values():
        if task.last_status == "RUNNING" and task.container_instance_arn:
            key = task.container_instance_arn.split("/")[-1]
            running[key] = running.get(key, 0) + 1
    hosts = {
        ci.ec2_instance_id: running.get(ci_id, 0) > 0
        for ci_id, ci in backend.container_instances.get(cluster, {}).items()
    }
    groups = autoscaling_backends[backend.account_id][backend.region_name].autoscaling_groups.values()
    for group in groups:
        if group.arn not in arns and not any(arn.endswith(f"/{group.name}") for arn in arns):
            continue
        for state in group.instance_states:
            if state.instance.id in hosts:
                state.protected_from_scale_in = hosts[state.instance.id]


def ecs_protection_like_aws() -> None:
    """Keep protection in step with the tasks: after every task started or stopped, and when a cluster
    gets its capacity providers."""
    from moto.ecs.models import EC2ContainerServiceBackend

    def after(method_name: str, cluster_of: Any) -> None:
        original = getattr(EC2ContainerServiceBackend, method_name)

        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            result = original(self, *args, **kwargs)
            protect_task_hosts(self, str(cluster_of(args, kwargs)).split("/")[-1])
            return result

        setattr(EC2ContainerServiceBackend, method_name, wrapped)

    after("start_task", lambda args, kwargs: args[0] if args else kwargs["cluster_str"])
    after("run_task", lambda args, kwargs: args[0] if args else kwargs["cluster_str"])
    after("stop_task", lambda args, kwargs: args[0] if args else kwargs["cluster_str"])
    after("put_cluster_capacity_providers", lambda args, kwargs: args[0] if args else kwargs["cluster_name"])
