"""The guards: is a group safe to act on now (steady, nothing suspended, big enough), and is the run
allowed to act at all (kill switch, stop alarms, blackouts, the ledger's last recycle)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from recycler.domain import (
    WEEKDAYS,
    BlackoutWindow,
    Decision,
    GroupSnapshot,
    MaintenanceWindow,
    Mode,
    PolicySettings,
    Reason,
)
from recycler.policy.tags import FALSE_WORDS, TagError, group_options, tag_key
from recycler.policy.windows import in_maintenance_window, next_window_open

# A suspended process among these would stop the group from replacing, health-checking or registering
# the new instance, so a recycle could leave the group one instance short.
BLOCKING_PROCESSES = frozenset(
    {"Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AddToLoadBalancer"}
)

# On the way out of the group (Auto Scaling User Guide, "Amazon EC2 Auto Scaling instance lifecycle",
# https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-lifecycle.html): a terminated
# instance behind a load balancer stays Terminating through the deregistration delay (300 s by default),
# and in Terminating:Wait while a termination hook (ECS managed draining, say) holds it.
LEAVING_STATES = frozenset({"Terminating", "Terminating:Wait", "Terminating:Proceed", "Terminated"})


def without_leaving(
    group: GroupSnapshot, own_victims: Collection[str]
) -> tuple[GroupSnapshot, frozenset[str]]:
    """The group as the next recycle of a sequence judges it, and the instances it excused: the earlier
    victims of this run still on their way out are gone already (not capacity, not unsteady). No other
    instance is excused."""
    leaving = frozenset(
        i.instance_id
        for i in group.instances
        if i.instance_id in own_victims and i.lifecycle_state in LEAVING_STATES
    )
    if not leaving:
        return group, leaving
    staying = tuple(i for i in group.instances if i.instance_id not in leaving)
    return replace(group, instances=staying), leaving


def unsteady_detail(group: GroupSnapshot) -> str | None:
    """Why the group is not in a steady state, or None when it is."""
    # Standby instances are parked by their owner: not capacity, not health-checked, not unsteady.
    settling = [i for i in group.instances if i.lifecycle_state != "InService" and not i.in_standby]
    if settling:
        states = ", ".join(f"{i.instance_id}={i.lifecycle_state}" for i in settling[:5])
        return f"instances not InService: {states}"
    unhealthy = [i for i in group.instances if i.health_status != "Healthy" and not i.in_standby]
    if unhealthy:
        return "unhealthy instances: " + ", ".join(i.instance_id for i in unhealthy[:5])
    healthy = sum(1 for i in group.instances if i.in_service_and_healthy)
    if healthy < group.desired_capacity:
        return f"{healthy} InService+Healthy instances, desired {group.desired_capacity}"
    if group.status:
        return f"group status is {group.status!r}"
    return None


def check_group(group: GroupSnapshot, settings: PolicySettings) -> tuple[Reason, str] | None:
    """The first safety guard the group fails (tags, suspended processes, steadiness, size), or None."""
    try:
        options = group_options(group, settings)
    except TagError as error:
        return Reason.INVALID_TAG, str(error)
    suspended = sorted(group.suspended_processes & BLOCKING_PROCESSES)
    if suspended:
        return Reason.PROCESSES_SUSPENDED, "suspended: " + ", ".join(suspended)
    unsteady = unsteady_detail(group)
    if unsteady:
        return Reason.NOT_STEADY, unsteady
    if options.mode is Mode.REPLACE and group.desired_capacity < 2:
        return (
            Reason.TOO_SMALL,
            f"desired capacity {group.desired_capacity} would drop to zero while replacing; "
            f"tag the group {tag_key(settings, 'mode')}=surge",
        )
    if options.mode is Mode.SURGE and group.max_size <= group.desired_capacity:
        return (
            Reason.NO_ROOM_TO_SURGE,
            f"max size {group.max_size} == desired {group.desired_capacity}; raise max size by 1",
        )
    return None


def run_guard(
    now: datetime,
    *,
    kill_switch: str | None,
    firing_alarms: Sequence[str],
    blackout_windows: Sequence[BlackoutWindow] = (),
    blackout_weekdays: Sequence[str] = (),
    maintenance_windows: Sequence[MaintenanceWindow] = (),
    zone: str = "UTC",
) -> tuple[Reason, str] | None:
    """A reason that stops the whole run before any group is touched, or None."""
    if kill_switch is not None:
        return Reason.KILL_SWITCH, kill_switch
    if firing_alarms:
        return Reason.ALARM_FIRING, "stop-condition alarms in ALARM: " + ", ".join(sorted(firing_alarms))
    for window in blackout_windows:
        if now in window:
            return (
                Reason.BLACKOUT,
                f"inside blackout window {window.start.isoformat()}/{window.end.isoformat()}",
            )
    weekday = WEEKDAYS[now.weekday()]
    if weekday in {d.lower()[:3] for d in blackout_weekdays}:
        return Reason.BLACKOUT, f"{weekday} is a blackout weekday"
    if not in_maintenance_window(now, maintenance_windows, zone):
        opens = next_window_open(now, maintenance_windows, zone)
        listed = ", ".join(w.text for w in maintenance_windows)
        return (
            Reason.OUTSIDE_MAINTENANCE_WINDOW,
            f"outside the maintenance windows {listed} ({zone}); the next opens {opens.isoformat()}",
        )
    return None


def kill_switch_state(value: str | None, parameter: str) -> str | None:
    """Engaged-detail for a kill-switch parameter value, or None when it is off.

    Anything other than an explicit off value counts as engaged: when in doubt, do not terminate.
    """
    if value is None:
        return f"kill-switch parameter {parameter} not found; treating it as engaged"
    if value.strip().lower() in FALSE_WORDS | {""}:
        return None
    return f"kill-switch parameter {parameter} is {value.strip()!r}; set it to 'off' to allow recycling"


def apply_history(
    decision: Decision,
    last_recycled_at: datetime | None,
    now: datetime,
    min_interval: timedelta,
    *,
    force: bool = False,
) -> Decision:
    """Skip a planned recycle when the ledger shows one within min_interval (unless forced)."""
    if not decision.recycle or last_recycled_at is None or force:
        return decision
    if now - last_recycled_at < min_interval:
        hours = min_interval.total_seconds() / 3600
        return decision.skipped(
            Reason.RECENTLY_RECYCLED, f"last recycled {last_recycled_at.isoformat()}, interval {hours:g} h"
        )
    return decision
