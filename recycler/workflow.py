"""One recycle run, written against a tiny durable port so the Lambda, the CLI and the tests share it.

Every read or write of AWS happens inside `port.step` (checkpointed by the durable adapter), so code
between steps only transforms checkpointed data and is safe to replay. A step's result is a JSON-able
dict for the same reason.
"""

from __future__ import annotations

import json
import logging
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from recycler import policy
from recycler.alerts import Alerts, failure_message, summary_message
from recycler.fleet import Fleet, group_snapshot
from recycler.ledger import ClaimRefused, Ledger
from recycler.models import (
    GroupReport,
    ManualPayload,
    Outcome,
    ReplacementReport,
    RunReport,
    Settings,
    VictimReport,
)
from recycler.policy import Decision, InstanceSnapshot, Mode, Reason

if TYPE_CHECKING:
    import boto3

logger = logging.getLogger(__name__)

T = TypeVar("T")
State = dict[str, Any]
AWS_ERRORS = (ClientError, BotoCoreError)


class Port(Protocol):
    """What the workflow needs from its runtime: checkpointed steps, durable polling, bounded fan-out."""

    def step(self, name: str, fn: Callable[[], T], *, at_most_once: bool = False) -> T: ...

    def wait_until(
        self, name: str, poll: Callable[[State], State], initial: State, poll_seconds: int
    ) -> State:
        """Call poll(state) until the returned state has done=True, pausing poll_seconds between calls."""
        ...

    def map(
        self, name: str, items: Sequence[State], fn: Callable[[Port, State], State], max_concurrency: int
    ) -> list[State]: ...


@dataclass
class Services:
    """The AWS adapters a run uses; ledger and alerts are optional for local runs."""

    fleet: Fleet
    ledger: Ledger | None = None
    alerts: Alerts | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    region: str = "us-east-1"

    @classmethod
    def from_settings(
        cls, settings: Settings, session: boto3.Session | None = None, region: str = "us-east-1"
    ) -> Services:
        """The adapters the settings ask for: the ledger and alerts only where they are configured."""
        return cls(
            fleet=Fleet(session),
            ledger=Ledger(settings.ledger_table, settings.ledger_ttl_days, session)
            if settings.ledger_table
            else None,
            alerts=Alerts(settings.topic_arn, session) if settings.topic_arn else None,
            region=region,
        )


# ---- plan -------------------------------------------------------------------------------------


def plan(
    services: Services, settings: Settings, payload: ManualPayload, now: datetime, rng: random.Random
) -> list[Decision]:
    """Decide per group: recycle <victim> or skip <reason>. Reads only; terminates nothing."""
    rules = settings.policy()
    opt_in_key = policy.tag_key(rules, "enabled")
    fleet = services.fleet
    raw = fleet.list_groups(opt_in_key, payload.groups)
    snapshots = fleet.snapshots(
        raw,
        opted_in={s.name for s in map(group_snapshot, raw) if policy.opt_in_state(s, rules) is None},
    )
    decisions = [policy.decide(s, rules, now, rng, force=payload.force) for s in snapshots]
    found = {s.name for s in snapshots}
    decisions += [
        Decision(
            group=name,
            recycle=False,
            reason=Reason.NOT_FOUND.value,
            detail="no Auto Scaling group with this name",
        )
        for name in payload.groups or []
        if name not in found
    ]

    recyclable = [d.group for d in decisions if d.recycle]
    if services.ledger and recyclable:
        claims = services.ledger.last_claims(recyclable)
        interval = timedelta(hours=settings.min_interval_hours)
        decisions = [
            policy.apply_history(d, claims.get(d.group), now, interval, force=payload.force)
            for d in decisions
        ]
    decisions = policy.limit_run(decisions, payload.max_groups or settings.max_groups_per_run)

    stop = run_level_guard(services, settings, now)
    if stop is not None:
        reason, detail = stop
        decisions = [d.skipped(reason, detail) if d.recycle else d for d in decisions]
    return decisions


def run_level_guard(services: Services, settings: Settings, now: datetime) -> tuple[Reason, str] | None:
    kill_switch = None
    if settings.kill_switch_parameter:
        kill_switch = policy.kill_switch_state(
            services.fleet.parameter(settings.kill_switch_parameter), settings.kill_switch_parameter
        )
    firing = services.fleet.firing_alarms(settings.stop_alarm_names) if settings.stop_alarm_names else []
    return policy.run_guard(
        now,
        kill_switch=kill_switch,
        firing_alarms=firing,
        blackout_windows=settings.windows(),
        blackout_weekdays=settings.blackout_weekdays,
    )


def decision_to_job(decision: Decision, now: datetime) -> State:
    victim = decision.victim
    assert victim is not None
    return {
        "group": decision.group,
        "mode": decision.mode.value,
        "victim": _instance_dict(victim, now),
        "detail": decision.detail[:DETAIL_LIMIT],
        "health_timeout_seconds": decision.health_timeout_seconds,
        "oldest_instance_age_days": decision.oldest_age_days,
        "current_image_id": decision.current_image_id,
    }


def _instance_dict(instance: InstanceSnapshot, now: datetime) -> State:
    age = policy.age_days(instance, now)
    return {
        "instance_id": instance.instance_id,
        "launch_time": instance.launch_time.isoformat() if instance.launch_time else None,
        "image_id": instance.image_id,
        "age_days": round(age, 3) if age is not None else None,
    }


# A durable step result (and the execution's result) must fit one checkpoint (256 KB); a skip is
# stored as a short row, not a report, so a plan of a few thousand groups still fits.
CHECKPOINT_BUDGET_BYTES = 240 * 1024


def checkpoint_size(value: Any) -> int:
    """Bytes `value` takes as a checkpoint (compact JSON)."""
    return len(json.dumps(value, separators=(",", ":")))


SKIP_FIELDS = ("group", "reason", "detail", "mode", "oldest_instance_age_days", "current_image_id")
DETAIL_LIMIT = 160


def pack_skip(decision: Decision) -> list[Any]:
    return [
        decision.group,
        decision.reason,
        decision.detail[:DETAIL_LIMIT],
        decision.mode.value,
        decision.oldest_age_days,
        decision.current_image_id,
    ]


def unpack_skip(row: list[Any]) -> GroupReport:
    return GroupReport(outcome="skipped", **dict(zip(SKIP_FIELDS, row, strict=True)))


JOB_FIELDS = (
    "group",
    "mode",
    "detail",
    "health_timeout_seconds",
    "oldest_instance_age_days",
    "current_image_id",
)
VICTIM_FIELDS = ("instance_id", "launch_time", "image_id", "age_days")


def pack_job(job: State) -> list[Any]:
    return [job[k] for k in JOB_FIELDS] + [job["victim"][k] for k in VICTIM_FIELDS]


def unpack_job(row: list[Any]) -> State:
    job = dict(zip(JOB_FIELDS, row[: len(JOB_FIELDS)], strict=True))
    job["victim"] = dict(zip(VICTIM_FIELDS, row[len(JOB_FIELDS) :], strict=True))
    return job


class PlanTooLarge(RuntimeError):
    """The plan cannot be checkpointed; raised before anything is terminated."""


def pack_plan(decisions: Sequence[Decision], now: datetime) -> State:
    """The plan step's checkpointed result, kept within one durable checkpoint."""
    packed: State = {
        "skips": [pack_skip(d) for d in decisions if not d.recycle],
        "jobs": [pack_job(decision_to_job(d, now)) for d in decisions if d.recycle],
    }
    size = checkpoint_size(packed)
    if size > CHECKPOINT_BUDGET_BYTES:
        # Large fleets: keep every reason code and victim, drop the free-text details.
        for row in packed["skips"]:
            row[SKIP_FIELDS.index("detail")] = ""
        for row in packed["jobs"]:
            row[JOB_FIELDS.index("detail")] = ""
        size = checkpoint_size(packed)
    if size > CHECKPOINT_BUDGET_BYTES:
        raise PlanTooLarge(
            f"the plan for {len(decisions)} groups ({size // 1024} KB) exceeds one durable checkpoint; "
            "lower RECYCLER_MAX_GROUPS_PER_RUN or split the fleet across stacks with different tag prefixes"
        )
    return packed


# ---- run --------------------------------------------------------------------------------------


def run(port: Port, services: Services, settings: Settings, payload: ManualPayload) -> RunReport:
    dry_run = settings.dry_run if payload.dry_run is None else payload.dry_run

    def start() -> State:
        seed = payload.seed if payload.seed is not None else random.SystemRandom().randrange(2**32)
        started = {"run_id": str(uuid.uuid4()), "started_at": services.clock().isoformat(), "seed": seed}
        # Logged inside the step so a durable replay does not log the start again.
        logger.info("run started", extra={**started, "dry_run": dry_run, "payload": payload.model_dump()})
        return started

    started = port.step("start", start)

    def planning() -> State:
        now = datetime.fromisoformat(started["started_at"])
        decisions = plan(services, settings, payload, now, random.Random(started["seed"]))
        return pack_plan(decisions, now)

    planned = port.step("plan", planning)
    reports = [unpack_skip(row) for row in planned["skips"]]
    jobs = [unpack_job(row) for row in planned["jobs"]]

    if dry_run:
        reports += [planned_report(job) for job in jobs]
    else:
        reports += recycle_all(port, services, settings, payload, started["run_id"], jobs)

    reports.sort(key=lambda r: r.group)
    report = RunReport.build(started["run_id"], started["started_at"], dry_run, started["seed"], reports)
    for group in report.groups:
        logger.info("group result", extra={"run_id": report.run_id, **group.model_dump(mode="json")})

    if services.alerts and any(
        g.outcome == "failed" or g.reason == Reason.STOPPED_AFTER_FAILURES for g in reports
    ):
        alerts = services.alerts
        subject, body = summary_message(report)
        outcome = port.step("alert-summary", lambda: _publish(alerts, subject, body))
        if not outcome["ok"]:
            report.alerts_failed.append(f"run summary: {outcome['error']}")
    report.alerts_failed.extend(
        f"{g.group}: alert not delivered"
        for g in reports
        if g.outcome == "failed" and not g.alert_published and services.alerts
    )
    return report


def planned_report(job: State) -> GroupReport:
    return GroupReport(
        group=job["group"],
        outcome="planned",
        reason="oldest-instance",
        detail=job["detail"],
        mode=job["mode"],
        victim=VictimReport(**job["victim"]),
        oldest_instance_age_days=job["oldest_instance_age_days"],
        current_image_id=job["current_image_id"],
    )


def recycle_all(
    port: Port, services: Services, settings: Settings, payload: ManualPayload, run_id: str, jobs: list[State]
) -> list[GroupReport]:
    """Recycle in waves of max_concurrency; once failures reach the limit no further group starts."""
    results: list[GroupReport] = []
    failures = 0
    size = settings.max_concurrency
    for index in range(0, len(jobs), size):
        wave = jobs[index : index + size]
        if failures >= settings.failures_before_stop:
            for job in wave:
                report = planned_report(job)
                report.outcome = "skipped"
                report.reason = Reason.STOPPED_AFTER_FAILURES.value
                report.detail = (
                    f"{failures} group(s) failed in this run; limit {settings.failures_before_stop}"
                )
                results.append(report)
            continue
        context = {
            "run_id": run_id,
            "force": payload.force,
            "poll_seconds": payload.poll_seconds or settings.poll_seconds,
        }
        if payload.health_timeout_seconds:
            context["health_timeout_seconds"] = payload.health_timeout_seconds
        items = [{**job, **context} for job in wave]
        outcomes = port.map(
            f"wave-{index // size}",
            items,
            lambda branch, item: Recycle(branch, services, settings, item).run(),
            size,
        )
        wave_reports = [GroupReport.model_validate(o) for o in outcomes]
        failures += sum(1 for r in wave_reports if r.outcome == "failed")
        results += wave_reports
    return results


def _publish(alerts: Alerts, subject: str, body: str) -> State:
    try:
        message_id = alerts.publish(subject, body)
    except AWS_ERRORS as error:
        logger.error("alert not delivered", extra={"subject": subject, "error": str(error)})
        return {"ok": False, "error": str(error)}
    return {"ok": True, "message_id": message_id}


def _aws_error(error: Exception) -> str:
    if isinstance(error, ClientError):
        info = error.response.get("Error", {})
        return f"{info.get('Code', 'Error')}: {info.get('Message', '')}"
    return f"{type(error).__name__}: {error}"


class Recycle:
    """Recycle one group: preflight, claim, terminate (once), wait for health, verify AMI, report."""

    def __init__(self, port: Port, services: Services, settings: Settings, job: State) -> None:
        self.port = port
        self.services = services
        self.settings = settings
        self.job = job
        self.group: str = job["group"]
        self.mode = Mode(job["mode"])
        self.victim: State = job["victim"]
        self.context: State = {}

    def name(self, what: str) -> str:
        return f"{self.group}:{what}"

    def report(self, outcome: Outcome, reason: str, detail: str = "", **extra: Any) -> GroupReport:
        return GroupReport(
            group=self.group,
            outcome=outcome,
            reason=reason,
            detail=detail,
            mode=self.mode.value,
            victim=VictimReport(**self.victim),
            oldest_instance_age_days=self.job.get("oldest_instance_age_days"),
            current_image_id=self.job.get("current_image_id"),
            **extra,
        )

    def run(self) -> State:
        report = self._recycle()
        if report.outcome == "failed" and self.services.alerts:
            alerts = self.services.alerts
            subject, body = failure_message(report, self.job["run_id"], self.services.region, self.context)
            published = self.port.step(self.name("alert"), lambda: _publish(alerts, subject, body))
            report.alert_published = bool(published["ok"])
        if report.outcome in ("recycled", "failed") and self.services.ledger:
            self._finish_ledger(report)
        return report.model_dump(mode="json")

    def _recycle(self) -> GroupReport:
        preflight = self.port.step(self.name("preflight"), self._preflight)
        if not preflight["ok"]:
            return self.report("skipped", preflight["reason"], preflight["detail"])
        claim = self.port.step(self.name("claim"), self._claim)
        if not claim["ok"]:
            return self.report("failed" if claim["failed"] else "skipped", claim["reason"], claim["detail"])

        before: list[str] = preflight["instances"]
        desired: int = preflight["desired"]
        if self.mode is Mode.SURGE:
            return self._surge(before, desired, preflight)
        acted = self.port.step(
            self.name("terminate"), lambda: self._terminate(decrement=False), at_most_once=True
        )
        if not acted["ok"]:
            return self.report("failed", "terminate-failed", acted["error"])
        health = self._wait_healthy(before, desired, acted["at"])
        return self._conclude(health)

    def _surge(self, before: list[str], desired: int, preflight: State) -> GroupReport:
        def grow() -> State:
            try:
                self.services.fleet.set_desired_capacity(self.group, desired + 1)
            except AWS_ERRORS as error:
                return {"ok": False, "error": _aws_error(error)}
            return {"ok": True, "at": self.services.clock().isoformat()}

        grown = self.port.step(self.name("surge"), grow, at_most_once=True)
        if not grown["ok"]:
            return self.report("failed", "surge-failed", grown["error"])
        health = self._wait_healthy(before, desired + 1, grown["at"])
        if health["status"] != "healthy":
            # Put the group back as it was: remove the unhealthy extra instance and the extra capacity.
            self.port.step(
                self.name("surge-rollback"), lambda: self._rollback_surge(health, desired), at_most_once=True
            )
            return self._conclude(health)
        acted = self.port.step(
            self.name("terminate"), lambda: self._terminate(decrement=True), at_most_once=True
        )
        if not acted["ok"]:
            return self.report("failed", "terminate-failed", f"surge instance kept; {acted['error']}")
        return self._conclude(health)

    def _rollback_surge(self, health: State, desired: int) -> State:
        fleet = self.services.fleet
        try:
            if health.get("replacement"):
                fleet.terminate(health["replacement"], decrement=True)
            else:
                fleet.set_desired_capacity(self.group, desired)
        except AWS_ERRORS as error:
            logger.error("surge rollback failed", extra={"group": self.group, "error": _aws_error(error)})
            return {"ok": False, "error": _aws_error(error)}
        return {"ok": True}

    def _preflight(self) -> State:
        """Re-read the group and run-level guards right before acting: the plan may be minutes old."""
        services, settings = self.services, self.settings
        now = services.clock()
        try:
            stop = run_level_guard(services, settings, now)
            if stop is not None:
                return {"ok": False, "reason": stop[0].value, "detail": stop[1]}
            raw = services.fleet.describe_group(self.group)
            if raw is None:
                return {
                    "ok": False,
                    "reason": Reason.NOT_FOUND.value,
                    "detail": "group was deleted after planning",
                }
            snapshot = group_snapshot(raw)
            rules = settings.policy()
            if policy.opt_in_state(snapshot, rules) is not None:
                return {
                    "ok": False,
                    "reason": Reason.OPTED_OUT.value,
                    "detail": "opt-in tag removed after planning",
                }
            problem = policy.check_group(snapshot, rules)
            if problem is not None:
                return {"ok": False, "reason": problem[0].value, "detail": problem[1]}
            victim = next(
                (i for i in snapshot.instances if i.instance_id == self.victim["instance_id"]), None
            )
            if victim is None or not victim.in_service_and_healthy:
                state = f"{victim.lifecycle_state}/{victim.health_status}" if victim else "not in the group"
                return {
                    "ok": False,
                    "reason": Reason.NO_CANDIDATE.value,
                    "detail": f"victim {self.victim['instance_id']} is {state}",
                }
            activity = services.fleet.activity_in_progress(self.group)
            if activity:
                return {"ok": False, "reason": Reason.ACTIVITY_IN_PROGRESS.value, "detail": activity}
        except AWS_ERRORS as error:
            return {"ok": False, "reason": "preflight-error", "detail": _aws_error(error)}
        return {
            "ok": True,
            "instances": [i.instance_id for i in snapshot.instances],
            "desired": snapshot.desired_capacity,
            "target_groups": list(snapshot.target_group_arns),
            "load_balancers": list(snapshot.load_balancer_names),
        }

    def _claim(self) -> State:
        ledger = self.services.ledger
        if ledger is None:
            logger.warning(
                "no ledger configured: at-most-once per interval is not enforced", extra={"group": self.group}
            )
            return {"ok": True, "ledger": False}
        try:
            ledger.claim(
                self.group,
                self.job["run_id"],
                self.victim["instance_id"],
                self.services.clock(),
                timedelta(hours=self.settings.min_interval_hours),
                force=self.job.get("force", False),
            )
        except ClaimRefused as refused:
            return {
                "ok": False,
                "failed": False,
                "reason": Reason.RECENTLY_RECYCLED.value,
                "detail": str(refused),
            }
        except AWS_ERRORS as error:
            return {
                "ok": False,
                "failed": True,
                "reason": "ledger-unavailable",
                "detail": f"could not claim the group, nothing terminated: {_aws_error(error)}",
            }
        return {"ok": True, "ledger": True}

    def _terminate(self, *, decrement: bool) -> State:
        try:
            activity = self.services.fleet.terminate(self.victim["instance_id"], decrement=decrement)
        except AWS_ERRORS as error:
            return {"ok": False, "error": _aws_error(error)}
        logger.info(
            "terminated",
            extra={"group": self.group, "instance_id": self.victim["instance_id"], "activity": activity},
        )
        return {"ok": True, "at": self.services.clock().isoformat()}

    def _wait_healthy(self, before: list[str], desired: int, acted_at: str) -> State:
        poll_seconds = int(self.job["poll_seconds"])
        timeout = int(self.job.get("health_timeout_seconds") or 900)
        initial: State = {
            "done": False,
            "status": "waiting",
            "attempt": 0,
            "elapsed": 0.0,
            "detail": "",
            "replacement": None,
            "checks": {},
            "last_activity": None,
        }
        checker = HealthCheck(
            self.services, self.group, set(before), desired, acted_at, poll_seconds, timeout
        )
        state = self.port.wait_until(self.name("health"), checker.poll, initial, poll_seconds)
        self.context = {"checks": state.get("checks"), "last_activity": state.get("last_activity")}
        return state

    def _conclude(self, health: State) -> GroupReport:
        replacement_id = health.get("replacement")
        if health["status"] != "healthy":
            return self.report(
                "failed",
                health["reason"],
                health["detail"],
                replacement=ReplacementReport(
                    instance_id=replacement_id, image_id=health.get("replacement_image"), ami_refreshed=None
                ),
                waited_seconds=health["elapsed"],
            )
        image = health.get("replacement_image")
        refreshed = (
            None if image is None or self.victim.get("image_id") is None else image != self.victim["image_id"]
        )
        detail = self.job.get("detail", "")
        if refreshed is False:
            detail = (
                f"replacement runs the same AMI {image} as the victim: the launch template pins an old AMI"
            )
            logger.warning("stale AMI", extra={"group": self.group, "image_id": image})
        return self.report(
            "recycled",
            "oldest-instance",
            detail,
            replacement=ReplacementReport(
                instance_id=replacement_id, image_id=image, ami_refreshed=refreshed
            ),
            waited_seconds=health["elapsed"],
        )

    def _finish_ledger(self, report: GroupReport) -> None:
        ledger = self.services.ledger
        assert ledger is not None

        def finish() -> State:
            try:
                ledger.finish(
                    self.group,
                    self.job["run_id"],
                    self.services.clock(),
                    report.outcome,
                    {
                        "victim": report.victim.instance_id if report.victim else None,
                        "replacement": report.replacement.instance_id if report.replacement else None,
                        "reason": report.reason,
                    },
                )
            except AWS_ERRORS as error:
                logger.error("ledger update failed", extra={"group": self.group, "error": _aws_error(error)})
                return {"ok": False}
            return {"ok": True}

        self.port.step(self.name("ledger"), finish)


# How each source says "healthy": elbv2 targets, classic ELB instances, Auto Scaling instances.
PASSING_STATES = frozenset({"healthy", "InService", "Healthy"})


@dataclass
class HealthCheck:
    """One poll of 'is the group healthy again with a new instance in service?' (design.md §6)."""

    services: Services
    group: str
    before: set[str]
    desired: int
    acted_at: str
    poll_seconds: int
    timeout: int

    def poll(self, state: State) -> State:
        state = {**state, "attempt": state["attempt"] + 1}
        started = datetime.fromisoformat(self.acted_at)
        # Simulated time (skipped waits) advances by whole polls; real time can only be longer.
        state["elapsed"] = round(
            max((self.services.clock() - started).total_seconds(), state["attempt"] * self.poll_seconds), 1
        )
        try:
            verdict = self._evaluate(state, started)
        except AWS_ERRORS as error:
            verdict = {"status": "waiting", "detail": f"health read failed, will retry: {_aws_error(error)}"}
        state.update(verdict)
        if state["status"] == "waiting" and state["elapsed"] >= self.timeout:
            state.update(
                status="failed",
                reason=f"replacement unhealthy after {self.timeout} s",
                detail=f"timed out waiting: {state['detail']}",
            )
        state["done"] = state["status"] != "waiting"
        return state

    def _evaluate(self, state: State, started: datetime) -> State:
        fleet = self.services.fleet
        for activity in fleet.recent_activities(self.group, limit=10):
            if activity.status in ("Failed", "Cancelled") and (
                activity.start_time is None or activity.start_time >= started - timedelta(seconds=5)
            ):
                text = f"{activity.status}: {activity.description} - {activity.message}"
                return {"status": "failed", "reason": "launch failed", "detail": text, "last_activity": text}
        raw = fleet.describe_group(self.group)
        if raw is None:
            return {
                "status": "failed",
                "reason": "group deleted",
                "detail": "the group disappeared while waiting",
            }
        snapshot = group_snapshot(raw)
        new = [i for i in snapshot.instances if i.instance_id not in self.before]
        healthy = [i for i in snapshot.instances if i.in_service_and_healthy]
        broken = [i for i in new if i.health_status != "Healthy"]
        if broken:
            return {
                "status": "failed",
                "reason": "replacement unhealthy",
                "replacement": broken[0].instance_id,
                "replacement_image": fleet.image_of(broken[0].instance_id),
                "detail": f"{broken[0].instance_id} is {broken[0].lifecycle_state}/{broken[0].health_status}",
                "checks": {"auto-scaling": broken[0].health_status},
            }
        ready = [i for i in new if i.in_service_and_healthy]
        if not ready:
            pending = ", ".join(f"{i.instance_id}={i.lifecycle_state}" for i in new) or "none yet"
            return {"status": "waiting", "detail": f"no new InService instance (new: {pending})"}
        replacement = ready[0]
        checks: dict[str, str] = {"auto-scaling": "Healthy"}
        checks.update(
            {
                f"target-group {arn.split(':')[-1]}": s
                for arn, s in fleet.target_health(snapshot.target_group_arns, replacement.instance_id).items()
            }
        )
        checks.update(
            {
                f"elb {name}": s
                for name, s in fleet.classic_health(
                    snapshot.load_balancer_names, replacement.instance_id
                ).items()
            }
        )
        not_passing = {name: state for name, state in checks.items() if state not in PASSING_STATES}
        base = {"replacement": replacement.instance_id, "checks": checks}
        if len(healthy) < self.desired:
            return {**base, "status": "waiting", "detail": f"{len(healthy)}/{self.desired} InService+Healthy"}
        if not_passing:
            bad = ", ".join(f"{name}={state}" for name, state in not_passing.items())
            return {**base, "status": "waiting", "detail": f"load balancer checks pending: {bad}"}
        return {
            **base,
            "status": "healthy",
            "detail": "all checks passed",
            "replacement_image": fleet.image_of(replacement.instance_id),
        }
