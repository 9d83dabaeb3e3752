"""What every part of one group's recycle shares: the job, the runtime port, the AWS services, and the
state of the victim being recycled now; plus the acts and waits both modes use (terminate the victim,
wait for the group to be healthy, conclude)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from recycler.domain import AWS_ERRORS
from recycler.messages import aws_error_text
from recycler.models import Settings
from recycler.report import GroupReport, Outcome
from recycler.workflow.budget import execution_budget_seconds
from recycler.workflow.failures import RunFailures
from recycler.workflow.health import HealthCheck
from recycler.workflow.port import Port, Services
from recycler.workflow.reports import group_report, recycle_outcome
from recycler.workflow.state import Acted, HealthState, Job, RunContext, Victim

logger = logging.getLogger(__name__)


@dataclass
class GroupContext:
    """One group's recycle in one run. The victim fields change when a freshness target recycles the
    next due instance; everything else is fixed for the run."""

    port: Port
    services: Services
    settings: Settings
    job: Job
    run: RunContext
    failures: RunFailures
    canary: bool = False
    victim: Victim = field(init=False)
    step_prefix: str = ""  # "2:" for the second victim of a freshness target, and so on
    health: HealthState = field(default_factory=HealthState)
    acted: str = ""  # what this recycle already did to the group, for an internal-error report
    grace_seconds: int = 0
    # The earlier victims of this group's sequence, terminated by this run (from the checkpointed plan:
    # a victim is only reached when every one before it was recycled), so a replay excuses the same.
    own_victims: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        self.victim = self.job.victim

    @property
    def group(self) -> str:
        return self.job.group

    @property
    def health_timeout(self) -> int:
        """The drill's timeout, else the plan's (grace period, launch hooks, tag)."""
        return self.run.health_timeout_override or self.job.health_timeout_seconds

    def hook_limit(self, acted_at: str) -> int:
        """How long a launch hook whose owner records heartbeats may hold the replacement: up to the
        hook's global timeout (the plan's launch_hook_limit_seconds), never past the execution's time
        budget (budget.TIME_MARGIN of its timeout), counted from the act (both checkpointed) when the run
        has a deadline, and never below the health timeout; a drill's timeout is not extended."""
        if self.run.health_timeout_override:
            return 0
        limit = min(
            self.job.host.launch_hook_limit_seconds,
            int(execution_budget_seconds(self.settings.execution_timeout_hours)),
        )
        if self.run.deadline is not None:
            left = datetime.fromisoformat(self.run.deadline) - datetime.fromisoformat(acted_at)
            limit = min(limit, max(int(left.total_seconds()), self.health_timeout))
        return limit

    def next_victim(self, victim: Victim, index: int) -> None:
        self.victim, self.step_prefix = victim, f"{index}:"
        self.own_victims = frozenset(v.instance_id for v in self.job.victims[: index - 1])
        self.health, self.acted = HealthState(), ""

    def name(self, what: str) -> str:
        return f"{self.group}:{self.step_prefix}{what}"

    def report(self, outcome: Outcome, reason: str, detail: str = "", **extra: object) -> GroupReport:
        return group_report(
            self.job,
            self.victim,
            outcome,
            reason,
            detail,
            canary=self.canary,
            health_timeout_seconds=self.health_timeout,
            **extra,
        )

    def terminate_victim(self, *, decrement: bool) -> Acted:
        try:
            activity = self.services.fleet.terminate(self.victim.instance_id, decrement=decrement)
        except AWS_ERRORS as error:
            return Acted(ok=False, error=aws_error_text(error))
        logger.info(
            "terminated",
            extra={"group": self.group, "instance_id": self.victim.instance_id, "activity": activity},
        )
        return Acted(ok=True, at=self.services.clock().isoformat())

    def wait_healthy(
        self, before: frozenset[str], desired: int, acted_at: str, surge_from: int | None = None
    ) -> HealthState:
        poll_seconds = self.run.poll_seconds
        checker = HealthCheck(
            self.services,
            self.group,
            before,
            desired,
            acted_at,
            poll_seconds,
            self.health_timeout,
            surge_from,
            grace_seconds=self.grace_seconds,
            launch_hooks=self.job.host.launch_hooks,
            ecs_cluster=self.job.host.cluster if self.job.host.kind == "ecs" else "",
            hook_limit=self.hook_limit(acted_at),
        )
        self.health = self.port.wait_until(self.name("health"), checker.poll, HealthState(), poll_seconds)
        return self.health

    def conclude(self, health: HealthState, also: str = "") -> GroupReport:
        """The report for a finished wait; `also` adds what was done afterwards (a surge rollback)."""
        return recycle_outcome(self.report, self.job, self.victim, health, also)
