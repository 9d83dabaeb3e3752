"""Planning: read the fleet, let the policy decide per group, and pack the plan into one checkpoint.

Reads only; nothing here terminates. The plan runs inside one durable step, so its packed result is
what every replay of the run works from.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from recycler.domain import ClaimRefused, Decision, EcsCapacityProvider, GroupSnapshot, PolicySettings, Reason
from recycler.models import ManualPayload, Settings
from recycler.policy.containers import with_container_host
from recycler.policy.guards import apply_history
from recycler.policy.ranking import keep_first, limit_run, oldest_first
from recycler.policy.tags import TagError, bake_minutes, opt_in_state, tag_key
from recycler.policy.victims import decide
from recycler.workflow.brakes import run_level_guard
from recycler.workflow.budget import Budget, describe_limit, execution_budget_seconds, recycles_that_fit
from recycler.workflow.codedeploy import with_codedeploy
from recycler.workflow.freshness import any_target, budget_cap, runs_that_may_act
from recycler.workflow.port import Services
from recycler.workflow.scale_outs import with_scale_out_guard


def plan(
    services: Services,
    settings: Settings,
    payload: ManualPayload,
    now: datetime,
    rng: random.Random,
    limits: Budget | None = None,
) -> list[Decision]:
    """Decide per group: recycle <victim> or skip <reason>. Reads only; terminates nothing.
    `limits`: what one execution of the runtime may hold (a durable Lambda); None for no limit."""
    rules = settings.policy()
    opt_in_key = tag_key(rules, "enabled")
    fleet = services.fleet
    raw = fleet.list_groups(opt_in_key, payload.groups)
    snapshots = fleet.snapshots(
        raw,
        opted_in={s.name for s in map(fleet.snapshot, raw) if opt_in_state(s, rules) is None},
    )
    # With a freshness target, a run recycles what the target needs, spread over the runs that may act.
    runs = runs_that_may_act(settings, now) if any_target(snapshots, rules) else []
    cap = budget_cap(settings, payload, limits)
    snapshots, providers = with_ecs_protection(services, snapshots, rules)
    decisions = [
        decide(s, rules, now, rng, force=payload.force, runs=runs, budget_cap=cap) for s in snapshots
    ]
    decisions = with_image_ages(services, snapshots, decisions, now)
    decisions = with_bake_times(snapshots, decisions, rules, settings.bake_minutes)
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
            apply_history(d, claims.get(d.group), now, interval, force=payload.force) for d in decisions
        ]
        if payload.force:  # --force never takes a group another run is mid-recycle on (ledger.claim)
            held = services.ledger.claims_in_flight(recyclable, now)
            decisions = [
                d.skipped(Reason.RECENTLY_RECYCLED, str(ClaimRefused(d.group, held[d.group])))
                if d.recycle and d.group in held
                else d
                for d in decisions
            ]
    decisions = limit_run(decisions, payload.max_groups or settings.max_groups_per_run)
    decisions = with_container_hosts(services, snapshots, decisions, rules, providers)
    decisions = with_scale_out_guard(services, snapshots, decisions, payload, now)
    decisions = with_codedeploy(services, snapshots, decisions)
    if limits is not None:
        decisions = defer_over_budget(decisions, settings, payload, limits)

    stop = run_level_guard(services, settings, now)
    if stop is not None:
        reason, detail = stop
        decisions = [d.skipped(reason, detail) if d.recycle else d for d in decisions]
    return decisions


def with_ecs_protection(
    services: Services, snapshots: Sequence[GroupSnapshot], rules: PolicySettings
) -> tuple[list[GroupSnapshot], dict[str, EcsCapacityProvider] | None]:
    """Scale-in protection set by ECS managed termination protection (on every instance running tasks)
    is ECS's, not an operator's: mark the groups whose capacity provider has it, before victims are
    chosen. The capacity providers are read (one read per run) only when an opted-in group has a
    protected instance; the providers read are returned for with_container_hosts to reuse."""
    protected = [
        s
        for s in snapshots
        if opt_in_state(s, rules) is None and any(i.protected_from_scale_in for i in s.instances)
    ]
    if not protected:
        return list(snapshots), None
    providers = services.ecs.capacity_providers_by_group()
    managed = {name for name, p in providers.items() if p.managed_termination_protection}
    return [replace(s, ecs_protection=True) if s.name in managed else s for s in snapshots], providers


def with_container_hosts(
    services: Services,
    snapshots: Sequence[GroupSnapshot],
    decisions: list[Decision],
    rules: PolicySettings,
    providers: dict[str, EcsCapacityProvider] | None = None,
) -> list[Decision]:
    """For the groups this run would recycle: their lifecycle hooks (one DescribeLifecycleHooks per
    group: the API takes one group) and the ECS capacity providers in the region (one read per run)."""
    planned = [d.group for d in decisions if d.recycle]
    if not planned:
        return decisions
    hooks = services.fleet.lifecycle_hooks(planned)
    if providers is None:
        providers = services.ecs.capacity_providers_by_group()
    by_name = {s.name: s for s in snapshots}
    return [
        with_container_host(d, by_name[d.group], rules, hooks.get(d.group, ()), providers.get(d.group))
        if d.recycle and d.group in by_name
        else d
        for d in decisions
    ]


def defer_over_budget(
    decisions: list[Decision], settings: Settings, payload: ManualPayload, limits: Budget
) -> list[Decision]:
    """Plan only the recycles one durable execution can hold (budget.py); the rest are deferred."""
    ordered = oldest_first(decisions)
    if limits.seconds is None:
        limits = replace(limits, seconds=execution_budget_seconds(settings.execution_timeout_hours))
    timeouts = [payload.health_timeout_seconds or d.health_timeout_seconds for d in ordered]
    poll_seconds = payload.poll_seconds or settings.poll_seconds
    fit = recycles_that_fit(
        [d.mode for d in ordered],
        timeouts,
        poll_seconds,
        images=[d.current_image_id for d in ordered],
        recycles_per_job=[max(1, len(d.victims)) for d in ordered],
        drain_timeouts=[d.host.drain_timeout_seconds if d.host else 0 for d in ordered],
        bake_seconds=[d.bake_seconds for d in ordered],
        max_concurrency=settings.max_concurrency,
        budget=limits,
        names=[d.group for d in ordered],
    )
    if fit == len(ordered):
        return decisions
    detail = describe_limit(fit, limits, settings.execution_timeout_hours)
    return keep_first(decisions, fit, Reason.DEFERRED_BUDGET, detail)


def with_bake_times(
    snapshots: Sequence[GroupSnapshot], decisions: list[Decision], rules: PolicySettings, default: float
) -> list[Decision]:
    """Each group's own bake (its `recycler:bake-minutes` tag, up to 1,440 min, else the setting), read at
    planning: the budget, the preflight's deadline check and the bake itself all use this one value. A tag
    recycler cannot read skips its group (nothing is terminated for a bake that cannot be judged)."""
    by_name = {s.name: s for s in snapshots}
    timed = []
    for decision in decisions:
        snapshot = by_name.get(decision.group)
        if not decision.recycle or snapshot is None:
            timed.append(decision)
            continue
        try:
            minutes = bake_minutes(snapshot, rules, default)
        except TagError as error:
            timed.append(decision.skipped(Reason.INVALID_TAG, str(error)))
            continue
        timed.append(replace(decision, bake_seconds=int(minutes * 60)))
    return timed


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


def proven_images(
    services: Services, decisions: Sequence[Decision], payload: ManualPayload
) -> tuple[str, ...]:
    """Images the planned recycles would launch that a healthy recycle already proved (ledger); none
    when the drill asks for a canary anyway or no ledger is configured."""
    images = sorted({d.current_image_id for d in decisions if d.recycle and d.current_image_id})
    if payload.canary or services.ledger is None or not images:
        return ()
    return tuple(sorted(services.ledger.proven_images(images)))


def condemned_images(
    services: Services, decisions: Sequence[Decision], payload: ManualPayload, proven: Sequence[str]
) -> dict[str, str]:
    """Images the planned recycles would launch whose canary failed in an earlier run: a later run (a
    publish event's, or tomorrow's) must not launch them again. A drill with "canary": true tries anyway;
    an image proven since (a forced drill) is no longer held."""
    images = sorted({d.current_image_id for d in decisions if d.recycle and d.current_image_id} - set(proven))
    if payload.canary or services.ledger is None or not images:
        return {}
    return services.ledger.condemned_images(images)
