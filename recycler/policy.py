"""Pure recycle decisions: which instance of a group to replace, or why not.

Nothing here talks to AWS. Every input is a snapshot read by the fleet adapter, so each rule can be
tested exhaustively with plain data.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum


class Reason(StrEnum):
    """Why a group was not recycled. A skip always carries one of these codes (design.md §4)."""

    NOT_OPTED_IN = "not-opted-in"
    OPTED_OUT = "opted-out"
    NOT_FOUND = "not-found"
    INVALID_TAG = "invalid-tag"
    KILL_SWITCH = "kill-switch"
    BLACKOUT = "blackout"
    ALARM_FIRING = "alarm-firing"
    RECENTLY_RECYCLED = "recently-recycled"
    TOO_YOUNG = "too-young"
    NOT_STEADY = "not-steady"
    PROCESSES_SUSPENDED = "processes-suspended"
    ACTIVITY_IN_PROGRESS = "activity-in-progress"
    TOO_SMALL = "too-small"
    NO_ROOM_TO_SURGE = "no-room-to-surge"
    NO_CANDIDATE = "no-candidate"
    RUN_LIMIT = "run-limit"
    STOPPED_AFTER_FAILURES = "stopped-after-failures"
    CANARY_FAILED = "canary-failed"
    WITHIN_TARGET = "within-target"
    EARLIER_RECYCLE_FAILED = "earlier-recycle-failed"
    DEFERRED_BUDGET = "deferred-budget"
    NO_DRAIN_HOOK = "no-drain-hook"


class Mode(StrEnum):
    REPLACE = "replace"
    SURGE = "surge"


# A suspended process among these would stop the group from replacing, health-checking or registering
# the new instance, so a recycle could leave the group one instance short.
BLOCKING_PROCESSES = frozenset(
    {"Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AddToLoadBalancer"}
)
# Lifecycle hook transitions (Amazon EC2 Auto Scaling User Guide, "Lifecycle hooks").
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
# How a group says its instances are Kubernetes nodes: the cluster-autoscaler / EKS tag, or the tag EKS
# managed node groups put on their group.
KUBERNETES_TAG_PREFIX = "kubernetes.io/cluster/"
EKS_CLUSTER_TAG = "eks:cluster-name"
DEFAULT_DRAIN_TIMEOUT = timedelta(minutes=15)
ECS_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "enabled"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "disabled"})


@dataclass(frozen=True)
class InstanceSnapshot:
    instance_id: str
    lifecycle_state: str
    health_status: str
    protected_from_scale_in: bool
    launch_time: datetime | None = None
    image_id: str | None = None
    instance_type: str | None = None

    @property
    def in_service_and_healthy(self) -> bool:
        return self.lifecycle_state == "InService" and self.health_status == "Healthy"

    @property
    def in_standby(self) -> bool:
        """Standby: taken out of service by its owner; Auto Scaling does not health-check it."""
        return self.lifecycle_state.startswith("Standby")


@dataclass(frozen=True)
class LifecycleHook:
    name: str
    transition: str
    heartbeat_seconds: int


@dataclass(frozen=True)
class EcsCapacityProvider:
    """An ECS capacity provider that points at a group, and the cluster that uses it (if any)."""

    name: str
    cluster: str | None
    managed_draining: bool


@dataclass(frozen=True)
class ContainerHost:
    """What runs on a group's instances, and who drains them before they go."""

    kind: str  # "ecs" | "kubernetes"
    cluster: str
    recycler_drains: bool = False  # ECS without managed draining: recycler sets DRAINING and waits
    drain_timeout_seconds: int = 0

    def describe(self) -> str:
        if self.kind == "kubernetes":
            return f"kubernetes:{self.cluster} (drained by its termination lifecycle hook)"
        how = "drained by recycler" if self.recycler_drains else "ECS managed draining"
        return f"ecs:{self.cluster} ({how})"


@dataclass(frozen=True)
class GroupSnapshot:
    name: str
    desired_capacity: int
    min_size: int
    max_size: int
    instances: tuple[InstanceSnapshot, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    suspended_processes: frozenset[str] = frozenset()
    target_group_arns: tuple[str, ...] = ()
    load_balancer_names: tuple[str, ...] = ()
    health_check_grace_period: int = 300
    launch_template: str | None = None
    current_image_id: str | None = None
    status: str | None = None
    current_image_reason: str | None = None  # why the current image is unknown, when it is
    override_images: tuple[tuple[str, str | None], ...] = ()  # (instance type, image) per override
    arn: str | None = None
    warm_pool: bool = False

    @property
    def standby(self) -> int:
        return sum(1 for i in self.instances if i.in_standby)

    def image_for(self, instance: InstanceSnapshot) -> str | None:
        """The image a replacement for this instance launches: its type's override template, if any."""
        for kind, image in self.override_images:
            if kind == instance.instance_type:
                return image
        return self.current_image_id


@dataclass(frozen=True)
class PolicySettings:
    tag_prefix: str = "recycler:"
    min_age: timedelta = timedelta(days=1)
    tie_window: timedelta = timedelta(minutes=10)
    health_timeout_margin: timedelta = timedelta(minutes=10)
    max_age: timedelta | None = None  # the deploy-wide freshness target; a tag overrides it


@dataclass(frozen=True)
class GroupOptions:
    """Per-group settings from tags, already validated."""

    mode: Mode = Mode.REPLACE
    min_age: timedelta = timedelta(days=1)
    health_timeout: timedelta = timedelta(minutes=15)
    ignore_protection: bool = False
    max_age: timedelta | None = None
    max_per_run: int | None = None
    drain_timeout: timedelta = DEFAULT_DRAIN_TIMEOUT
    health_timeout_tagged: bool = False


@dataclass(frozen=True)
class Decision:
    group: str
    recycle: bool
    reason: str
    detail: str = ""
    mode: Mode = Mode.REPLACE
    victim: InstanceSnapshot | None = None
    tier: tuple[str, ...] = ()
    health_timeout_seconds: int = 900
    oldest_age_days: float | None = None
    current_image_id: str | None = None
    desired_capacity: int = 0
    # With a freshness target: every victim of this run in order (victim is the first), and how many
    # due instances the per-run cap leaves for later runs.
    victims: tuple[InstanceSnapshot, ...] = ()
    behind_by: int = 0
    # AMI truth: instances not on the current image, and how old the images are (days since built).
    drifted_instances: int = 0
    current_image_reason: str | None = None
    current_image_age_days: float | None = None
    oldest_image_age_days: float | None = None
    image_ages: tuple[tuple[str, float], ...] = ()  # (image id, days since built) for this group
    # Container hosts and lifecycle hooks (read for the groups a run would recycle).
    host: ContainerHost | None = None
    launch_hooks: tuple[str, ...] = ()
    standby_instances: int = 0
    warm_pool: bool = False

    @property
    def fixes_bit_rot(self) -> bool:
        """Recycling replaces the victim's image with a different, known current one."""
        return (
            self.victim is not None
            and self.current_image_id is not None
            and self.victim.image_id != self.current_image_id
        )

    def skipped(self, reason: Reason, detail: str) -> Decision:
        return replace(self, recycle=False, reason=reason.value, detail=detail)


class TagError(ValueError):
    """A recycler tag on a group holds a value we cannot act on."""


def tag_key(settings: PolicySettings, name: str) -> str:
    return f"{settings.tag_prefix}{name}"


def parse_bool_tag(value: str, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise TagError(f"tag {key}={value!r} is not a boolean; set it to 'true' or 'false'")


def _positive_number_tag(value: str, key: str, unit: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise TagError(f"tag {key}={value!r} is not a number; set it to a number of {unit}") from None
    if not number >= 0 or number == float("inf"):
        raise TagError(f"tag {key}={value!r} must be a finite number of {unit} >= 0")
    return number


def group_options(group: GroupSnapshot, settings: PolicySettings) -> GroupOptions:
    """Read per-group overrides from tags; raise TagError naming the tag and the fix."""
    tags = group.tags
    mode_key = tag_key(settings, "mode")
    raw_mode = tags.get(mode_key, Mode.REPLACE.value).strip().lower()
    try:
        mode = Mode(raw_mode)
    except ValueError:
        raise TagError(f"tag {mode_key}={raw_mode!r} is not a mode; set it to 'replace' or 'surge'") from None

    min_age = settings.min_age
    age_key = tag_key(settings, "min-age-days")
    if age_key in tags:
        min_age = timedelta(days=_positive_number_tag(tags[age_key], age_key, "days"))

    timeout = timedelta(seconds=group.health_check_grace_period) + settings.health_timeout_margin
    timeout_key = tag_key(settings, "health-timeout-minutes")
    if timeout_key in tags:
        minutes = _positive_number_tag(tags[timeout_key], timeout_key, "minutes")
        if minutes < 1:
            raise TagError(f"tag {timeout_key}={tags[timeout_key]!r} must be at least 1 minute")
        timeout = timedelta(minutes=minutes)

    protection_key = tag_key(settings, "ignore-protection")
    ignore_protection = False
    if protection_key in tags:
        ignore_protection = parse_bool_tag(tags[protection_key], protection_key)

    max_age = settings.max_age
    target_key = tag_key(settings, "max-age-days")
    if target_key in tags:
        days = _positive_number_tag(tags[target_key], target_key, "days")
        if days <= 0:
            raise TagError(f"tag {target_key}={tags[target_key]!r} must be more than 0 days")
        max_age = timedelta(days=days)
    max_per_run = None
    cap_key = tag_key(settings, "max-per-run")
    if cap_key in tags:
        raw_cap = tags[cap_key].strip()
        if not raw_cap.isdigit() or int(raw_cap) < 1:
            raise TagError(f"tag {cap_key}={tags[cap_key]!r} must be a whole number of instances >= 1")
        max_per_run = int(raw_cap)
    drain_timeout = DEFAULT_DRAIN_TIMEOUT
    drain_key = tag_key(settings, "drain-timeout-minutes")
    if drain_key in tags:
        minutes = _positive_number_tag(tags[drain_key], drain_key, "minutes")
        if not 1 <= minutes <= 24 * 60:
            raise TagError(f"tag {drain_key}={tags[drain_key]!r} must be between 1 and 1440 minutes")
        drain_timeout = timedelta(minutes=minutes)
    cluster_key = tag_key(settings, "ecs-cluster")
    if cluster_key in tags and not ECS_CLUSTER_NAME.match(tags[cluster_key].strip()):
        raise TagError(
            f"tag {cluster_key}={tags[cluster_key]!r} is not an ECS cluster name; set it to the name of the "
            "cluster the instances join (letters, digits, - and _, not an ARN)"
        )
    return GroupOptions(
        mode=mode,
        min_age=min_age,
        health_timeout=timeout,
        ignore_protection=ignore_protection,
        max_age=max_age,
        max_per_run=max_per_run,
        drain_timeout=drain_timeout,
        health_timeout_tagged=timeout_key in tags,
    )


# The one opt-in value: discovery filters on it and the IAM condition that lets recycler act on a group
# matches it exactly (infra/function.py), so what recycler plans is what its role may act on.
OPT_IN_VALUE = "true"


def opt_in_state(group: GroupSnapshot, settings: PolicySettings) -> Reason | None:
    """None when the group opted in, else the reason it is out of scope (invalid-tag for a spelling of
    true that the IAM condition would not match)."""
    key = tag_key(settings, "enabled")
    if key not in group.tags:
        return Reason.NOT_OPTED_IN
    value = group.tags[key]
    if value == OPT_IN_VALUE:
        return None
    try:
        return Reason.INVALID_TAG if parse_bool_tag(value, key) else Reason.OPTED_OUT
    except TagError:
        return Reason.OPTED_OUT


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


def oldest_tier(
    candidates: Sequence[InstanceSnapshot], tie_window: timedelta
) -> tuple[InstanceSnapshot, ...]:
    """Candidates launched within tie_window of the oldest one, oldest first."""
    dated = sorted(
        (c for c in candidates if c.launch_time is not None),
        key=lambda c: (c.launch_time, c.instance_id),
    )
    if not dated:
        return ()
    oldest = dated[0].launch_time
    assert oldest is not None
    return tuple(c for c in dated if c.launch_time is not None and c.launch_time - oldest <= tie_window)


def age_days(instance: InstanceSnapshot, now: datetime) -> float | None:
    if instance.launch_time is None:
        return None
    return (now - instance.launch_time).total_seconds() / 86400


def with_override_image(decision: Decision, group: GroupSnapshot, victim: InstanceSnapshot) -> Decision:
    """With MixedInstancesPolicy overrides on their own templates, the current image is the one the
    victim's instance type launches; when the overrides differ, the detail names all of them."""
    if not group.override_images:
        return decision
    images = {image for _, image in group.override_images} | {group.current_image_id}
    reason = decision.current_image_reason
    if len(images) > 1:
        listed = ", ".join(f"{kind}={image or 'unknown'}" for kind, image in group.override_images)
        reason = f"overrides launch different images: {listed}; default {group.current_image_id}"
    return replace(decision, current_image_id=group.image_for(victim), current_image_reason=reason)


def per_run_cap(options: GroupOptions, desired: int) -> int:
    """The most instances one run recycles in a group: the tag, else 10 % of desired (at least one);
    never so many that replace mode would take the group's last instance."""
    cap = options.max_per_run or max(1, math.ceil(desired * 0.1))
    return min(cap, desired - 1) if options.mode is Mode.REPLACE else cap


def oldest_first_random_ties(
    candidates: Sequence[InstanceSnapshot], tie_window: timedelta, rng: random.Random
) -> list[InstanceSnapshot]:
    """Oldest first; instances launched within tie_window of each other in random order."""
    remaining = sorted(
        (c for c in candidates if c.launch_time is not None), key=lambda c: (c.launch_time, c.instance_id)
    )
    ordered: list[InstanceSnapshot] = []
    while remaining:
        tier = list(oldest_tier(remaining, tie_window))
        rng.shuffle(tier)
        ordered += tier
        remaining = [c for c in remaining if c not in tier]
    return ordered


def decide(
    group: GroupSnapshot,
    settings: PolicySettings,
    now: datetime,
    rng: random.Random,
    *,
    force: bool = False,
    horizon: datetime | None = None,
) -> Decision:
    """Decide whether to recycle this group and which instance(s): one victim per run, or with a
    freshness target every instance that would outgrow it by `horizon` (the next run), up to the cap."""
    oldest_ages = [a for a in (age_days(i, now) for i in group.instances) if a is not None]
    base = Decision(
        group=group.name,
        recycle=False,
        reason="",
        oldest_age_days=round(max(oldest_ages), 3) if oldest_ages else None,
        current_image_id=group.current_image_id,
        desired_capacity=group.desired_capacity,
        current_image_reason=group.current_image_reason,
        standby_instances=group.standby,
        warm_pool=group.warm_pool,
        drifted_instances=sum(
            1
            for i in group.instances
            if group.current_image_id is not None
            and i.image_id is not None
            and i.image_id != group.current_image_id
        ),
    )
    out_of_scope = opt_in_state(group, settings)
    if out_of_scope is not None:
        key = tag_key(settings, "enabled")
        if out_of_scope is Reason.INVALID_TAG:
            return base.skipped(
                out_of_scope,
                f"tag {key}={group.tags[key]!r}: use lowercase {OPT_IN_VALUE!r}; the IAM condition that lets "
                "recycler act on the group matches it exactly",
            )
        return base.skipped(out_of_scope, f"group is not tagged {key}={OPT_IN_VALUE}")
    problem = check_group(group, settings)
    if problem is not None:
        return base.skipped(*problem)
    options = group_options(group, settings)
    base = replace(
        base, mode=options.mode, health_timeout_seconds=int(options.health_timeout.total_seconds())
    )

    candidates = [
        i
        for i in group.instances
        if i.in_service_and_healthy and (options.ignore_protection or not i.protected_from_scale_in)
    ]
    if not candidates:
        return base.skipped(
            Reason.NO_CANDIDATE, "every InService+Healthy instance is protected from scale-in"
        )
    undated = [c.instance_id for c in candidates if c.launch_time is None]
    if undated:
        return base.skipped(Reason.NO_CANDIDATE, "launch time unknown for " + ", ".join(undated[:5]))
    if options.max_age is not None and horizon is not None:
        return _decide_for_target(group, settings, options, base, candidates, now, rng, force, horizon)
    tier = oldest_tier(candidates, settings.tie_window)
    oldest_age = now - tier[0].launch_time if tier[0].launch_time else timedelta(0)
    if oldest_age < options.min_age and not force:
        return base.skipped(
            Reason.TOO_YOUNG,
            f"oldest candidate is {oldest_age.total_seconds() / 86400:.2f} days old, "
            f"minimum {options.min_age.total_seconds() / 86400:g}",
        )
    victim = rng.choice(tier)
    base = with_override_image(base, group, victim)
    detail = f"oldest of {len(candidates)} candidates"
    if len(tier) > 1:
        detail += f", picked at random from {len(tier)} tied within {settings.tie_window}"
    return replace(
        base,
        recycle=True,
        reason="oldest-instance",
        detail=detail,
        victim=victim,
        tier=tuple(i.instance_id for i in tier),
    )


def oldest_first(decisions: Iterable[Decision]) -> list[Decision]:
    """The planned recycles in the order a run takes them: first the ones that actually fix bit rot
    (the victim's image differs from the one the group launches now), oldest victim first in each."""
    return sorted(
        (d for d in decisions if d.recycle),
        key=lambda d: (
            not d.fixes_bit_rot,
            d.victim.launch_time if d.victim and d.victim.launch_time else datetime.max,
            d.group,
        ),
    )


def keep_first(decisions: Iterable[Decision], count: int, reason: Reason, detail: str) -> list[Decision]:
    """Keep the first `count` recycles (oldest first); the rest skip with `reason`."""
    decided = list(decisions)
    chosen = {d.group for d in oldest_first(decided)[:count]}
    return [d if not d.recycle or d.group in chosen else d.skipped(reason, detail) for d in decided]


def _decide_for_target(
    group: GroupSnapshot,
    settings: PolicySettings,
    options: GroupOptions,
    base: Decision,
    candidates: Sequence[InstanceSnapshot],
    now: datetime,
    rng: random.Random,
    force: bool,
    horizon: datetime,
) -> Decision:
    assert options.max_age is not None
    target_days = options.max_age.total_seconds() / 86400
    due = [
        c
        for c in candidates
        if c.launch_time is not None
        and horizon - c.launch_time > options.max_age
        and (force or now - c.launch_time >= options.min_age)
    ]
    if not due:
        return base.skipped(
            Reason.WITHIN_TARGET,
            f"every instance is younger than {target_days:g} days at the next run ({horizon:%a %Y-%m-%d %H:%M %Z})",
        )
    cap = per_run_cap(options, group.desired_capacity)
    victims = oldest_first_random_ties(due, settings.tie_window, rng)[:cap]
    behind = len(due) - len(victims)
    detail = (
        f"{len(due)} instance(s) would be older than {target_days:g} days at the next run "
        f"({horizon:%a %Y-%m-%d %H:%M %Z}); recycling {len(victims)} one after another (cap {cap})"
    )
    if behind:
        detail += f"; behind by {behind}: raise {tag_key(settings, 'max-per-run')} to keep up"
    base = with_override_image(base, group, victims[0])
    return replace(
        base,
        recycle=True,
        reason="oldest-instance",
        detail=detail,
        victim=victims[0],
        victims=tuple(victims),
        behind_by=behind,
        tier=tuple(v.instance_id for v in victims),
    )


def limit_run(decisions: Iterable[Decision], max_groups: int) -> list[Decision]:
    """Keep at most max_groups recycles, oldest instances first; the rest skip with run-limit."""
    return keep_first(
        decisions, max_groups, Reason.RUN_LIMIT, f"at most {max_groups} groups per run; oldest first"
    )


@dataclass(frozen=True)
class BlackoutWindow:
    """A closed-open UTC interval during which nothing is recycled."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def run_guard(
    now: datetime,
    *,
    kill_switch: str | None,
    firing_alarms: Sequence[str],
    blackout_windows: Sequence[BlackoutWindow] = (),
    blackout_weekdays: Sequence[str] = (),
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


def kubernetes_cluster(group: GroupSnapshot) -> str | None:
    """The Kubernetes cluster a group's instances join as nodes, from its tags, or None."""
    if group.tags.get(EKS_CLUSTER_TAG):
        return group.tags[EKS_CLUSTER_TAG]
    for key in sorted(group.tags):
        if key.startswith(KUBERNETES_TAG_PREFIX) and len(key) > len(KUBERNETES_TAG_PREFIX):
            return key.removeprefix(KUBERNETES_TAG_PREFIX)
    return None


def drain_hook_howto(group: str) -> str:
    return (
        "aws autoscaling put-lifecycle-hook --auto-scaling-group-name "
        f"{group} --lifecycle-hook-name drain-node --lifecycle-transition autoscaling:EC2_INSTANCE_TERMINATING"
    )


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
    timeout = decision.health_timeout_seconds
    if launch and not options.health_timeout_tagged:
        longest = max(h.heartbeat_seconds for h in launch)
        margin = settings.health_timeout_margin.total_seconds()
        timeout = max(timeout, int(group.health_check_grace_period + longest + margin))
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
    )
    cluster = kubernetes_cluster(group)
    if cluster is not None:
        if not any(h.transition == TERMINATING for h in hooks):
            return decision.skipped(
                Reason.NO_DRAIN_HOOK,
                f"nodes of Kubernetes cluster {cluster} would lose their pods undrained; add a termination "
                "hook a drainer completes (aws-node-termination-handler, queue mode): "
                + drain_hook_howto(group.name),
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
