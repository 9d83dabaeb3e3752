"""Launches that fail for capacity, the way Auto Scaling records and retries them.

AWS: "If an attempt to launch instances failed, the StatusCode value is Failed or Cancelled and the
StatusMessage element in the response indicates the cause of the failure"
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html). A launch
that found no capacity reads "We currently do not have sufficient <type> capacity in the Availability
Zone you requested ..." and the documented fix is to wait: "capacity can shift frequently"
(https://docs.aws.amazon.com/autoscaling/ec2/userguide/ts-as-instancelaunchfailure.html). Auto Scaling
keeps making the launch request, in the same zone or (balanced-best-effort, the default) another one
(https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_AvailabilityZoneDistribution.html); each
attempt is one more Failed activity, whose Description has no instance id ("Launching a new EC2
instance.  Status Reason: <message>", two spaces, as in the user guide's troubleshooting example
https://docs.aws.amazon.com/autoscaling/ec2/userguide/CHAP_Troubleshooting.html), and nothing joins
the group until an attempt succeeds. Here one attempt is made per DescribeAutoScalingGroups read of the
group.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from recycler.local.emulator.activities import add_activity
from recycler.local.emulator.state import current_state


def capacity_message(instance_type: str, zone: str) -> str:
    others = ", ".join(f"{zone[:-1]}{letter}" for letter in "bcd" if f"{zone[:-1]}{letter}" != zone)
    return (
        f"We currently do not have sufficient {instance_type} capacity in the Availability Zone you "
        f"requested ({zone}). Our system will be working on provisioning additional capacity. You can "
        f"currently get {instance_type} capacity by not specifying an Availability Zone in your request "
        f"or choosing {others}. Launching EC2 instance failed."
    )


def _record_failed_attempt(group: Any, instance_type: str) -> None:
    zone = (group.availability_zones or ["us-east-1a"])[0]
    message = capacity_message(instance_type, zone)
    counted = sum(1 for s in group.instance_states if not s.lifecycle_state.startswith("Terminating"))
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    add_activity(
        group.name,
        "Failed",
        f"Launching a new EC2 instance.  Status Reason: {message}",
        message,
        cause=f"At {stamp} an instance was started in response to a difference between desired and "
        f"actual capacity, increasing the capacity from {counted} to {counted + 1}.",
    )
    current_state().activities[group.name][-1]["Details"] = json.dumps(
        {"Subnet ID": "subnet-emulated", "Availability Zone": zone}
    )


def fail_for_capacity(group: Any, fresh: Sequence[Any], attempts: int | None) -> None:
    """The launch of `fresh` found no capacity: they never existed. `attempts` failed attempts in all
    (the first is this one), then a launch that succeeds; None: it never does."""
    emulated = current_state()
    ids = {s.instance.id for s in fresh}
    group.instance_states = [s for s in group.instance_states if s.instance.id not in ids]
    group.autoscaling_backend.ec2_backend.terminate_instances(sorted(ids))
    emulated.activities[group.name] = [
        a for a in emulated.activities[group.name] if not any(a["Description"].endswith(i) for i in ids)
    ]
    # moto leaves the type of an instance launched from a launch template empty; seed.py's templates
    # launch t3.micro.
    instance_type = str(getattr(fresh[0].instance, "instance_type", "") or "t3.micro")
    _record_failed_attempt(group, instance_type)
    emulated.short_of_capacity[group.name] = (-1 if attempts is None else attempts - 1, instance_type)


def retry_launch(group: Any) -> None:
    """One more launch attempt of a group short of capacity: another Failed activity, or (the blip
    over) the launch that succeeds, with its own Successful activity."""
    emulated = current_state()
    short = emulated.short_of_capacity.get(group.name)
    if short is None:
        return
    remaining, instance_type = short
    if remaining != 0:
        _record_failed_attempt(group, instance_type)
        if remaining > 0:
            emulated.short_of_capacity[group.name] = (remaining - 1, instance_type)
        return
    del emulated.short_of_capacity[group.name]
    if emulated.sabotage.get(group.name, "").startswith("capacity-blip"):
        del emulated.sabotage[group.name]  # a blip: the next launches find capacity
    group.set_desired_capacity(group.desired_capacity)
