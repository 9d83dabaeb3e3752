"""The freshness target's rate: how many instances a run recycles so that none outgrows the target, spread
evenly over the runs that may act before each deadline, and whether the target can hold at the per-run
cap (the outlook the plan, the run's summary alert, the FreshnessTargetMissed metric and `fleet` show).

`runs` is always this run first, then the later runs that may act (the schedule's runs outside blackouts
and maintenance windows; models.Settings.upcoming_runs), oldest deadline first. Pure: no clock, no AWS.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

DAY_SECONDS = 86400


@dataclass(frozen=True)
class Outlook:
    """A group's freshness target at its per-run cap, as this run plans it."""

    target_days: float
    instances: int
    this_run: int  # recycles this run takes for the target (before the min-age and health filters)
    needs_per_run: int | None  # the even rate that holds the target; None: no cap can (the schedule)
    cap: int | None  # the per-run ceiling (None: none below what the target needs)
    limited_by: str  # what sets the cap: a tag, the execution's budget, replace mode ("" when none)
    oldest_age_days: float
    within_target_at: datetime | None  # from which run on every instance stays within; None: never
    reaches_days: float | None  # the oldest age the group settles at when the target is missed
    fix: str = ""  # the setting that would make the target hold

    @property
    def missed(self) -> bool:
        return self.within_target_at is None

    def describe(self) -> str:
        """'needs 4 per run; recycler:max-per-run 2; reaches 14.0 d; fix: ...' or the date it holds."""
        if not self.missed:
            assert self.within_target_at is not None
            return f"within the {self.target_days:g}-day target from {self.within_target_at:%a %Y-%m-%d}"
        needs = (
            f"needs {self.needs_per_run} per run"
            if self.needs_per_run is not None
            else "no per-run cap can hold it"
        )
        parts = [f"freshness target {self.target_days:g} d MISSED: {needs}"]
        if self.limited_by:
            parts.append(self.limited_by)
        if self.reaches_days is not None:
            parts.append(f"reaches {self.reaches_days:.1f} d")
        return "; ".join([*parts, f"fix: {self.fix}"] if self.fix else parts)


def latest_runs(launches: Sequence[datetime], runs: Sequence[datetime], target: timedelta) -> list[int]:
    """For each launch, the index of the last run that can still recycle it within the target: the last
    run at or before launch + target (an instance already over the target: 0, this run)."""
    return [max(0, bisect.bisect_right(runs, launched + target) - 1) for launched in launches]


def recycles_needed(launches: Sequence[datetime], runs: Sequence[datetime], target: timedelta) -> int:
    """How many of these instances (oldest first) runs[0] recycles: every one no later run can take in
    time, and more where needed so that no run before a deadline takes more than an even share of what
    falls due by then. A backlog (or instances launched together) is spread over the runs before its
    deadline, never left to the last one; a group whose deadlines are already spread recycles only what
    is due, so a small group is not recycled more often than its target needs."""
    # A deadline past the last run known does not constrain this run yet.
    latest = sorted(
        k
        for k, launched in zip(latest_runs(launches, runs, target), launches, strict=True)
        if launched + target < runs[-1]
    )
    if not latest:
        return 0
    # Instances due by run k over the runs up to k: the even rate that meets every deadline.
    rate = max(Fraction(count + 1, k + 1) for count, k in enumerate(latest))
    level = math.ceil(rate)
    # As late as that rate allows (count due by run k, less what k later runs take at the level rate),
    # but at least the whole part of the rate: instances launched together start draining now.
    as_late_as_allowed = max(count + 1 - k * level for count, k in enumerate(latest))
    return max(as_late_as_allowed, math.floor(rate), 0)


def runs_per_target(runs: Sequence[datetime], target: timedelta) -> int:
    """The fewest runs after a run that fall within the target of it, over the runs known (how many
    times, at most, an instance launched at one run can wait before it must go)."""
    fewest: int | None = None
    for index, start in enumerate(runs):
        if start + target > runs[-1]:
            break  # the runs known do not reach past this window's end
        within = bisect.bisect_right(runs, start + target) - 1 - index
        fewest = within if fewest is None else min(fewest, within)
    return fewest if fewest is not None else max(0, len(runs) - 1)


def longest_cycle(runs: Sequence[datetime], every: int) -> timedelta:
    """The longest time `every` runs take: how old an instance gets when each is replaced every that
    many runs (a cap too small for the target)."""
    if every >= len(runs):
        return runs[-1] - runs[0]
    return max(runs[i + every] - runs[i] for i in range(len(runs) - every))


def project(
    launches: Sequence[datetime],
    runs: Sequence[datetime],
    target: timedelta,
    cap: int | None,
    min_age: timedelta,
) -> datetime | None:
    """Run the plan forward at the cap (oldest first, the min age respected): the run from which every
    instance stays within the target until the next run, or None if not within the runs known."""
    ages = sorted(launches)
    if not ages:  # a group scaled to zero (or every instance still undated) has nothing to outgrow
        return runs[0]
    last_over: int | None = None
    settled = runs_per_target(runs, target) + 1  # runs within in a row that show it holds
    for index, now in enumerate(runs[:-1]):
        take = recycles_needed(ages, runs[index:], target)
        eligible = sum(1 for launched in ages if now - launched >= min_age)
        take = min(take, eligible, cap if cap is not None else take)
        ages = sorted([*ages[take:], *[now] * take])
        if runs[index + 1] - ages[0] > target:
            last_over = index
        elif index - (last_over if last_over is not None else -1) > settled:
            break  # within for a whole target's runs in a row: at this rate it stays so
    if last_over is None:
        return runs[0]
    return runs[last_over + 1] if last_over + 2 < len(runs) else None


def outlook(
    launches: Sequence[datetime],
    runs: Sequence[datetime],
    target: timedelta,
    *,
    cap: int | None,
    limited_by: str,
    fix: str,
    min_age: timedelta,
) -> Outlook:
    """The target at this cap: this run's share, the rate it needs, and when (or whether) it holds.
    `limited_by` names the cap's source and `fix` the setting that lifts it (used when it is missed;
    `{needs}` in it becomes the rate the target needs)."""
    now = runs[0]
    size = len(launches)
    every = runs_per_target(runs, target)
    needs = math.ceil(size / every) if every else None
    wanted = recycles_needed(launches, runs, target)
    this_run = min(wanted, cap) if cap is not None else wanted
    capped = cap is not None and (cap < wanted or (needs is not None and cap < needs))
    oldest = max(((now - launched).total_seconds() / DAY_SECONDS for launched in launches), default=0.0)
    base = Outlook(
        target_days=target.total_seconds() / DAY_SECONDS,
        instances=size,
        this_run=this_run,
        needs_per_run=needs,
        cap=cap,
        limited_by=limited_by if capped else "",
        oldest_age_days=round(oldest, 2),
        within_target_at=None,
        reaches_days=None,
    )
    if needs is None:
        gap = max((b - a for a, b in itertools.pairwise(runs)), default=timedelta(0))
        return _missed(
            base, gap, fix=f"runs that may act at least every {_days(target)} (the gap is {_days(gap)})"
        )
    if min_age > target:
        # A replacement may not go before its min age, yet must before the target: no rate holds it
        # (the projection alone would promise it near the end of the runs known, where no deadline binds).
        return _missed(
            base,
            min_age,
            fix=f"a min age (recycler:min-age-days, now {_days(min_age)}) no longer than the {_days(target)} target",
        )
    fix = fix.format(needs=needs)
    if cap is not None and cap < needs:
        return _missed(base, longest_cycle(runs, math.ceil(size / cap)), fix=fix)
    within = project(launches, runs, target, cap, min_age)
    if within is None:
        return _missed(base, None, fix=fix)
    return Outlook(**{**vars(base), "within_target_at": within})


def _missed(base: Outlook, reaches: timedelta | None, *, fix: str) -> Outlook:
    days = reaches.total_seconds() / DAY_SECONDS if reaches is not None else None
    return Outlook(**{**vars(base), "reaches_days": days, "fix": fix})


def _days(span: timedelta) -> str:
    return f"{span.total_seconds() / DAY_SECONDS:.1f} d"
