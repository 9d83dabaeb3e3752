"""The domain: the nouns every layer speaks.

This module and `interfaces.py` beside it declare what a recycle is about (groups, instances, decisions,
reasons) and what the workflow asks of the outside world, and nothing about how: `recycler/aws/`
implements the interfaces with boto3, the tests inject their own, and `recycler/policy/` decides with
plain data. Nothing here imports another recycler module.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

# The reasons are the domain's longest list: a module of their own, named from here by every layer.
from recycler.reasons import ATTENTION_SKIPS as ATTENTION_SKIPS  # noqa: PLC0414 (an explicit re-export, for mypy --strict)
from recycler.reasons import DRAIN_FAILURES as DRAIN_FAILURES  # noqa: PLC0414 (an explicit re-export, for mypy --strict)
from recycler.reasons import NOT_THE_IMAGE as NOT_THE_IMAGE  # noqa: PLC0414 (an explicit re-export, for mypy --strict)
from recycler.reasons import UNJUDGED as UNJUDGED  # noqa: PLC0414 (an explicit re-export, for mypy --strict)
from recycler.reasons import Reason as Reason  # noqa: PLC0414 (an explicit re-export, for mypy --strict)

# The one CloudWatch namespace, and the `service` dimension every metric carries (Powertools adds it to
# each metric when a service name is set): the handler's metrics, the alarms and the dashboard use both.
METRIC_NAMESPACE = "Recycler"
METRIC_SERVICE = "recycler"


class Mode(StrEnum):
    REPLACE = "replace"
    SURGE = "surge"


# Lifecycle hook transitions (Amazon EC2 Auto Scaling User Guide, "Lifecycle hooks").
LAUNCHING = "autoscaling:EC2_INSTANCE_LAUNCHING"
TERMINATING = "autoscaling:EC2_INSTANCE_TERMINATING"
DEFAULT_DRAIN_TIMEOUT = timedelta(minutes=15)


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
    global_seconds: int = 0  # GlobalTimeout: the longest wait heartbeats extend it to (0: not read)


@dataclass(frozen=True)
class EcsCapacityProvider:
    """An ECS capacity provider that points at a group, and the cluster that uses it (if any)."""

    name: str
    cluster: str | None
    managed_draining: bool
    # ECS sets scale-in protection on every instance of the group that runs tasks (and clears it when the
    # last task stops): that protection is ECS's bookkeeping, not an operator's "keep this instance".
    managed_termination_protection: bool = False


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
    lattice_target_groups: tuple[str, ...] = ()  # TrafficSources of type vpc-lattice (ARNs)
    health_check_grace_period: int = 300
    current_image_id: str | None = None
    status: str | None = None
    current_image_reason: str | None = None  # why the current image is unknown, when it is
    override_images: tuple[tuple[str, str | None], ...] = ()  # (instance type, image) per override
    arn: str | None = None
    warm_pool: bool = False
    # An ECS capacity provider with managed termination protection owns the instances' scale-in
    # protection (planning reads it when an opted-in group has protected instances).
    ecs_protection: bool = False

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
    # Days since each dated instance launched: the fleet's p50/p95 on the dashboard.
    instance_ages_days: tuple[float, ...] = ()
    current_image_id: str | None = None
    desired_capacity: int = 0
    # With a freshness target: every victim of this run in order (victim is the first), the due instances
    # the cap leaves for later runs, and the target's outlook (a policy.freshness.Outlook; Any: not a noun).
    victims: tuple[InstanceSnapshot, ...] = ()
    behind_by: int = 0
    freshness: Any = None
    # AMI truth: instances not on the current image, and how old the images are (days since built).
    drifted_instances: int = 0
    current_image_reason: str | None = None
    current_image_age_days: float | None = None
    oldest_image_age_days: float | None = None
    image_ages: tuple[tuple[str, float], ...] = ()  # (image id, days since built) for this group
    # Container hosts and lifecycle hooks (read for the groups a run would recycle).
    host: ContainerHost | None = None
    launch_hooks: tuple[str, ...] = ()
    launch_hook_limit_seconds: int = 0  # a wait its hook's owner heartbeats may extend to (0: none)
    bake_seconds: int = 0  # a canary's bake: the group's bake-minutes tag, else the run's setting
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


@dataclass(frozen=True)
class BlackoutWindow:
    """A closed-open UTC interval during which nothing is recycled."""

    start: datetime
    end: datetime

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class MaintenanceWindow:
    """Weekdays and a local time span (in the schedule's time zone) during which runs may act."""

    days: frozenset[int]  # 0 = Monday
    start_minute: int  # minutes after local midnight
    end_minute: int  # exclusive; may be below start_minute for a span across midnight
    text: str = ""


INSTANCE_IN_DESCRIPTION = re.compile(r"\b(i-[0-9a-f]{8,17})\b")


@dataclass(frozen=True)
class CurrentImage:
    """The image a group launches now, or None with the reason it is unknown."""

    image_id: str | None
    unknown_reason: str | None
    # MixedInstancesPolicy overrides with their own launch template: (instance type, its image).
    overrides: tuple[tuple[str, str | None], ...] = ()


@dataclass(frozen=True)
class Activity:
    status: str
    description: str
    message: str
    start_time: datetime | None
    cause: str = ""

    @property
    def instance_id(self) -> str | None:
        """The instance a launch or termination names ("Launching a new EC2 instance: i-...")."""
        found = INSTANCE_IN_DESCRIPTION.search(self.description)
        return found.group(1) if found else None

    @property
    def is_launch(self) -> bool:
        return self.description.startswith("Launching")


class AdapterError(RuntimeError):
    """An AWS service answered, but not with what recycler needs (e.g. a failure entry in a 200 answer)."""


# What an AWS adapter may raise for a call that did not do its job: a failure to report, not a crash.
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError, AdapterError)


class ClaimRefused(Exception):
    """Another run holds or recently used this group."""

    def __init__(self, group: str, holder: dict[str, Any]) -> None:
        self.holder = holder
        super().__init__(
            f"{group} was claimed at {holder.get('claimed_at', '?')} by run {holder.get('run_id', '?')} "
            f"({holder.get('status', '?')})"
        )


class ImageJudged(ClaimRefused):
    """A canary claim refused because the image has a verdict: another run's canary (or another
    member's, in an organization) proved or condemned it after this run planned (the claim then ended,
    so the claim alone would have been granted)."""

    def __init__(self, image: str, record: dict[str, Any], *, condemned: bool, evidence: str = "") -> None:
        self.reason = Reason.CANARY_FAILED if condemned else Reason.PROVEN_SINCE_PLANNED
        verdict = "condemned" if condemned else "proven"
        own = (
            f"image {image} was {verdict} by run {record.get('run_id', '?')}'s canary on group "
            f"{record.get('proven_by') or record.get('canary', '?')} "
            f"({record.get('proven_at') or record.get('failed_at', '?')}) after this run planned"
        )
        # Another member's verdict, as policy.rings.judge words it (account, region, group).
        Exception.__init__(
            self, f"image {image} was judged after this run planned: {evidence}" if evidence else own
        )
        self.holder = record


@dataclass(frozen=True)
class ContainerInstance:
    arn: str
    status: str  # ACTIVE | DRAINING | ...
    running_tasks: int
    pending_tasks: int
    agent_connected: bool = True


# A group as DescribeAutoScalingGroups returns it: only the fleet adapter looks inside.
RawGroup = dict[str, Any]
