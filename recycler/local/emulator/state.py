"""The emulator's own state, in one object: everything it knows beyond moto's backends.

What a test or the demo injects (a sabotaged group, a boot time, a drain time, an activity) and what
the patched moto calls remember between requests (an instance still booting, a launch hook's deadline,
a warm pool's images) live in one EmulatorState. The patched calls reach it through current_state() on
every request; reset() replaces it with a fresh one, so nothing one test injected survives into the
next. moto's own backends are reset by moto (mock_aws, or the server's /moto-api/reset).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The account moto keeps its backends under when no credentials name another.
DEFAULT_ACCOUNT = "123456789012"

# A clock the emulator measures boots, drains and hook timeouts on: real time, or a simulated clock
# such as the durable test runner's, whose waits are skipped.
Clock = Callable[[], datetime]


@dataclass
class EmulatorState:
    """What a test or the demo injected, and what the emulator's patched calls remember between
    requests. Keys are group names, instance ids or cluster names, as each comment says."""

    # group name -> its instance refreshes, as DescribeInstanceRefreshes answers them.
    instance_refreshes: defaultdict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    # group name -> its scaling activities, as DescribeScalingActivities answers them.
    activities: defaultdict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    # group name -> how its next replacements misbehave (see sabotage()).
    sabotage: dict[str, str] = field(default_factory=dict)
    # instance ids whose target-group health check fails.
    unhealthy_targets: set[str] = field(default_factory=set)
    # target group name -> instance ids that fail its health check (and only its), see unhealthy_in().
    unhealthy_in_target_group: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    # group name -> (target group name, the group's instances when staged): later instances fail it.
    replacements_unhealthy_in: dict[str, tuple[str, frozenset[str]]] = field(default_factory=dict)
    # instance id -> remaining DescribeAutoScalingGroups reads before it leaves Pending.
    slow_instances: dict[str, int] = field(default_factory=dict)
    # instance id -> remaining DescribeAutoScalingGroups reads it stays in Terminating:Wait.
    held_terminating: dict[str, int] = field(default_factory=dict)
    # instance id -> its terminate activity (as DescribeScalingActivities answers it) while it is held.
    terminate_activities: dict[str, dict[str, Any]] = field(default_factory=dict)
    # group name -> reads its terminated instances stay Terminating (a load balancer's deregistration delay).
    deregistration_delays: dict[str, int] = field(default_factory=dict)
    # group name -> (seconds its replacements take to boot, the clock that measures them).
    boot_times: dict[str, tuple[float, Clock]] = field(default_factory=dict)
    # instance id -> (when it is InService, that clock): a boot measured in time, not reads.
    booting: dict[str, tuple[datetime, Clock]] = field(default_factory=dict)
    # group name -> the Cause text of its next capacity change (a scaling policy, say), else a user request.
    next_cause: dict[str, str] = field(default_factory=dict)
    # ECS cluster name -> (seconds service tasks take to move off a DRAINING instance, that clock).
    drain_times: dict[str, tuple[float, Clock]] = field(default_factory=dict)
    # container instance id -> when it was set to DRAINING, and the clock that measures its drain.
    draining_since: dict[str, tuple[datetime, Clock]] = field(default_factory=dict)
    # group name -> the clock its launch lifecycle hooks time out on (default: real time).
    hook_clocks: dict[str, Clock] = field(default_factory=dict)
    # instance id -> (hook name, when its heartbeat runs out, that clock, the hook's default result,
    # when its global timeout ends the wait whatever the heartbeats).
    in_launch_hook: dict[str, tuple[str, datetime, Clock, str, datetime]] = field(default_factory=dict)
    # group name -> its traffic sources (AttachTrafficSources), as DescribeAutoScalingGroups lists them.
    traffic_sources: defaultdict[str, list[dict[str, str]]] = field(default_factory=lambda: defaultdict(list))
    # group name -> the ECS cluster its instances' ECS agent registers them in when they boot.
    ecs_agents: dict[str, str] = field(default_factory=dict)
    # group name -> (failed launch attempts for capacity still to come before one succeeds, -1: never;
    # the instance type the launch asks for).
    short_of_capacity: dict[str, tuple[int, str]] = field(default_factory=dict)
    # group name -> images of the instances waiting in its warm pool (launched when the pool was made).
    warm_pools: dict[str, list[str]] = field(default_factory=dict)
    # (group name, predictive policy name) -> its hourly capacity forecast (scale_outs.predictive_forecast).
    capacity_forecasts: dict[tuple[str, str], list[tuple[datetime, float]]] = field(default_factory=dict)
    # How many of the next entries PutEvents receives it refuses, and with which ErrorCode (see
    # events.refuse_events); the entries it refused, as sent.
    events_to_refuse: int = 0
    events_error_code: str = "ThrottlingException"
    refused_events: list[dict[str, Any]] = field(default_factory=list)
    # account id -> the organization it is a member of (aws:PrincipalOrgID of its roles' requests).
    organization_of: dict[str, str] = field(default_factory=dict)
    # CodeDeploy (codedeploy.py): deployment group name -> how its automatic deployments end; instance id
    # -> its automatic deployment's id ("terminating:<id>": its termination deployment's); deployment id
    # -> its errorInformation.
    codedeploy_outcomes: dict[str, str] = field(default_factory=dict)
    codedeploy_deployments: dict[str, str] = field(default_factory=dict)
    codedeploy_errors: dict[str, dict[str, str]] = field(default_factory=dict)


# The one current state; a list so reset() can replace it without a global statement.
_current = [EmulatorState()]


def current_state() -> EmulatorState:
    """The state the emulator's patched calls read and write now (reset() replaces it)."""
    return _current[0]


def reset() -> None:
    """Forget everything injected or remembered: the emulator starts over with a fresh EmulatorState."""
    _current[0] = EmulatorState()
