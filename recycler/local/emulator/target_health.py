"""Elastic Load Balancing (v2) target health, which moto 5.2 reports healthy for every target (even a
terminated one): a replacement that sabotage() marked target-unhealthy fails its health checks in every
target group here; unhealthy_in() and replacements_unhealthy_in() fail them in ONE named target group
only (an instance can pass one load balancer's check and fail another's: a different port or path).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from recycler.local.emulator.state import DEFAULT_ACCOUNT, current_state


def unhealthy_in(target_group: str, instance_id: str) -> None:
    """The instance fails the health check of the target group named `target_group`, only that one."""
    current_state().unhealthy_in_target_group[target_group].add(instance_id)


def replacements_unhealthy_in(group: str, target_group: str, account: str = DEFAULT_ACCOUNT) -> None:
    """Every instance the Auto Scaling group launches from now on fails the health check of the target
    group named `target_group`, and passes every other."""
    present = frozenset(i for g in _groups(account) if g.name == group for i in _instance_ids(g))
    current_state().replacements_unhealthy_in[group] = (target_group, present)


def _groups(account: str) -> Iterator[Any]:
    from moto.autoscaling.models import autoscaling_backends

    for region_backends in autoscaling_backends[account].values():
        yield from region_backends.autoscaling_groups.values()


def _instance_ids(group: Any) -> set[str]:
    return {s.instance.id for s in group.instance_states}


def fails_check(target_group: str, instance_id: str, account: str) -> bool:
    """The instance fails the health check of the target group (elbv2 or VPC Lattice) of this name."""
    emulated = current_state()
    if instance_id in emulated.unhealthy_targets:
        return True
    if instance_id in emulated.unhealthy_in_target_group.get(target_group, set()):
        return True
    for group in _groups(account):
        staged = emulated.replacements_unhealthy_in.get(group.name)
        if staged and staged[0] == target_group and instance_id in _instance_ids(group) - staged[1]:
            # It keeps failing once the group no longer holds it (terminated, say), as it did.
            emulated.unhealthy_in_target_group[target_group].add(instance_id)
            return True
    return False


def sabotage_target_health() -> None:
    """DescribeTargetHealth reports a target sabotage() marked target-unhealthy as failing its checks,
    and a target staged unhealthy in this target group alone."""
    from moto.elbv2.models import FakeHealthStatus
    from moto.elbv2.responses import ELBV2Response

    original = ELBV2Response.describe_target_health

    def describe_target_health(self: Any) -> Any:
        result = original(self)
        body: Any = result.result
        # arn:aws:elasticloadbalancing:<region>:<account>:targetgroup/<name>/<id>
        arn = self._get_param("TargetGroupArn")
        name, account = arn.split(":")[-1].split("/")[1], arn.split(":")[4]
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
            if fails_check(name, d.instance_id, account)
            else d
            for d in descriptions
        ]
        return result

    ELBV2Response.describe_target_health = describe_target_health  # type: ignore[method-assign]
