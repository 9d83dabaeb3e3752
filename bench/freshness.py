"""Fleet simulator for the freshness target: the real policy (recycler.policy.decide) on the default
settings, no AWS.

60 simulated days of the default schedule (weekdays 10:00 UTC), the runs that may act from
`Settings.upcoming_runs`, and the per-run cap a Lambda run gets: what one durable execution holds
(recycler.workflow.freshness.budget_cap over budget.py's counts, default 12 h timeout, 15-minute
health timeout, 30-minute canary bake). Groups start from a backlog (instance ages spread evenly over
60 days); each run recycles what the policy decides, every replacement is healthy and launched at the
run's time. Reported per group: days until every instance is within the target, the oldest age seen
after that (just before each later run: the worst any instance gets), recycles per week against the
minimum the target needs (N x 7 / target), and the same figures for the one-recycle-per-run policy
(no target) as the baseline.

`python -m bench.freshness` prints the table; `--write` also puts the rows in bench/results.json and
rewrites bench/README.md's table (the rest of the bench is not run).
"""

from __future__ import annotations

import json
import random
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from recycler.domain import GroupSnapshot, InstanceSnapshot
from recycler.models import ManualPayload, Settings
from recycler.policy.victims import decide
from recycler.workflow.budget import Budget
from recycler.workflow.freshness import budget_cap

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, before the first run
DAYS = 60
GOAL_RATIO = 1.2  # recycles per week at most 1.2 x the minimum the target needs


@dataclass(frozen=True)
class GroupResult:
    size: int
    policy: str
    days_to_catch_up: float | None  # None: never within the target in the simulated window
    oldest_after_catch_up: float | None
    recycles_per_week: float
    final_oldest: float
    target_days: float | None = None
    min_recycles_per_week: float | None = None  # N x 7 / target
    most_in_one_run: int = 0


def simulate(
    size: int, target_days: float | None, days: int = DAYS, seed: int = 7, cap: int | None = None
) -> GroupResult:
    rng = random.Random(seed)
    settings = Settings(max_age_days=target_days)
    rules = settings.policy()
    limits = budget_cap(settings, ManualPayload(source="schedule"), Budget())
    launches = [START - timedelta(days=60 * (n + 1) / size) for n in range(size)]
    end = START + timedelta(days=days)
    schedule = settings.upcoming_runs(START, days=days + 130, most=10_000)[1:]
    recycles = most = 0
    caught_up: datetime | None = None
    oldest_after = 0.0
    for index, now in enumerate(schedule):
        if now >= end:
            break
        instances = tuple(
            InstanceSnapshot(f"i-{n}", "InService", "Healthy", False, launched, "ami-1")
            for n, launched in enumerate(launches)
        )
        group = GroupSnapshot(
            name="sim",
            desired_capacity=size,
            min_size=1,
            max_size=size + 1,
            instances=instances,
            tags={"recycler:enabled": "true", **({"recycler:max-per-run": str(cap)} if cap else {})},
        )
        runs = [now, *schedule[index + 1 : index + 200]]
        decision = decide(group, rules, now, rng, runs=runs, budget_cap=limits)
        victims = decision.victims or ((decision.victim,) if decision.victim else ())
        if decision.recycle:
            for victim in victims:
                launches[int(victim.instance_id[2:])] = now
            recycles += len(victims)
            most = max(most, len(victims))
        # Age just before the next run: the worst any instance gets between runs.
        horizon = runs[1]
        oldest = max((horizon - launched).total_seconds() / 86400 for launched in launches)
        if target_days is not None and caught_up is None and oldest <= target_days:
            caught_up = now
        if caught_up is not None:
            oldest_after = max(oldest_after, oldest)
    final_oldest = max((end - launched).total_seconds() / 86400 for launched in launches)
    return GroupResult(
        size=size,
        policy=(f"target {target_days:g} d" + (f", max-per-run {cap}" if cap else ", default settings"))
        if target_days
        else "one per run (no target)",
        days_to_catch_up=round((caught_up - START).total_seconds() / 86400, 1) if caught_up else None,
        oldest_after_catch_up=round(oldest_after, 1) if caught_up else None,
        recycles_per_week=round(recycles / (days / 7), 1),
        final_oldest=round(final_oldest, 1),
        target_days=target_days,
        min_recycles_per_week=round(size * 7 / target_days, 1) if target_days else None,
        most_in_one_run=most,
    )


def table(sizes: tuple[int, ...] = (3, 20, 50), target_days: float = 7) -> list[GroupResult]:
    rows = []
    for size in sizes:
        rows.append(simulate(size, target_days))
        rows.append(simulate(size, None))
    return rows


def write(results: list[GroupResult]) -> None:
    """Only the freshness section of bench/results.json, and the README table rendered from it."""
    from bench import report

    stored = report.load()
    stored["freshness"] = [
        {
            **asdict(r),
            "command": "python -m bench.freshness --write",
            "date": datetime.now(UTC).date().isoformat(),
        }
        for r in results
    ]
    report.RESULTS.write_text(json.dumps(stored, indent=2) + "\n")
    report.rewrite_readme(stored)


if __name__ == "__main__":
    rows = table()
    if "--write" in sys.argv:
        write(rows)
    from bench import report

    print("\n".join("| " + " | ".join(row) + " |" for row in report.freshness([asdict(r) for r in rows])))
