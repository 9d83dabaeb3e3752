"""What the freshness target's rate needs from outside the policy: the runs that may act (schedule,
blackouts, maintenance windows) and how many recycles of one group one durable execution holds
(budget.py's counts, at worst-case waits). The rate itself is policy/freshness.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from recycler.domain import GroupSnapshot, Mode, PolicySettings
from recycler.models import ManualPayload, Settings
from recycler.policy.freshness import Outlook
from recycler.policy.tags import TagError, group_options, tag_key
from recycler.policy.victims import BudgetCap, target_outlook
from recycler.workflow.budget import Budget, execution_budget_seconds, recycles_that_fit

# The most recycles one group's job is sized for: beyond any group a run can take one after another.
LARGEST_JOB = 1000


def budget_cap(settings: Settings, payload: ManualPayload, limits: Budget | None) -> BudgetCap | None:
    """How many recycles of a group (in a mode, with a health timeout) one execution holds on its own,
    canary bake included; None where the runtime has no limits (an in-process run)."""
    if limits is None:
        return None
    if limits.seconds is None:
        limits = replace(limits, seconds=execution_budget_seconds(settings.execution_timeout_hours))
    poll_seconds = payload.poll_seconds or settings.poll_seconds
    bake_seconds = int(settings.bake_minutes * 60)
    answers: dict[tuple[Mode, int], int] = {}

    def fits(mode: Mode, timeout: int, count: int) -> bool:
        held = recycles_that_fit(
            [mode],
            [timeout],
            poll_seconds,
            images=["the group's image"],
            recycles_per_job=[count],
            bake_seconds=bake_seconds,
            budget=limits,
        )
        return held == 1

    def cap(mode: Mode, health_timeout_seconds: int) -> int:
        timeout = payload.health_timeout_seconds or health_timeout_seconds
        if (mode, timeout) not in answers:
            low, high = 0, LARGEST_JOB  # fits(low) holds (0: nothing fits), find the largest that does
            while low < high:
                middle = (low + high + 1) // 2
                low, high = (middle, high) if fits(mode, timeout, middle) else (low, middle - 1)
            answers[(mode, timeout)] = low
        return answers[(mode, timeout)]

    return cap


def runs_that_may_act(settings: Settings, now: datetime) -> list[datetime]:
    """This run, then the scheduled runs outside blackouts and maintenance windows after it."""
    return settings.upcoming_runs(now)


def any_target(snapshots: Sequence[GroupSnapshot], rules: PolicySettings) -> bool:
    """Whether any group may have a freshness target (the deploy-wide one, or a tag): the runs ahead are
    worked out only then."""
    key = tag_key(rules, "max-age-days")
    return rules.max_age is not None or any(key in s.tags for s in snapshots)


def fleet_outlooks(
    snapshots: Sequence[GroupSnapshot], settings: Settings, now: datetime
) -> dict[str, Outlook]:
    """Per group with a freshness target, its outlook as a scheduled run (on Lambda, with its budget)
    would plan it now: what `fleet` shows. A group whose tags cannot be read has none (a run skips it
    as invalid-tag and says why)."""
    rules = settings.policy()
    runs = runs_that_may_act(settings, now)
    cap = budget_cap(settings, ManualPayload(source="schedule"), Budget())
    seen: dict[str, Outlook] = {}
    for snapshot in snapshots:
        try:
            options = group_options(snapshot, rules)
        except TagError:
            continue
        if options.max_age is not None:
            seen[snapshot.name] = target_outlook(snapshot, rules, options, runs, cap)
    return seen
