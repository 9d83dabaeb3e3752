"""The load balancer checks a replacement must pass: every elbv2 target group (TargetGroupARNs and
elbv2 traffic sources), every Classic Load Balancer, every VPC Lattice target group (vpc-lattice
traffic sources), each keyed by a short name for the report."""

from __future__ import annotations

from recycler.domain import GroupSnapshot
from recycler.interfaces import FleetPort

# How each source says "healthy": elbv2 targets, classic ELB instances, Auto Scaling instances, ECS
# container instances.
PASSING_STATES = frozenset({"healthy", "InService", "Healthy", "ACTIVE"})
# VPC Lattice targets (API_TargetSummary): HEALTHY, and two that say there is nothing to wait for:
# UNAVAILABLE ("Health checks are unavailable for the target group": off, the default for HTTP2, never for
# gRPC) and UNUSED ("Target group is not used in a service"). Failing those would terminate a healthy
# instance, then fail on a check that can never pass
# (https://docs.aws.amazon.com/vpc-lattice/latest/APIReference/API_TargetSummary.html).
LATTICE_PASSING_STATES = frozenset({"HEALTHY", "UNAVAILABLE", "UNUSED"})
LATTICE = "lattice "


def passes(check: str, state: str) -> bool:
    """Whether one check's state passes, read as its own source words it."""
    return state in (LATTICE_PASSING_STATES if check.startswith(LATTICE) else PASSING_STATES)


def traffic_checks(fleet: FleetPort, snapshot: GroupSnapshot, instance_id: str) -> dict[str, str]:
    """The instance's state in each of the group's load balancers and VPC Lattice target groups."""
    checks: dict[str, str] = {}
    for arn, health in fleet.target_health(snapshot.target_group_arns, instance_id).items():
        checks[f"target-group {arn.split(':')[-1]}"] = health
    for name, health in fleet.classic_health(snapshot.load_balancer_names, instance_id).items():
        checks[f"elb {name}"] = health
    for arn, health in fleet.lattice_health(snapshot.lattice_target_groups, instance_id).items():
        checks[f"{LATTICE}{arn.split('/')[-1]}"] = health
    return checks
