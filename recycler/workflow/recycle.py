"""One group's recycle: preflight, claim, terminate (once), wait for health, conclude, report.

Runs as one branch of the run's fan-out. Every AWS read or write is its own checkpointed step, so a
replay repeats none of them; code between steps only transforms their typed results.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from datetime import timedelta

from recycler import policy
from recycler.alerts import failure_message
from recycler.fleet import group_snapshot
from recycler.ledger import ClaimRefused
from recycler.models import GroupReport, Outcome, ReplacementReport, Settings, VictimReport
from recycler.policy import Mode, Reason
from recycler.workflow.drain import drain_victim, undo_drain
from recycler.workflow.failures import RunFailures
from recycler.workflow.health import HealthCheck
from recycler.workflow.planning import run_level_guard
from recycler.workflow.port import AWS_ERRORS, Port, Services, aws_error_text
from recycler.workflow.sequence import group_of_recycles
from recycler.workflow.state import (
    Acted,
    Claim,
    Done,
    GroupRead,
    HealthState,
    Preflight,
    Published,
    RecycleItem,
)
from recycler.workflow.surge import surge

logger = logging.getLogger(__name__)


def publish(services: Services, subject: str, body: str) -> Published:
    """Publish an alert; a delivery failure is a result to report, not an exception."""
    assert services.alerts is not None
    try:
        message_id = services.alerts.publish(subject, body)
    except AWS_ERRORS as error:
        logger.error("alert not delivered", extra={"subject": subject, "error": str(error)})
        return Published(ok=False, error=str(error))
    return Published(ok=True, message_id=message_id)


class Recycle:
    """Recycle one group and report it; a failure is reported (and alerted), never raised."""

    def __init__(
        self, port: Port, services: Services, settings: Settings, item: RecycleItem, failures: RunFailures
    ) -> None:
        self.port = port
        self.failures = failures
        self.services = services
        self.settings = settings
        self.job = item.job
        self.run_context = item.run
        self.group = item.job.group
        self.mode = item.job.mode
        self.victim = item.job.victim
        self.canary = item.canary
        self.health = HealthState()
        self.acted = ""  # what this recycle already did to the group, for an internal-error report
        self.claimed = False  # the ledger records an outcome only for a claim this run holds
        self.step_prefix = ""  # "2:" for the second victim of a freshness target, and so on
        self.grace_seconds = 0
        self.drained = ""  # the victim's ECS container instance, once this recycle set it DRAINING

    @property
    def health_timeout(self) -> int:
        """The drill's timeout, else the plan's (grace period, launch hooks, tag)."""
        return self.run_context.health_timeout_override or self.job.health_timeout_seconds

    def name(self, what: str) -> str:
        return f"{self.group}:{self.step_prefix}{what}"

    def report(self, outcome: Outcome, reason: str, detail: str = "", **extra: object) -> GroupReport:
        return GroupReport.model_validate(
            {
                "group": self.group,
                "outcome": outcome,
                "reason": reason,
                "detail": detail,
                "mode": self.mode,
                "victim": VictimReport(**asdict(self.victim)),
                "oldest_instance_age_days": self.job.oldest_instance_age_days,
                "current_image_id": self.job.current_image_id,
                "canary": self.canary,
                "behind_by": self.job.behind_by,
                "health_timeout_seconds": self.health_timeout,
                "container_host": self.job.host.describe(),
                "standby_instances": self.job.host.standby,
                "warm_pool": self.job.host.warm_pool,
                **extra,
            }
        )

    def run(self) -> GroupReport:
        try:
            report = self._recycle_victims()
        except Exception as error:
            # A bug or a response shape we did not expect fails this group, never the whole run.
            if self.port.is_fatal(error):
                raise
            report = self._internal_error(error)
        if report.outcome == "failed" and self.services.alerts:
            context = {"checks": self.health.checks, "last_activity": self.health.last_activity}
            subject, body = failure_message(report, self.run_context.run_id, self.services.region, context)
            published = self.port.step(
                self.name("alert"), lambda: publish(self.services, subject, body), Published
            )
            report.alert_published = published.ok
        failed = report.outcome == "failed"
        if self.services.ledger and (failed or (report.outcome == "recycled" and self.claimed)):
            self.port.step(self.name("ledger"), lambda: self._finish_ledger(report), Done)
        elif failed:
            self.failures.record(self.group)  # no ledger: nothing to checkpoint, counted in memory
        return report

    def _internal_error(self, error: Exception) -> GroupReport:
        logger.exception("internal error", extra={"group": self.group, "acted": self.acted})
        # The durable runtime wraps what a step raised and names the original type in error_type.
        kind = str(getattr(error, "error_type", None) or type(error).__name__).rsplit(".", 1)[-1]
        detail = f"{kind}: {str(error)[:200]}"
        if self.acted:
            state = self.port.step(self.name("group-after-error"), self._group_health, GroupRead)
            detail += f"; {self.acted} before the error; the group now: {state.detail}"
        else:
            detail += "; nothing was terminated"
        return self.report("failed", "internal-error", detail)

    def _group_health(self) -> GroupRead:
        """One read of the group's health after an internal error, for the report and the alert."""
        try:
            raw = self.services.fleet.describe_group(self.group)
        except Exception as error:  # the read that failed may be the one that raised the error
            return GroupRead(f"unreadable ({type(error).__name__}: {error})")
        if raw is None:
            return GroupRead("deleted")
        snapshot = group_snapshot(raw)
        healthy = sum(1 for i in snapshot.instances if i.in_service_and_healthy)
        return GroupRead(f"{healthy}/{snapshot.desired_capacity} InService+Healthy")

    def _recycle_victims(self) -> GroupReport:
        """Each victim strictly after the previous replacement passed every check; every one
        re-runs preflight (a brake pulled mid-group stops it); the first failure ends the group."""
        done = [self._recycle()]
        for index, victim in enumerate(self.job.more_victims, start=2):
            if done[-1].outcome != "recycled":
                break
            self.victim, self.step_prefix = victim, f"{index}:"
            self.health, self.acted, self.drained = HealthState(), "", ""
            done.append(self._recycle())
        return done[0] if len(self.job.victims) == 1 else group_of_recycles(self.job, done)

    def _recycle(self) -> GroupReport:
        preflight = self.port.step(self.name("preflight"), self._preflight, Preflight)
        if not preflight.ok:
            return self.report(
                "failed" if preflight.failed else "skipped", preflight.reason, preflight.detail
            )
        if not self.claimed:  # one claim per group and run covers all of its recycles
            claim = self.port.step(self.name("claim"), self._claim, Claim)
            if not claim.ok:
                return self.report("failed" if claim.failed else "skipped", claim.reason, claim.detail)
            self.claimed = True

        before = frozenset(preflight.instances)
        self.grace_seconds = preflight.grace_seconds
        if self.mode is Mode.SURGE:
            return surge(self, before, preflight.desired)
        refused = drain_victim(self)  # ECS hosts: no task-bearing instance is terminated undrained
        if refused is not None:
            return refused
        acted = self.port.step(
            self.name("terminate"), lambda: self.terminate_victim(decrement=False), Acted, at_most_once=True
        )
        if not acted.ok:
            detail = "; ".join(part for part in (acted.error, undo_drain(self)) if part)
            return self.report("failed", "terminate-failed", detail)
        self.acted = f"victim {self.victim.instance_id} was terminated"
        return self.conclude(self.wait_healthy(before, preflight.desired, acted.at))

    def _preflight(self) -> Preflight:
        """Re-read the group and run-level guards right before acting: the plan may be minutes old."""
        services, settings = self.services, self.settings
        try:
            failed = self.failures.count()
        except AWS_ERRORS as error:
            return Preflight(
                ok=False,
                failed=True,
                reason="ledger-unavailable",
                detail=f"could not read this run's failures, nothing terminated: {aws_error_text(error)}",
            )
        try:
            if failed >= settings.failures_before_stop:
                return Preflight(
                    ok=False,
                    reason=Reason.STOPPED_AFTER_FAILURES.value,
                    detail=f"{failed} group(s) failed in this run; limit {settings.failures_before_stop}",
                )
            pulled = self._brake_pulled()
            if pulled is not None:
                return pulled
            raw = services.fleet.describe_group(self.group)
            if raw is None:
                return Preflight(
                    ok=False, reason=Reason.NOT_FOUND.value, detail="group was deleted after planning"
                )
            snapshot = group_snapshot(raw)
            rules = settings.policy()
            if policy.opt_in_state(snapshot, rules) is not None:
                return Preflight(
                    ok=False, reason=Reason.OPTED_OUT.value, detail="opt-in tag removed after planning"
                )
            problem = policy.check_group(snapshot, rules)
            if problem is not None:
                return Preflight(ok=False, reason=problem[0].value, detail=problem[1])
            victim_id = self.victim.instance_id
            victim = next((i for i in snapshot.instances if i.instance_id == victim_id), None)
            if victim is None or not victim.in_service_and_healthy:
                state = f"{victim.lifecycle_state}/{victim.health_status}" if victim else "not in the group"
                return Preflight(
                    ok=False, reason=Reason.NO_CANDIDATE.value, detail=f"victim {victim_id} is {state}"
                )
            activity = services.fleet.activity_in_progress(self.group)
            if activity:
                return Preflight(ok=False, reason=Reason.ACTIVITY_IN_PROGRESS.value, detail=activity)
        except AWS_ERRORS as error:
            return Preflight(ok=False, reason="preflight-error", detail=aws_error_text(error))
        return Preflight(
            ok=True,
            instances=tuple(i.instance_id for i in snapshot.instances),
            desired=snapshot.desired_capacity,
            grace_seconds=snapshot.health_check_grace_period,
        )

    def brakes(self) -> Preflight:
        """The run-level brakes alone (kill switch, stop alarms, blackout), for a check after a long drain;
        a read that fails counts as a brake (when in doubt, do not terminate)."""
        try:
            return self._brake_pulled() or Preflight(ok=True)
        except AWS_ERRORS as error:
            return Preflight(ok=False, failed=True, reason="preflight-error", detail=aws_error_text(error))

    def _brake_pulled(self) -> Preflight | None:
        """Kill switch, stop alarms, blackout: the refusal when one is on, else None (may raise)."""
        stop = run_level_guard(self.services, self.settings, self.services.clock())
        return None if stop is None else Preflight(ok=False, reason=stop[0].value, detail=stop[1])

    def _claim(self) -> Claim:
        ledger = self.services.ledger
        if ledger is None:
            logger.warning(
                "no ledger configured: at-most-once per interval is not enforced", extra={"group": self.group}
            )
            return Claim(ok=True)
        try:
            ledger.claim(
                self.group,
                self.run_context.run_id,
                self.victim.instance_id,
                self.services.clock(),
                timedelta(hours=self.settings.min_interval_hours),
                force=self.run_context.force,
            )
        except ClaimRefused as refused:
            return Claim(ok=False, reason=Reason.RECENTLY_RECYCLED.value, detail=str(refused))
        except AWS_ERRORS as error:
            return Claim(
                ok=False,
                failed=True,
                reason="ledger-unavailable",
                detail=f"could not claim the group, nothing terminated: {aws_error_text(error)}",
            )
        return Claim(ok=True)

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
        poll_seconds = self.run_context.poll_seconds
        timeout = self.health_timeout
        checker = HealthCheck(
            self.services,
            self.group,
            before,
            desired,
            acted_at,
            poll_seconds,
            timeout,
            surge_from,
            grace_seconds=self.grace_seconds,
            launch_hooks=self.job.host.launch_hooks,
            ecs_cluster=self.job.host.cluster if self.job.host.kind == "ecs" else "",
        )
        self.health = self.port.wait_until(self.name("health"), checker.poll, HealthState(), poll_seconds)
        return self.health

    def conclude(self, health: HealthState, also: str = "") -> GroupReport:
        """The report for a finished wait; `also` adds what was done afterwards (a surge rollback)."""
        if health.status != "healthy":
            return self.report(
                "failed",
                health.reason,
                "; ".join(part for part in (health.detail, health.scaling, also) if part),
                replacement=ReplacementReport(
                    instance_id=health.replacement, image_id=health.replacement_image, ami_refreshed=None
                ),
                waited_seconds=health.elapsed,
            )
        image = health.replacement_image
        refreshed = None if image is None or self.victim.image_id is None else image != self.victim.image_id
        detail = self.job.detail
        if health.replacement_scaled_in:
            detail = health.detail
        if refreshed is False:
            detail = (
                f"replacement runs the same AMI {image} as the victim: the launch template pins an old AMI"
            )
            if health.from_warm_pool or self.job.host.warm_pool:
                where = "came from" if health.from_warm_pool else "may have come from"
                detail = (
                    f"replacement runs the same AMI {image} as the victim: it {where} the group's warm pool, "
                    "whose instances keep the image they were launched with; refresh the pool (an instance "
                    "refresh, or delete and re-create the warm pool) so replacements boot the current AMI"
                )
            logger.warning("stale AMI", extra={"group": self.group, "image_id": image})
        detail = "; ".join(part for part in (detail, health.scaling) if part)
        return self.report(
            "recycled",
            "oldest-instance",
            detail,
            replacement=ReplacementReport(
                instance_id=health.replacement, image_id=image, ami_refreshed=refreshed
            ),
            waited_seconds=health.elapsed,
        )

    def _finish_ledger(self, report: GroupReport) -> Done:
        ledger = self.services.ledger
        assert ledger is not None
        try:
            if report.outcome == "failed":
                # First: the groups starting next read it to decide whether to start at all.
                self.failures.record(self.group)
            if self.claimed:
                ledger.finish(
                    self.group,
                    self.run_context.run_id,
                    self.services.clock(),
                    report.outcome,
                    {
                        "victim": report.victim.instance_id if report.victim else None,
                        "replacement": report.replacement.instance_id if report.replacement else None,
                        "reason": report.reason,
                    },
                )
            image = report.replacement.image_id if report.replacement else None
            if report.outcome == "recycled" and image:
                ledger.record_proven(image, self.group, self.run_context.run_id, self.services.clock())
        except AWS_ERRORS as error:
            logger.error("ledger update failed", extra={"group": self.group, "error": aws_error_text(error)})
            return Done(ok=False)
        return Done(ok=True)
