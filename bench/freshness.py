"""Fleet simulator for the freshness target: the real policy (recycler.policy.decide), no AWS.

60 simulated days of a weekday schedule (10:00 UTC, Mon-Fri). Groups start from a backlog (instance
ages spread evenly over 60 days); each run recycles what the policy decides, every replacement is
healthy and launched at the run's time. Reported per group: days until every instance is within the
target, the oldest age seen after that (must stay <= target), and recycles per week; and the same
figures for the one-recycle-per-run policy (no target) as the baseline.

`python -m bench.freshness` prints the table; tests/unit/test_freshness.py holds its bound.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from recycler.domain import GroupSnapshot, InstanceSnapshot, PolicySettings
from recycler.policy.victims import decide
from recycler.schedule import parse_schedule

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday, before the first run
WEEKDAYS = "cron(0 10 ? * MON-FRI *)"


@dataclass(frozen=True)
class GroupResult:
    size: int
    policy: str
    days_to_catch_up: float | None  # None: never within the target in the simulated window
    oldest_after_catch_up: float | None
    recycles_per_week: float
    final_oldest: float


def keeping_up_cap(size: int, target_days: float, runs_per_week: int = 5) -> int:
    """The per-run cap that replaces a whole group within the target: size / runs inside the target,
    counting the runs a weekday schedule makes in `target_days` (a weekend has none)."""
    runs_within = max(1, int(target_days * runs_per_week / 7))
    return -(-size // runs_within)


def simulate(
    size: int, target_days: float | None, days: int = 60, seed: int = 7, cap: int | None = None
) -> GroupResult:
    rng = random.Random(seed)
    schedule = parse_schedule(WEEKDAYS)
    rules = PolicySettings(max_age=timedelta(days=target_days) if target_days else None)
    launches = [START - timedelta(days=60 * (n + 1) / size) for n in range(size)]
    end = START + timedelta(days=days)
    now = schedule.next(START)
    recycles = 0
    counter = 0
    caught_up: datetime | None = None
    oldest_after = 0.0
    while now < end:
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
        horizon = schedule.next(now)
        decision = decide(group, rules, now, rng, horizon=horizon)
        if decision.recycle:
            victims = decision.victims or ((decision.victim,) if decision.victim else ())
            for victim in victims:
                launches[int(victim.instance_id[2:])] = now
                recycles += 1
                counter += 1
        # Age just before the next run: the worst any instance gets between runs.
        oldest = max((horizon - launched).total_seconds() / 86400 for launched in launches)
        if target_days is not None and caught_up is None and oldest <= target_days:
            caught_up = now
        if caught_up is not None:
            oldest_after = max(oldest_after, oldest)
        now = horizon
    final_oldest = max((end - launched).total_seconds() / 86400 for launched in launches)
    return GroupResult(
        size=size,
        policy=(f"target {target_days:g} d" + (f", cap {cap}" if cap else ", default cap"))
        if target_days
        else "one per run (no target)",
        days_to_catch_up=round((caught_up - START).total_seconds() / 86400, 1) if caught_up else None,
        oldest_after_catch_up=round(oldest_after, 1) if caught_up else None,
        recycles_per_week=round(recycles / (days / 7), 1),
        final_oldest=round(final_oldest, 1),
    )


def table(sizes: tuple[int, ...] = (3, 20, 50), target_days: float = 7) -> list[GroupResult]:
    rows = []
    for size in sizes:
        rows.append(simulate(size, target_days))
        cap = keeping_up_cap(size, target_days)
        if cap > max(1, -(-size // 10)):
            rows.append(simulate(size, target_days, cap=cap))
        rows.append(simulate(size, None))
    return rows


def catch_up(result: GroupResult) -> str:
    if result.policy.startswith("one per run"):
        return "-"
    return str(result.days_to_catch_up) if result.days_to_catch_up is not None else "never (behind)"


def render(results: list[GroupResult]) -> str:
    lines = [
        "| instances | policy | days to catch up | oldest after catch-up (d) | recycles / week | oldest at day 60 (d) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.size} | {r.policy} | {catch_up(r)} | "
            f"{r.oldest_after_catch_up if r.oldest_after_catch_up is not None else '-'} | "
            f"{r.recycles_per_week} | {r.final_oldest} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(table()))
