"""Every GroupReport the workflow makes, built here: a skip, a plan, a recycle's outcome (one victim or
several), a group held back by a failed canary or stopped after failures, and the AMI facts on each."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from typing import Any, Protocol

from recycler.domain import Mode, Reason
from recycler.report import (
    FreshnessReport,
    GroupReport,
    Outcome,
    RecycleReport,
    ReplacementReport,
    VictimReport,
)
from recycler.workflow.budget import (
    REPORT_DETAIL_BYTES,
    REPORT_HOST_BYTES,
    REPORT_ID_BYTES,
    REPORT_REASON_BYTES,
)
from recycler.workflow.state import FreshnessRow, HealthState, Job, PlanRows, SkipRow, Victim

logger = logging.getLogger(__name__)


def skip_report(row: SkipRow) -> GroupReport:
    group, reason, detail, mode, oldest, image = row
    return GroupReport(
        group=group,
        outcome="skipped",
        reason=reason,
        detail=detail,
        mode=Mode(mode),
        oldest_instance_age_days=oldest,
        current_image_id=image,
    )


def planned_report(job: Job) -> GroupReport:
    return GroupReport(
        group=job.group,
        outcome="planned",
        reason=Reason.OLDEST_INSTANCE.value,
        detail=job.detail,
        mode=job.mode,
        victim=VictimReport(**asdict(job.victim)),
        oldest_instance_age_days=job.oldest_instance_age_days,
        current_image_id=job.current_image_id,
        behind_by=job.behind_by,
        health_timeout_seconds=job.health_timeout_seconds,
        container_host=job.host.describe(),
        standby_instances=job.host.standby,
        warm_pool=job.host.warm_pool,
        recycles=[
            RecycleReport(
                victim=VictimReport(**asdict(v)), outcome="planned", reason=Reason.OLDEST_INSTANCE.value
            )
            for v in job.victims
        ]
        if job.more_victims
        else [],
    )


def group_report(
    job: Job,
    victim: Victim,
    outcome: Outcome,
    reason: str,
    detail: str = "",
    *,
    canary: bool,
    health_timeout_seconds: int,
    **extra: Any,
) -> GroupReport:
    """One recycle's report: what was planned for the group, and what happened to this victim."""
    return GroupReport.model_validate(
        {
            "group": job.group,
            "outcome": outcome,
            "reason": reason,
            "detail": detail,
            "mode": job.mode,
            "victim": VictimReport(**asdict(victim)),
            "oldest_instance_age_days": job.oldest_instance_age_days,
            "current_image_id": job.current_image_id,
            "canary": canary,
            "behind_by": job.behind_by,
            "health_timeout_seconds": health_timeout_seconds,
            "container_host": job.host.describe(),
            "standby_instances": job.host.standby,
            "warm_pool": job.host.warm_pool,
            **extra,
        }
    )


def replacement_of(health: HealthState, refreshed: bool | None) -> ReplacementReport:
    return ReplacementReport(
        instance_id=health.replacement, image_id=health.replacement_image, ami_refreshed=refreshed
    )


def group_of_recycles(job: Job, done: list[GroupReport]) -> GroupReport:
    """The group's report for several recycles in one run: the first recycle's victim and replacement
    (compatibility), every recycle in `recycles`, and the outcome of the first that did not succeed."""
    recycles = [
        RecycleReport(
            victim=r.victim or VictimReport(**asdict(v)),
            replacement=r.replacement,
            outcome=r.outcome,
            reason=r.reason,
            waited_seconds=r.waited_seconds,
        )
        for r, v in zip(done, job.victims, strict=False)
    ]
    last = done[-1]
    stopped = last if last.outcome != "recycled" else None
    failed = stopped is not None and stopped.outcome == "failed"
    rest_reason = Reason.EARLIER_RECYCLE_FAILED.value if failed or stopped is None else stopped.reason
    recycles += [
        RecycleReport(victim=VictimReport(**asdict(v)), outcome="skipped", reason=rest_reason)
        for v in job.victims[len(done) :]
    ]
    recycled = sum(1 for r in done if r.outcome == "recycled")
    detail = f"recycled {recycled} of {len(job.victims)} due instance(s), one after another"
    if stopped is not None:
        victim_id = stopped.victim.instance_id if stopped.victim else "?"
        detail += f"; recycle {len(done)} (victim {victim_id}) {stopped.outcome}: {stopped.reason}"
        detail += f": {stopped.detail}"
    if job.behind_by:
        detail += f"; behind by {job.behind_by}"
    outcome: Outcome = "failed" if failed else ("recycled" if recycled else done[0].outcome)
    waits = [r.waited_seconds for r in done if r.waited_seconds is not None]
    return done[0].model_copy(
        update={
            "outcome": outcome,
            "reason": stopped.reason if failed and stopped else done[0].reason,
            "detail": detail,
            "recycles": recycles,
            "waited_seconds": round(sum(waits), 1) if waits else None,
        }
    )


def canary_failed(report: GroupReport, canary: GroupReport) -> GroupReport:
    """This run's canary for the group's image failed, or its claim found the image condemned by another
    run's canary (it never ran: its detail says who condemned the image)."""
    failed = f"canary {canary.group} failed on image {canary.current_image_id}: {canary.reason}"
    detail = canary.detail if canary.reason == Reason.CANARY_FAILED.value else failed
    return report.model_copy(
        update={"outcome": "skipped", "reason": Reason.CANARY_FAILED.value, "detail": detail}
    )


def canary_held(report: GroupReport, canary: GroupReport) -> GroupReport:
    """Another run's canary is trying this group's image right now: wait for its verdict."""
    return report.model_copy(
        update={
            "outcome": "skipped",
            "reason": Reason.CANARY_IN_PROGRESS.value,
            "detail": f"image {canary.current_image_id} is being tried by another run's canary "
            f"({canary.detail}); this group waits for its verdict",
        }
    )


def condemned_image(report: GroupReport, why: str) -> GroupReport:
    """The group's image failed its canary in an earlier run: it is not launched again."""
    return report.model_copy(
        update={
            "outcome": "skipped",
            "reason": Reason.CANARY_FAILED.value,
            "detail": f"image {report.current_image_id} failed its canary earlier ({why}); put the launch path "
            'back to a good image, or try it again with a drill: {"canary": true} (from a shell: '
            f"python -m recycler run --canary --group {report.group})",
        }
    )


def scheduled_later(report: GroupReport) -> GroupReport:
    """A publish event's run recycles only canaries; this group waits for its scheduled run."""
    return report.model_copy(
        update={
            "outcome": "skipped",
            "reason": Reason.SCHEDULED_LATER.value,
            "detail": "a run started by a new image recycles only the canary for each unproven image; "
            "this group is recycled by its scheduled run",
        }
    )


def stopped_after_failures(job: Job, failed: int, limit: int) -> GroupReport:
    report = planned_report(job)
    report.outcome = "skipped"
    report.reason = Reason.STOPPED_AFTER_FAILURES.value
    report.detail = f"{failed} group(s) failed in this run; limit {limit}"
    return report


def with_image_facts(report: GroupReport, rows: PlanRows) -> GroupReport:
    """The AMI facts the plan measured, on a group's report: ages of its images and its drift."""
    ages = rows.image_ages
    oldest, current, drifted, reason = rows.group_images.get(report.group, (None, None, 0, None))
    update: dict[str, object] = {
        "oldest_image_age_days": oldest,
        "current_image_age_days": current,
        "drifted_instances": drifted,
        "current_image_reason": reason,
    }
    if report.victim is not None and report.victim.image_id:
        update["victim"] = report.victim.model_copy(
            update={"image_age_days": ages.get(report.victim.image_id)}
        )
    if report.replacement is not None and report.replacement.image_id:
        update["replacement"] = report.replacement.model_copy(
            update={"image_age_days": ages.get(report.replacement.image_id)}
        )
    if report.group in rows.freshness:
        update["freshness"] = freshness_report(rows.freshness[report.group])
    for recycle in report.recycles:
        recycle.victim.image_age_days = ages.get(recycle.victim.image_id or "")
        if recycle.replacement is not None:
            recycle.replacement.image_age_days = ages.get(recycle.replacement.image_id or "")
    return report.model_copy(update=update)


def freshness_report(row: FreshnessRow) -> FreshnessReport:
    target, instances, this_run, needs, cap, limited_by, oldest, within, reaches, fix = row
    return FreshnessReport(
        target_days=target,
        instances=instances,
        this_run=this_run,
        needs_per_run=needs,
        cap=cap,
        limited_by=limited_by,
        oldest_age_days=oldest,
        within_target_at=within,
        reaches_days=reaches,
        fix=fix,
        missed=within is None,
    )


class ReportOf(Protocol):
    def __call__(self, outcome: Outcome, reason: str, detail: str = "", **extra: object) -> GroupReport: ...


def recycle_outcome(
    report: ReportOf, job: Job, victim: Victim, health: HealthState, also: str = ""
) -> GroupReport:
    """The report for a finished health wait; `also` adds what was done afterwards (a surge rollback)."""
    if health.status != "healthy":
        return report(
            "failed",
            health.reason,
            "; ".join(part for part in (health.detail, health.scaling, also) if part),
            replacement=replacement_of(health, None),
            waited_seconds=health.elapsed,
        )
    image = health.replacement_image
    refreshed = None if image is None or victim.image_id is None else image != victim.image_id
    detail = job.detail
    if health.replacement_scaled_in:
        detail = health.detail
    if refreshed is False:
        detail = stale_image_detail(image, health.from_warm_pool, job.host.warm_pool)
        logger.warning("stale AMI", extra={"group": job.group, "image_id": image})
    detail = "; ".join(part for part in (detail, health.scaling) if part)
    return report(
        "recycled",
        Reason.OLDEST_INSTANCE.value,
        detail,
        replacement=replacement_of(health, refreshed),
        waited_seconds=health.elapsed,
    )


def stale_image_detail(image: str | None, from_warm_pool: bool, group_has_warm_pool: bool) -> str:
    if from_warm_pool or group_has_warm_pool:
        where = "came from" if from_warm_pool else "may have come from"
        return (
            f"replacement runs the same AMI {image} as the victim: it {where} the group's warm pool, "
            "whose instances keep the image they were launched with; refresh the pool (an instance "
            "refresh, or delete and re-create the warm pool) so replacements boot the current AMI"
        )
    return f"replacement runs the same AMI {image} as the victim: the launch template pins an old AMI"


def clip(text: str | None, limit: int) -> str | None:
    """`text` within `limit` bytes as compact JSON stores it (escapes counted), cut short with "..."."""
    if text is None or len(json.dumps(text)) - 2 <= limit:
        return text
    used, keep = 3, 0
    for char in text:
        used += len(json.dumps(char)) - 2
        if used > limit:
            break
        keep += 1
    return text[:keep] + "..."


def _victim(victim: VictimReport) -> VictimReport:
    ids = (victim.instance_id, victim.launch_time, victim.image_id)
    instance, launched, image = (clip(i, REPORT_ID_BYTES) for i in ids)
    return victim.model_copy(update={"instance_id": instance, "launch_time": launched, "image_id": image})


def _replacement(replacement: ReplacementReport | None) -> ReplacementReport | None:
    if replacement is None:
        return None
    instance, image = (clip(i, REPORT_ID_BYTES) for i in (replacement.instance_id, replacement.image_id))
    return replacement.model_copy(update={"instance_id": instance, "image_id": image})


def clipped(report: GroupReport) -> GroupReport:
    """A child execution's report within budget.report_bytes: its free text and ids clipped to the caps
    that bound was measured at. The group name is counted as it is; freshness and image ages are added
    by the parent from its plan (with_image_facts), so a child's report carries none."""
    recycles = [
        r.model_copy(
            update={
                "victim": _victim(r.victim),
                "replacement": _replacement(r.replacement),
                "reason": clip(r.reason, REPORT_REASON_BYTES),
            }
        )
        for r in report.recycles
    ]
    return report.model_copy(
        update={
            "reason": clip(report.reason, REPORT_REASON_BYTES),
            "detail": clip(report.detail, REPORT_DETAIL_BYTES),
            "victim": _victim(report.victim) if report.victim is not None else None,
            "replacement": _replacement(report.replacement),
            "current_image_id": clip(report.current_image_id, REPORT_ID_BYTES),
            "current_image_reason": clip(report.current_image_reason, REPORT_REASON_BYTES),
            "container_host": clip(report.container_host, REPORT_HOST_BYTES),
            "recycles": recycles,
        }
    )
