"""Container hosts: a planned recycle made safe for what runs on the group (Kubernetes nodes need a
drain hook, ECS container instances are drained, launch hooks lengthen the health timeout)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from recycler import fix_commands
from recycler.domain import (
    LAUNCHING,
    TERMINATING,
    ContainerHost,
    Decision,
    EcsCapacityProvider,
    GroupSnapshot,
    LifecycleHook,
    PolicySettings,
    Reason,
)
from recycler.policy.tags import group_options, tag_key

# A launch hook's wait, however often its owner records heartbeats, ends at its global timeout: the
# lesser of 48 hours and 100 x its heartbeat timeout (API_LifecycleHook GlobalTimeout,
# https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_LifecycleHook.html).
GLOBAL_TIMEOUT_CAP, GLOBAL_TIMEOUT_HEARTBEATS = 48 * 3600, 100


def global_timeout(hook: LifecycleHook) -> int:
    """How long the hook can hold an instance in its wait state, heartbeats included."""
    documented = min(GLOBAL_TIMEOUT_CAP, GLOBAL_TIMEOUT_HEARTBEATS * hook.heartbeat_seconds)
    return hook.global_seconds or documented


# How a group says its instances are Kubernetes nodes: the cluster-autoscaler / EKS tag, or the tag EKS
# managed node groups put on their group.
KUBERNETES_TAG_PREFIX = "kubernetes.io/cluster/"
EKS_CLUSTER_TAG = "eks:cluster-name"


def kubernetes_cluster(group: GroupSnapshot) -> str | None:
    """The Kubernetes cluster a group's instances join as nodes, from its tags, or None."""
    if group.tags.get(EKS_CLUSTER_TAG):
        return group.tags[EKS_CLUSTER_TAG]
    for key in sorted(group.tags):
        if key.startswith(KUBERNETES_TAG_PREFIX) and len(key) > len(KUBERNETES_TAG_PREFIX):
            return key.removeprefix(KUBERNETES_TAG_PREFIX)
    return None


def with_container_host(
    decision: Decision,
    group: GroupSnapshot,
    settings: PolicySettings,
    hooks: Sequence[LifecycleHook],
    provider: EcsCapacityProvider | None,
) -> Decision:
    """A planned recycle, made safe for what runs on the group: the health timeout waits out the
    longest launch hook (CodeDeploy keeps a replacement in Pending:Wait while it deploys), Kubernetes
    nodes need a termination hook that drains them, ECS container instances are drained first."""
    if not decision.recycle:
        return decision
    options = group_options(group, settings)
    launch = [h for h in hooks if h.transition == LAUNCHING]
    timeout, limit = decision.health_timeout_seconds, 0
    if launch and not options.health_timeout_tagged:
        longest = max(h.heartbeat_seconds for h in launch)
        margin = settings.health_timeout_margin.total_seconds()
        timeout = max(timeout, int(group.health_check_grace_period + longest + margin))
        # RecordLifecycleActionHeartbeat restarts the heartbeat timeout
        # (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_RecordLifecycleActionHeartbeat.html):
        # a replacement still in Pending:Wait past its heartbeat timeout has an owner heartbeating (else
        # Auto Scaling would have taken the default result), so the wait may last to the hook's global
        # timeout. The plan budgets `timeout`; only a heartbeating owner takes the rest.
        longest_global = max(global_timeout(h) for h in launch)
        limit = max(timeout, int(group.health_check_grace_period + longest_global + margin))
    ordered = sorted(launch, key=lambda h: -h.heartbeat_seconds)
    detail = decision.detail
    if ordered and timeout != decision.health_timeout_seconds:
        detail += (
            f"; health timeout {timeout} s waits out launch hook {ordered[0].name} "
            f"({ordered[0].heartbeat_seconds} s heartbeat)"
        )
    decision = replace(
        decision,
        detail=detail,
        health_timeout_seconds=timeout,
        launch_hooks=tuple(h.name for h in ordered),
        launch_hook_limit_seconds=limit,
    )
    cluster = kubernetes_cluster(group)
    if cluster is not None:
        if not any(h.transition == TERMINATING for h in hooks):
            return decision.skipped(
                Reason.NO_DRAIN_HOOK,
                f"nodes of Kubernetes cluster {cluster} would lose their pods undrained; add a termination "
                "hook a drainer completes (aws-node-termination-handler, queue mode): "
                + fix_commands.drain_hook_howto(group.name),
            )
        return replace(decision, host=ContainerHost("kubernetes", cluster))
    tagged_cluster = group.tags.get(tag_key(settings, "ecs-cluster"), "").strip() or None
    drain_seconds = int(options.drain_timeout.total_seconds())
    if provider is not None and provider.managed_draining:
        # ECS drains the instance in its own termination hook when Auto Scaling terminates it.
        cluster_name = provider.cluster or tagged_cluster or provider.name
        return replace(decision, host=ContainerHost("ecs", cluster_name))
    ecs_cluster = (provider.cluster if provider else None) or tagged_cluster
    if ecs_cluster is None:
        return decision
    return replace(
        decision,
        host=ContainerHost("ecs", ecs_cluster, recycler_drains=True, drain_timeout_seconds=drain_seconds),
    )
