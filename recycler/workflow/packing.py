"""The plan as one checkpoint: decisions packed into rows (skips, jobs, AMI facts) that fit Lambda's
256 KB, and unpacked into reports and jobs on every replay."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from recycler.domain import Decision, InstanceSnapshot
from recycler.policy.ages import percentile
from recycler.policy.freshness import Outlook
from recycler.policy.victims import age_days
from recycler.report import GroupReport
from recycler.workflow.codec import CHECKPOINT_BUDGET_BYTES, checkpoint_size
from recycler.workflow.reports import condemned_image, planned_report, skip_report
from recycler.workflow.state import (
    DETAIL_LIMIT,
    FreshnessRow,
    Host,
    Job,
    PlanRows,
    SkipRow,
    Victim,
    job_from_row,
    job_row,
)


class PlanTooLarge(RuntimeError):
    """The plan cannot be checkpointed; raised before anything is terminated."""


def decision_to_job(decision: Decision, now: datetime) -> Job:
    assert decision.victim is not None
    return Job(
        group=decision.group,
        mode=decision.mode,
        detail=decision.detail[:DETAIL_LIMIT],
        health_timeout_seconds=decision.health_timeout_seconds,
        oldest_instance_age_days=decision.oldest_age_days,
        current_image_id=decision.current_image_id,
        victim=victim_of(decision.victim, now),
        desired=decision.desired_capacity,
        more_victims=tuple(victim_of(v, now) for v in decision.victims[1:]),
        behind_by=decision.behind_by,
        host=host_of(decision),
        bake_seconds=decision.bake_seconds,
    )


def host_of(decision: Decision) -> Host:
    host = decision.host
    return Host(
        kind=host.kind if host else "",
        cluster=host.cluster if host else "",
        recycler_drains=host.recycler_drains if host else False,
        drain_timeout_seconds=host.drain_timeout_seconds if host else 0,
        launch_hooks=decision.launch_hooks,
        standby=decision.standby_instances,
        warm_pool=decision.warm_pool,
        launch_hook_limit_seconds=decision.launch_hook_limit_seconds,
    )


def victim_of(instance: InstanceSnapshot, now: datetime) -> Victim:
    age = age_days(instance, now)
    return Victim(
        instance_id=instance.instance_id,
        launch_time=instance.launch_time.isoformat() if instance.launch_time else None,
        image_id=instance.image_id,
        age_days=round(age, 3) if age is not None else None,
    )


def skip_row(decision: Decision) -> SkipRow:
    return (
        decision.group,
        decision.reason,
        decision.detail[:DETAIL_LIMIT],
        decision.mode.value,
        decision.oldest_age_days,
        decision.current_image_id,
    )


def pack_plan(
    decisions: Sequence[Decision],
    now: datetime,
    proven: Sequence[str] = (),
    condemned: dict[str, str] | None = None,
) -> PlanRows:
    """The plan step's checkpointed result, kept within one durable checkpoint."""
    packed = PlanRows(
        skips=tuple(skip_row(d) for d in decisions if not d.recycle),
        jobs=tuple(job_row(decision_to_job(d, now)) for d in decisions if d.recycle),
        proven_images=tuple(proven),
        condemned_images=dict(condemned or {}),
        image_ages={image: age for d in decisions for image, age in d.image_ages},
        group_images={
            d.group: (
                d.oldest_image_age_days,
                d.current_image_age_days,
                d.drifted_instances,
                d.current_image_reason,
            )
            for d in decisions
            if d.oldest_image_age_days is not None or d.current_image_reason or d.drifted_instances
        },
        host_facts={
            d.group: (d.standby_instances, d.warm_pool)
            for d in decisions
            if not d.recycle and (d.standby_instances or d.warm_pool)
        },
        fleet_instance_age_percentiles=fleet_age_percentiles(decisions),
        freshness={d.group: freshness_row(d.freshness) for d in decisions if d.freshness is not None},
    )
    size = checkpoint_size(packed)
    if size > CHECKPOINT_BUDGET_BYTES:
        # Large fleets: keep every reason code and victim, drop the free-text details.
        packed = replace(
            packed,
            skips=tuple((g, r, "", m, o, i) for g, r, _, m, o, i in packed.skips),
            jobs=tuple(job_row(replace(job_from_row(row), detail="")) for row in packed.jobs),
        )
        size = checkpoint_size(packed)
    if size > CHECKPOINT_BUDGET_BYTES:
        packed = counted_skips(packed, decisions)
        size = checkpoint_size(packed)
    if size > CHECKPOINT_BUDGET_BYTES:
        raise PlanTooLarge(
            f"the plan's {len(packed.jobs)} recycles ({size // 1024} KB) exceed one durable checkpoint; "
            "lower RECYCLER_MAX_GROUPS_PER_RUN"
        )
    return packed


def freshness_row(seen: Outlook) -> FreshnessRow:
    within = seen.within_target_at.isoformat() if seen.within_target_at else None
    reaches = round(seen.reaches_days, 2) if seen.reaches_days is not None else None
    return (
        seen.target_days,
        seen.instances,
        seen.this_run,
        seen.needs_per_run,
        seen.cap,
        seen.limited_by,
        seen.oldest_age_days,
        within,
        reaches,
        seen.fix,
    )


def fleet_age_percentiles(decisions: Sequence[Decision]) -> tuple[float | None, float | None]:
    """p50 and p95 of every instance's age across the decided groups (the max is the fleet's oldest): two
    numbers in the checkpoint, however large the fleet."""
    ages = [age for d in decisions for age in d.instance_ages_days]
    return percentile(ages, 50), percentile(ages, 95)


def counted_skips(packed: PlanRows, decisions: Sequence[Decision]) -> PlanRows:
    """A fleet too large for one row per skipped group (over ~3,000 groups): skips are counted by reason
    and the AMI facts kept only for the groups to recycle. The caller logs each skip instead."""
    skipped = [d for d in decisions if not d.recycle]
    jobs = {d.group for d in decisions if d.recycle}
    job_images = {
        image
        for d in decisions
        if d.recycle
        for image in (d.current_image_id, *(v.image_id for v in (d.victim, *d.victims) if v))
    }
    instance_ages = [d.oldest_age_days for d in skipped if d.oldest_age_days is not None]
    image_ages = [d.oldest_image_age_days for d in skipped if d.oldest_image_age_days is not None]
    return replace(
        packed,
        skips=(),
        group_images={g: row for g, row in packed.group_images.items() if g in jobs},
        host_facts={},
        freshness={g: row for g, row in packed.freshness.items() if g in jobs or row[7] is None},
        image_ages={image: age for image, age in packed.image_ages.items() if image in job_images},
        skipped_counts=dict(Counter(d.reason for d in skipped)),
        skipped_oldest_instance_age_days=max(instance_ages, default=None),
        skipped_oldest_image_age_days=max(image_ages, default=None),
    )


def unpack_plan(rows: PlanRows) -> tuple[list[GroupReport], list[Job]]:
    """The plan's skips and the jobs a run acts on. A job whose image failed its canary in an earlier
    run is a skip: the one split a dry run, `run`'s confirmation and the run itself all read, so the
    plan lists exactly what the run would terminate."""
    skips = []
    for row in rows.skips:
        report = skip_report(row)
        standby, warm_pool = rows.host_facts.get(report.group, (0, False))
        skips.append(report.model_copy(update={"standby_instances": standby, "warm_pool": warm_pool}))
    jobs = [job_from_row(row) for row in rows.jobs]
    condemned = rows.condemned_images
    skips += [
        condemned_image(planned_report(job), condemned[job.current_image_id or ""])
        for job in jobs
        if job.current_image_id in condemned
    ]
    return skips, [job for job in jobs if job.current_image_id not in condemned]
