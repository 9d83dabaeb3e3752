"""Availability Zone balance as Auto Scaling keeps it: where a launch goes, which zone a scale-in
empties first, and the rebalancing a terminate with decrement can set off.

moto puts every launch of one call in one randomly chosen zone of the group and never rebalances.
AWS (Amazon EC2 Auto Scaling User Guide and API Reference):

- "during scale out, it launches the instance in the Availability Zone with the fewest instances"
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-suspend-resume-processes.html). Ties:
  AWS does not say; the emulator takes the zone of the instance being replaced, else the first listed.
- TerminateInstanceInAutoScalingGroup: "If you do not specify the option to decrement the desired
  capacity, Amazon EC2 Auto Scaling launches instances to replace the ones that are terminated. ...
  If you decrement the desired capacity, your Auto Scaling group can become unbalanced between
  Availability Zones. Amazon EC2 Auto Scaling tries to rebalance the group, and rebalancing might
  terminate instances in other zones."
  (https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_TerminateInstanceInAutoScalingGroup.html)
- "When rebalancing, Amazon EC2 Auto Scaling launches new instances before terminating the earlier
  ones" (https://docs.aws.amazon.com/autoscaling/ec2/userguide/auto-scaling-benefits.html), and with
  AZRebalance suspended it "does not attempt to redistribute instances"; with Terminate suspended it
  launches without terminating.
- On scale-in, whatever the termination policy, Auto Scaling first picks the zone with the most
  instances that has one not protected from scale in
  (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-termination-policies.html).

"Unbalanced" here: two zones whose counts differ by more than one. The rebalancing activities carry
the Cause wording AWS writes for them (as AWS customers have quoted it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.activities import add_activity

# Lifecycle states that count toward desired capacity on AWS: an instance launching or in service.
COUNTED_STATES = ("Pending", "Pending:Wait", "Pending:Proceed", "InService")
# The attribute a terminate without decrement sets on a moto group while its replacement launches.
_REPLACING = "_emulator_replacing_zone"


def zone_counts(group: Any) -> dict[str, int]:
    """Counted instances per zone of the group, every zone of the group listed (0 when empty)."""
    counts = dict.fromkeys(group.availability_zones or [], 0)
    for state in group.instance_states:
        if state.lifecycle_state in COUNTED_STATES:
            counts[state.availability_zone] = counts.get(state.availability_zone, 0) + 1
    return counts


def unbalanced(group: Any) -> bool:
    counts = zone_counts(group)
    return len(counts) > 1 and max(counts.values()) - min(counts.values()) > 1


def fewest(group: Any, prefer: str | None = None) -> str:
    """The zone the next launch goes to: fewest instances; ties to `prefer`, then the first listed."""
    counts = zone_counts(group)
    low = min(counts.values())
    if prefer is not None and counts.get(prefer) == low:
        return prefer
    return next(zone for zone, count in counts.items() if count == low)


def launch_into(group: Any, zone: str, count: int, tags: dict[str, str]) -> list[str]:
    """Launch `count` instances into `zone` through moto (which picks randomly among the zones it is
    given, and puts one call's instances in one reservation, as one RunInstances does)."""
    zones, subnets = group.availability_zones, group.vpc_zone_identifier
    group.availability_zones = [zone]
    if subnets:
        ec2 = group.autoscaling_backend.ec2_backend
        in_zone = [s for s in subnets.split(",") if ec2.get_subnet(s).availability_zone == zone]
        group.vpc_zone_identifier = in_zone[0] if in_zone else subnets
    before = {s.instance.id for s in group.instance_states}
    try:
        group.replace_autoscaling_group_instances(count, dict(tags))
    finally:
        group.availability_zones, group.vpc_zone_identifier = zones, subnets
    return [str(s.instance.id) for s in group.instance_states if s.instance.id not in before]


def launch_balanced(group: Any, count: int, tags: dict[str, str]) -> list[str]:
    """Launch `count` instances, each into the zone with the fewest instances at its turn (one
    RunInstances per zone)."""
    prefer = getattr(group, _REPLACING, None)
    counts, plan = zone_counts(group), dict[str, int]()
    for _ in range(count):
        low = min(counts.values())
        zone = prefer if prefer is not None and counts.get(prefer) == low else None
        zone = zone or next(z for z, n in counts.items() if n == low)
        counts[zone] += 1
        plan[zone] = plan.get(zone, 0) + 1
    return [instance for zone, n in plan.items() for instance in launch_into(group, zone, n, tags)]


def scale_in_choice(
    group: Any, removable: Sequence[Any], count: int, order: Callable[[Any], Any]
) -> list[Any]:
    """The instances a scale-in removes: each from the zone with the most instances (among zones with
    a removable one), by the termination policy's `order` within it."""
    counts, pool, chosen = zone_counts(group), list(removable), []
    for _ in range(min(count, len(pool))):
        top = max(counts.get(s.availability_zone, 0) for s in pool)
        pick = min((s for s in pool if counts.get(s.availability_zone, 0) == top), key=order)
        chosen.append(pick)
        pool.remove(pick)
        counts[pick.availability_zone] = counts.get(pick.availability_zone, 0) - 1
    return chosen


def suspended(group: Any) -> set[str]:
    return {p["ProcessName"] for p in group.suspended_processes}


def rebalance(group: Any, launch: Callable[[Any, str, str], str], order: Callable[[Any], Any]) -> None:
    """AZRebalance: while two zones differ by more than one, launch in the short zone, then terminate
    one instance in the long zone (by the termination policy), each a scaling activity."""
    paused = suspended(group)
    if paused & {"AZRebalance", "Launch"}:
        return
    for _ in range(len(group.instance_states) + 1):
        if not unbalanced(group):
            return
        counts = zone_counts(group)
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        zones, numbers = " ".join(counts), " ".join(str(n) for n in counts.values())
        launch(
            group,
            fewest(group),
            f"At {stamp} availability zones {zones} had {numbers} instances respectively. "
            "An instance was launched to aid in balancing the group's zones.",
        )
        if "Terminate" in paused:
            continue  # "It can launch new instances without terminating the old ones"
        long_zone = max(counts, key=lambda zone: counts[zone])
        removable = [
            s
            for s in group.instance_states
            if s.availability_zone == long_zone
            and s.lifecycle_state in COUNTED_STATES
            and not s.protected_from_scale_in
        ]
        if not removable:
            return
        victim = min(removable, key=order)
        size = sum(zone_counts(group).values())
        group.autoscaling_backend.ec2_backend.terminate_instances([victim.instance.id])
        group.instance_states = [s for s in group.instance_states if s is not victim]
        add_activity(
            group.name,
            "Successful",
            f"Terminating EC2 instance: {victim.instance.id}",
            cause=f"At {stamp} instances were launched to balance instances in zones {zones} with other "
            "zones resulting in more than desired number of instances in the group. At "
            f"{stamp} an instance was taken out of service in response to a difference between desired "
            f"and actual capacity, shrinking the capacity from {size} to {size - 1}. At {stamp} "
            f"instance {victim.instance.id} was selected for termination.",
        )


def terminate_like_aws(
    backend_class: Any, launch: Callable[[Any, str, str], str], order: Callable[[Any], Any]
) -> None:
    """TerminateInstanceInAutoScalingGroup: without decrement the replacement goes to the fewest zone
    (the victim's, on a tie); with decrement, an unbalanced group is rebalanced."""
    original = backend_class.terminate_instance

    def terminate_instance(self: Any, instance_id: str, should_decrement: bool) -> Any:
        state = next(
            (
                s
                for g in self.autoscaling_groups.values()
                for s in g.instance_states
                if s.instance.id == instance_id
            ),
            None,
        )
        if state is None:
            return original(self, instance_id, should_decrement)  # moto's own answer to an unknown id
        group = state.instance.autoscaling_group
        setattr(group, _REPLACING, None if should_decrement else state.availability_zone)
        try:
            result = original(self, instance_id, should_decrement)
        finally:
            setattr(group, _REPLACING, None)
        if should_decrement:
            rebalance(group, launch, order)
        return result

    backend_class.terminate_instance = terminate_instance
