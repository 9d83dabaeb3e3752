"""Victim choice: the oldest tier (random among ties), or with a freshness target what the target needs
this run (policy/freshness.py), oldest first and random among ties, up to the per-run cap."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from recycler.domain import (
    Decision,
    GroupOptions,
    GroupSnapshot,
    InstanceSnapshot,
    Mode,
    PolicySettings,
    Reason,
)
from recycler.policy.freshness import Outlook, outlook
from recycler.policy.guards import check_group
from recycler.policy.tags import OPT_IN_VALUE, group_options, opt_in_state, tag_key

# How many recycles of a group in this mode, with this health timeout (seconds), one execution holds.
BudgetCap = Callable[[Mode, int], int]


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
    runs: Sequence[datetime] = (),
    budget_cap: BudgetCap | None = None,
) -> Decision:
    """Decide whether to recycle this group and which instance(s): one victim per run, or with a
    freshness target what the target needs this run (policy/freshness.py), oldest first, up to the cap.
    `runs`: this run, then the later runs that may act (or just `horizon`, the next one); `budget_cap`:
    how many recycles of a group in this mode, with this health timeout (s), one execution holds."""
    oldest_ages = [a for a in (age_days(i, now) for i in group.instances) if a is not None]
    base = Decision(
        group=group.name,
        recycle=False,
        reason="",
        oldest_age_days=round(max(oldest_ages), 3) if oldest_ages else None,
        instance_ages_days=tuple(round(a, 3) for a in oldest_ages),
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

    # Scale-in protection does not stop TerminateInstanceInAutoScalingGroup (Auto Scaling User Guide,
    # "Use instance scale-in protection"): honouring it is recycler's choice, unless the group says to
    # ignore it, or ECS set it on every instance that runs tasks (managed termination protection), where
    # the drain before the terminate (recycler's, or ECS managed draining) is what protects the tasks.
    ignore_protection = options.ignore_protection or group.ecs_protection
    candidates = [
        i
        for i in group.instances
        if i.in_service_and_healthy and (ignore_protection or not i.protected_from_scale_in)
    ]
    if not candidates:
        return base.skipped(
            Reason.NO_CANDIDATE, "every InService+Healthy instance is protected from scale-in"
        )
    undated = [c.instance_id for c in candidates if c.launch_time is None]
    if undated:
        return base.skipped(Reason.NO_CANDIDATE, "launch time unknown for " + ", ".join(undated[:5]))
    if not runs and horizon is not None:
        runs = (now, horizon)
    if options.max_age is not None and len(runs) > 1:
        return _decide_for_target(group, settings, options, base, candidates, rng, force, runs, budget_cap)
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
        reason=Reason.OLDEST_INSTANCE.value,
        detail=detail,
        victim=victim,
        tier=tuple(i.instance_id for i in tier),
    )


def _decide_for_target(
    group: GroupSnapshot,
    settings: PolicySettings,
    options: GroupOptions,
    base: Decision,
    candidates: Sequence[InstanceSnapshot],
    rng: random.Random,
    force: bool,
    runs: Sequence[datetime],
    budget_cap: BudgetCap | None,
) -> Decision:
    assert options.max_age is not None
    now, horizon = runs[0], runs[1]
    target_days = options.max_age.total_seconds() / 86400
    seen = target_outlook(group, settings, options, runs, budget_cap)
    cap, limited_by = seen.cap, seen.limited_by
    base = replace(base, freshness=seen)
    eligible = [
        c
        for c in candidates
        if c.launch_time is not None and (force or now - c.launch_time >= options.min_age)
    ]
    due = [c for c in eligible if c.launch_time is not None and horizon - c.launch_time > options.max_age]
    victims = oldest_first_random_ties(eligible, settings.tie_window, rng)[: seen.this_run]
    missed = f"{seen.describe()}. " if seen.missed else ""  # first: a plan's detail may be cut short
    if not victims:
        return base.skipped(
            Reason.WITHIN_TARGET,
            f"{missed}every instance is younger than {target_days:g} days at the next run "
            f"({horizon:%a %Y-%m-%d %H:%M %Z}) and none is needed early to spread the load",
        )
    behind = max(0, len(due) - len(victims))
    rate = f"up to {seen.needs_per_run} per run" if seen.needs_per_run else "more runs"
    detail = (
        f"{missed}{len(due)} instance(s) would be older than {target_days:g} days at the next run "
        f"({horizon:%a %Y-%m-%d %H:%M %Z}); recycling {len(victims)} one after another, oldest first "
        f"(the target needs {seen.this_run} this run and {rate} to hold; "
        f"cap {cap if cap is not None else 'none'}{f': {limited_by}' if limited_by else ''})"
    )
    if behind:
        detail += f"; behind by {behind}"
    base = with_override_image(base, group, victims[0])
    return replace(
        base,
        recycle=True,
        reason=Reason.OLDEST_INSTANCE.value,
        detail=detail,
        victim=victims[0],
        victims=tuple(victims),
        behind_by=behind,
        tier=tuple(v.instance_id for v in victims),
    )


def target_outlook(
    group: GroupSnapshot,
    settings: PolicySettings,
    options: GroupOptions,
    runs: Sequence[datetime],
    budget_cap: BudgetCap | None,
) -> Outlook:
    """The group's freshness target at its per-run cap, from now (runs[0]) on (policy/freshness.py)."""
    assert options.max_age is not None
    health_seconds = int(options.health_timeout.total_seconds())
    cap, limited_by, fix = target_cap(
        group, settings, options, budget_cap(options.mode, health_seconds) if budget_cap else None
    )
    launches = [i.launch_time for i in group.instances if i.launch_time is not None]
    return outlook(
        launches, runs, options.max_age, cap=cap, limited_by=limited_by, fix=fix, min_age=options.min_age
    )


def target_cap(
    group: GroupSnapshot, settings: PolicySettings, options: GroupOptions, budget: int | None
) -> tuple[int | None, str, str]:
    """The per-run ceiling under a freshness target, what sets it and the setting that lifts it: the
    max-per-run tag, the recycles one execution's budget holds for this group, and in replace mode
    one instance kept (the group never loses its last one)."""
    cap_key = tag_key(settings, "max-per-run")
    limits: list[tuple[int, str, str]] = []
    if options.max_per_run is not None:
        limits.append(
            (
                options.max_per_run,
                f"{cap_key} {options.max_per_run}",
                f"set the tag {cap_key} to {{needs}} (or remove it)",
            )
        )
    if budget is not None:
        limits.append(
            (
                max(budget, 1),
                f"one execution's budget holds {budget} recycles of this group",
                "raise recycler:execution_timeout_hours, or lower the group's "
                f"{tag_key(settings, 'health-timeout-minutes')}, until one run holds {{needs}}",
            )
        )
    if options.mode is Mode.REPLACE:
        limits.append(
            (
                max(group.desired_capacity - 1, 1),
                "replace mode keeps one instance in service",
                f"tag {tag_key(settings, 'mode')}=surge (a new instance first, then the old one goes)",
            )
        )
    if not limits:
        return None, "", ""
    return min(limits, key=lambda limit: limit[0])
