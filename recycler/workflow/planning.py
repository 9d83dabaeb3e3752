"""Planning: read the fleet, let the policy decide per group, and pack the plan into one checkpoint.

Reads only; nothing here terminates. The plan runs inside one durable step, so its packed result is
what every replay of the run works from.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta

from recycler import policy
from recycler.fleet import group_snapshot
from recycler.models import GroupReport, ManualPayload, RecycleReport, Settings, VictimReport
from recycler.policy import Decision, GroupSnapshot, InstanceSnapshot, Mode, Reason
from recycler.workflow import budget
from recycler.workflow.port import Services
from recycler.workflow.state import (
    CHECKPOINT_BUDGET_BYTES,
    DETAIL_LIMIT,
    Host,
    Job,
    PlanRows,
    SkipRow,
    Victim,
    checkpoint_size,
    job_from_row,
    job_row,
)


class PlanTooLarge(RuntimeError):
    """The plan cannot be checkpointed; raised before anything is terminated."""


def plan(
    services: Services,
    settings: Settings,
    payload: ManualPayload,
    now: datetime,
    rng: random.Random,
    limits: budget.Budget | None = None,
) -> list[Decision]:
    """Decide per group: recycle <victim> or skip <reason>. Reads only; terminates nothing.
    `limits`: what one execution of the runtime may hold (a durable Lambda); None for no limit."""
    rules = settings.policy()
    opt_in_key = policy.tag_key(rules, "enabled")
    fleet = services.fleet
    raw = fleet.list_groups(opt_in_key, payload.groups)
    snapshots = fleet.snapshots(
        raw,
        opted_in={s.name for s in map(group_snapshot, raw) if policy.opt_in_state(s, rules) is None},
    )
    # With a freshness target, a run replaces what would outgrow it before the next run that may act.
    horizon = settings.next_run(now)
    decisions = [policy.decide(s, rules, now, rng, force=payload.force, horizon=horizon) for s in snapshots]
    decisions = with_image_ages(services, snapshots, decisions, now)
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
    decisions = with_container_hosts(services, snapshots, decisions, rules)
    if limits is not None:
        decisions = defer_over_budget(decisions, settings, payload, limits)

    stop = run_level_guard(services, settings, now)
    if stop is not None:
        reason, detail = stop
        decisions = [d.skipped(reason, detail) if d.recycle else d for d in decisions]
    return decisions


def with_container_hosts(
    services: Services,
    snapshots: Sequence[GroupSnapshot],
    decisions: list[Decision],
    rules: policy.PolicySettings,
) -> list[Decision]:
    """For the groups this run would recycle: their lifecycle hooks (one DescribeLifecycleHooks per
    group: the API takes one group) and the ECS capacity providers in the region (one read per run)."""
    planned = [d.group for d in decisions if d.recycle]
    if not planned:
        return decisions
    hooks = services.fleet.lifecycle_hooks(planned)
    providers = services.ecs.capacity_providers_by_group()
    by_name = {s.name: s for s in snapshots}
    return [
        policy.with_container_host(d, by_name[d.group], rules, hooks.get(d.group, ()), providers.get(d.group))
        if d.recycle and d.group in by_name
        else d
        for d in decisions
    ]


def defer_over_budget(
    decisions: list[Decision], settings: Settings, payload: ManualPayload, limits: budget.Budget
) -> list[Decision]:
    """Plan only the recycles one durable execution can hold (budget.py); the rest are deferred."""
    ordered = policy.oldest_first(decisions)
    timeouts = [payload.health_timeout_seconds or d.health_timeout_seconds for d in ordered]
    poll_seconds = payload.poll_seconds or settings.poll_seconds
    fit = budget.recycles_that_fit(
        [d.mode for d in ordered],
        timeouts,
        poll_seconds,
        images=[d.current_image_id for d in ordered],
        recycles_per_job=[max(1, len(d.victims)) for d in ordered],
        drain_timeouts=[d.host.drain_timeout_seconds if d.host else 0 for d in ordered],
        budget=limits,
    )
    if fit == len(ordered):
        return decisions
    return policy.keep_first(decisions, fit, Reason.DEFERRED_BUDGET, budget.describe_limit(fit))


def with_image_ages(
    services: Services, snapshots: Sequence[GroupSnapshot], decisions: list[Decision], now: datetime
) -> list[Decision]:
    """Bit rot measured twice: days since each group's oldest instance image and current image were
    built (one batched DescribeImages for every distinct image)."""
    decided = {s.name: s for s in snapshots}
    images = {i.image_id for s in decided.values() for i in s.instances if i.image_id}
    images |= {s.current_image_id for s in decided.values() if s.current_image_id}
    ages = services.fleet.image_ages(sorted(images), now) if images else {}
    updated = []
    for decision in decisions:
        snapshot = decided.get(decision.group)
        if snapshot is None or not snapshot.instances:
            updated.append(decision)
            continue
        own = {i.image_id for i in snapshot.instances if i.image_id} | {snapshot.current_image_id or ""}
        own_ages = tuple(sorted((image, ages[image]) for image in own if image in ages))
        instance_ages = [ages[i.image_id] for i in snapshot.instances if i.image_id in ages]
        updated.append(
            replace(
                decision,
                oldest_image_age_days=max(instance_ages) if instance_ages else None,
                current_image_age_days=ages.get(snapshot.current_image_id or ""),
                image_ages=own_ages,
            )
        )
    return updated


def run_level_guard(services: Services, settings: Settings, now: datetime) -> tuple[Reason, str] | None:
    """Kill switch, stop-condition alarms and blackouts: read at planning and again before each act."""
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
    )


def victim_of(instance: InstanceSnapshot, now: datetime) -> Victim:
    age = policy.age_days(instance, now)
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
        reason="oldest-instance",
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
            RecycleReport(victim=VictimReport(**asdict(v)), outcome="planned", reason="oldest-instance")
            for v in job.victims
        ]
        if job.more_victims
        else [],
    )


def proven_images(
    services: Services, decisions: Sequence[Decision], payload: ManualPayload
) -> tuple[str, ...]:
    """Images the planned recycles would launch that a healthy recycle already proved (ledger); none
    when the drill asks for a canary anyway or no ledger is configured."""
    images = sorted({d.current_image_id for d in decisions if d.recycle and d.current_image_id})
    if payload.canary or services.ledger is None or not images:
        return ()
    return tuple(sorted(services.ledger.proven_images(images)))


def pack_plan(decisions: Sequence[Decision], now: datetime, proven: Sequence[str] = ()) -> PlanRows:
    """The plan step's checkpointed result, kept within one durable checkpoint."""
    packed = PlanRows(
        skips=tuple(skip_row(d) for d in decisions if not d.recycle),
        jobs=tuple(job_row(decision_to_job(d, now)) for d in decisions if d.recycle),
        proven_images=tuple(proven),
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
        image_ages={image: age for image, age in packed.image_ages.items() if image in job_images},
        skipped_counts=dict(Counter(d.reason for d in skipped)),
        skipped_oldest_instance_age_days=max(instance_ages, default=None),
        skipped_oldest_image_age_days=max(image_ages, default=None),
    )


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
    for recycle in report.recycles:
        recycle.victim.image_age_days = ages.get(recycle.victim.image_id or "")
        if recycle.replacement is not None:
            recycle.replacement.image_age_days = ages.get(recycle.replacement.image_id or "")
    return report.model_copy(update=update)


def unpack_plan(rows: PlanRows) -> tuple[list[GroupReport], list[Job]]:
    skips = []
    for row in rows.skips:
        report = skip_report(row)
        standby, warm_pool = rows.host_facts.get(report.group, (0, False))
        skips.append(report.model_copy(update={"standby_instances": standby, "warm_pool": warm_pool}))
    return skips, [job_from_row(row) for row in rows.jobs]
