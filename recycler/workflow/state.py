"""What the workflow checkpoints: one frozen type per step result, and one codec for all of them.

A durable replay hands back what a step returned on an earlier invocation, decoded from JSON. Typing
every result (instead of `dict[str, Any]`) lets mypy find a misspelt field before a replay in production
does; codec.py is the only place that turns them into JSON and back.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, field

from recycler.domain import ContainerHost, Mode

# A skip's detail carries its fix (a how-to command, say); a very large plan drops details altogether.
DETAIL_LIMIT = 320


# ---- the run ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Started:
    run_id: str
    started_at: str
    seed: int


@dataclass(frozen=True)
class Victim:
    instance_id: str
    launch_time: str | None
    image_id: str | None
    age_days: float | None


@dataclass(frozen=True)
class Host:
    """What runs on a planned group's instances and how the recycle treats it (policy.ContainerHost)."""

    kind: str = ""  # "" | "ecs" | "kubernetes"
    cluster: str = ""
    recycler_drains: bool = False
    drain_timeout_seconds: int = 0
    launch_hooks: tuple[str, ...] = ()  # launch lifecycle hooks, longest heartbeat first
    standby: int = 0
    warm_pool: bool = False
    launch_hook_limit_seconds: int = 0  # how long a heartbeating launch hook may hold the replacement

    def describe(self) -> str | None:
        if not self.kind:
            return None
        return ContainerHost(self.kind, self.cluster, self.recycler_drains).describe()


@dataclass(frozen=True)
class Job:
    """One planned recycle, as the plan step checkpoints it."""

    group: str
    mode: Mode
    detail: str
    health_timeout_seconds: int
    oldest_instance_age_days: float | None
    current_image_id: str | None
    victim: Victim
    desired: int = 0
    # With a freshness target: the victims after the first, recycled one after another, and the due
    # instances the per-run cap leaves for later runs.
    more_victims: tuple[Victim, ...] = ()
    behind_by: int = 0
    host: Host = field(default_factory=Host)
    bake_seconds: int = 0  # as a canary: the group's own bake (its bake-minutes tag, else the setting)

    @property
    def victims(self) -> tuple[Victim, ...]:
        return (self.victim, *self.more_victims)


# Rows keep a plan of a few thousand groups inside one checkpoint: field names are stored once, here.
SkipRow = tuple[str, str, str, str, float | None, str | None]
VictimRow = tuple[str, str | None, str | None, float | None]
HostRow = tuple[str, str, bool, int, tuple[str, ...], int, bool, int]
JobRow = tuple[
    str,
    str,
    str,
    int,
    float | None,
    str | None,
    str,
    str | None,
    str | None,
    float | None,
    int,
    tuple[VictimRow, ...],
    int,
    HostRow,
    int,
]


def job_row(job: Job) -> JobRow:
    v = job.victim
    return (
        job.group,
        job.mode.value,
        job.detail,
        job.health_timeout_seconds,
        job.oldest_instance_age_days,
        job.current_image_id,
        v.instance_id,
        v.launch_time,
        v.image_id,
        v.age_days,
        job.desired,
        tuple((m.instance_id, m.launch_time, m.image_id, m.age_days) for m in job.more_victims),
        job.behind_by,
        astuple(job.host),  # HostRow: Host's fields in order
        job.bake_seconds,
    )


def job_from_row(row: JobRow) -> Job:
    (
        group,
        mode,
        detail,
        timeout,
        oldest,
        image,
        instance_id,
        launch_time,
        victim_image,
        age,
        desired,
        more,
        behind,
        host,
        bake,
    ) = row
    return Job(
        group=group,
        mode=Mode(mode),
        detail=detail,
        health_timeout_seconds=timeout,
        oldest_instance_age_days=oldest,
        current_image_id=image,
        victim=Victim(instance_id, launch_time, victim_image, age),
        desired=desired,
        more_victims=tuple(Victim(*m) for m in more),
        behind_by=behind,
        host=Host(*host),
        bake_seconds=bake,
    )


GroupImageRow = tuple[float | None, float | None, int, str | None]
# A freshness target's outlook (policy.freshness.Outlook's fields in order, the date as ISO-8601).
FreshnessRow = tuple[float, int, int, int | None, int | None, str, float, str | None, float | None, str]


@dataclass(frozen=True)
class PlanRows:
    """The plan step's result: every skip and every job, as compact rows."""

    skips: tuple[SkipRow, ...]
    jobs: tuple[JobRow, ...]
    # Images a healthy recycle already proved (ledger): their jobs need no canary.
    proven_images: tuple[str, ...] = ()
    # Images whose canary failed in an earlier run (ledger), with what failed: their jobs are held back.
    condemned_images: dict[str, str] = field(default_factory=dict)
    # AMI truth: days since each image referenced was built, and per decided group
    # (oldest image age, current image age, drifted instances, why the current image is unknown).
    image_ages: dict[str, float] = field(default_factory=dict)
    group_images: dict[str, GroupImageRow] = field(default_factory=dict)
    # A very large fleet: skips that did not fit one checkpoint, counted by reason (each one was logged
    # as a "group result" line by the plan step), and the oldest ages among them for the fleet metrics.
    skipped_counts: dict[str, int] = field(default_factory=dict)
    skipped_oldest_instance_age_days: float | None = None
    skipped_oldest_image_age_days: float | None = None
    fleet_instance_age_percentiles: tuple[float | None, float | None] = (None, None)  # p50, p95, all groups
    # Skipped groups with instances in Standby or a warm pool: (standby count, has a warm pool).
    host_facts: dict[str, tuple[int, bool]] = field(default_factory=dict)
    freshness: dict[str, FreshnessRow] = field(default_factory=dict)  # groups with a target (packing.py)
    # The organization's verdicts (workflow/org_verdicts.py): why unreadable, images another member proved broken.
    org_verdicts_unreadable: str = ""
    org_broken_images: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunContext:
    """What every recycle in a run shares, from the payload and settings."""

    run_id: str
    force: bool
    poll_seconds: int
    health_timeout_override: int | None = None
    deadline: str | None = None  # a durable execution's: no recycle starts that could end after it
    retry_judged: bool = False  # a drill with "canary": true: its canaries try an image whatever its verdict


@dataclass(frozen=True)
class RecycleItem:
    """One branch of the fan-out: the job and the run it belongs to."""

    job: Job
    run: RunContext
    canary: bool = False  # the first recycle onto an image no recycle has proven yet


@dataclass(frozen=True)
class Published:
    ok: bool
    message_id: str = ""
    error: str = ""


# ---- one group's recycle -------------------------------------------------------------------------


@dataclass(frozen=True)
class Preflight:
    """The group re-read right before acting; `reason` set means do not act (`failed`: loudly)."""

    ok: bool
    failed: bool = False
    reason: str = ""
    detail: str = ""
    instances: tuple[str, ...] = ()
    desired: int = 0
    grace_seconds: int = 0  # the group's health check grace period: the first health poll waits it out


@dataclass(frozen=True)
class Claim:
    ok: bool
    failed: bool = False
    reason: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Acted:
    """A terminate or capacity change: when it happened, or the AWS error that stopped it."""

    ok: bool
    at: str = ""
    error: str = ""


@dataclass(frozen=True)
class Done:
    ok: bool


@dataclass(frozen=True)
class GroupRead:
    """The group's health in words, read once after an internal error."""

    detail: str


@dataclass(frozen=True)
class RolledBack:
    """A failed surge undone (or not): what was done to the group, in words for the report."""

    ok: bool
    detail: str


@dataclass(frozen=True)
class Drained:
    """An ECS container instance set to DRAINING (or why not): the drain wait and the undo need its ARN."""

    ok: bool
    container_instance: str = ""
    reason: str = ""
    detail: str = ""
    at: str = ""  # when it was set to DRAINING: the drain timeout counts from here, on every replay


@dataclass(frozen=True)
class DrainState:
    """The drain wait's polled state: done when the container instance runs no tasks, or timed out."""

    done: bool = False
    status: str = "draining"  # draining | drained | timed-out | gone
    attempt: int = 0
    elapsed: float = 0.0
    running_tasks: int | None = None
    detail: str = ""
    next_poll_seconds: int = 0


@dataclass(frozen=True)
class HealthState:
    """The health wait's polled state (design.md §6); `done` ends the wait."""

    done: bool = False
    status: str = "waiting"  # waiting | healthy | failed
    attempt: int = 0
    elapsed: float = 0.0
    reason: str = ""
    detail: str = ""
    replacement: str | None = None
    code: str = ""  # a failure's Reason code (reason is its wording, which may carry numbers)
    replacement_image: str | None = None
    checks: dict[str, str] = field(default_factory=dict)
    last_activity: str | None = None
    # Every instance that joined the group since the terminate (or surge), in any lifecycle state:
    # a failed surge removes exactly its own instance, even one still Pending.
    new_instances: tuple[str, ...] = ()
    desired: int = 0
    scaling: str = ""  # what else changed the group while we waited, in plain words
    next_poll_seconds: int = 0  # when to poll next (0: the port's poll_seconds)
    replacement_scaled_in: bool = False
    from_warm_pool: bool = False  # the replacement was taken from the group's warm pool
    capacity: str = ""  # the last launch that failed for capacity, while no replacement launched
    hook_held: float = 0.0  # the last poll (seconds) that found the replacement in Pending:Wait
