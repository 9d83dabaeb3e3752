"""The freshness target: which instances are due (schedule-aware), the rate that spreads the rest over
the runs before their deadlines, the per-run cap and whether the target holds at it, and the
simulator's bound over 60 days on the default settings."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bench.freshness import GOAL_RATIO, simulate
from recycler.domain import GroupSnapshot, InstanceSnapshot, Mode, PolicySettings, Reason
from recycler.models import ManualPayload, Settings
from recycler.policy.freshness import outlook, recycles_needed
from recycler.policy.victims import decide
from recycler.schedule import ScheduleError, parse_schedule
from recycler.workflow.budget import Budget
from recycler.workflow.freshness import budget_cap

FRIDAY_RUN = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
WEEKDAYS = "cron(0 10 ? * MON-FRI *)"


def group(
    ages_days: list[float], tags: dict[str, str] | None = None, now: datetime = FRIDAY_RUN
) -> GroupSnapshot:
    return GroupSnapshot(
        name="web",
        desired_capacity=len(ages_days),
        min_size=1,
        max_size=len(ages_days) + 1,
        instances=tuple(
            InstanceSnapshot(f"i-{n:02d}", "InService", "Healthy", False, now - timedelta(days=age), "ami-1")
            for n, age in enumerate(ages_days)
        ),
        tags={"recycler:enabled": "true", **(tags or {})},
    )


def test_fridays_run_covers_the_weekend() -> None:
    schedule = parse_schedule(WEEKDAYS)
    assert schedule.next(FRIDAY_RUN) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)  # Monday
    assert schedule.next(datetime(2026, 11, 30, 9, 0, tzinfo=UTC)) == datetime(
        2026, 11, 30, 10, 0, tzinfo=UTC
    )


def test_the_schedules_time_zone_is_honoured() -> None:
    berlin = parse_schedule(WEEKDAYS, "Europe/Berlin")
    assert berlin.next(FRIDAY_RUN) == datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # 10:00 CET


def test_a_blackout_pushes_the_horizon_out() -> None:
    assert Settings().next_run(FRIDAY_RUN) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    no_mondays = Settings(blackout_weekdays=("Mon",))
    assert no_mondays.next_run(FRIDAY_RUN) == datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    window = Settings(blackout_windows=("2026-11-30T00:00Z/2026-12-02T00:00Z",))
    assert window.next_run(FRIDAY_RUN) == datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


def test_an_unreadable_schedule_is_refused_by_name() -> None:
    with pytest.raises(ScheduleError, match="L, W and #"):
        parse_schedule("cron(0 10 L * ? *)")
    with pytest.raises(ValueError, match="schedule_expression"):
        Settings(schedule_expression="every day")


def test_due_instances_are_the_ones_that_outgrow_the_target_by_the_next_run() -> None:
    rules = PolicySettings(max_age=timedelta(days=7))
    ages = [9, 8, 6, 5, 4.5, 3.9, 2, 1, 0.5, 0.2]
    horizon = parse_schedule(WEEKDAYS).next(FRIDAY_RUN)  # Monday: 3 days on
    d = decide(
        group(ages, {"recycler:max-per-run": "9"}), rules, FRIDAY_RUN, random.Random(1), horizon=horizon
    )
    assert d.recycle and [v.instance_id for v in d.victims] == ["i-00", "i-01", "i-02", "i-03", "i-04"]
    assert d.behind_by == 0 and d.victim == d.victims[0]
    # On a Thursday the next run is a day away: fewer are due.
    thursday = FRIDAY_RUN - timedelta(days=1)
    d = decide(
        group(ages, {"recycler:max-per-run": "9"}, thursday),
        rules,
        thursday,
        random.Random(1),
        horizon=FRIDAY_RUN,
    )
    assert [v.instance_id for v in d.victims] == ["i-00", "i-01"]  # 6 days + 1 is not over 7


def test_without_a_tag_the_cap_is_what_the_target_needs_bounded_by_the_budget() -> None:
    settings = Settings(max_age_days=7)
    runs = settings.upcoming_runs(FRIDAY_RUN)
    limits = budget_cap(settings, ManualPayload(), Budget())
    assert limits is not None
    held = limits(Mode.REPLACE, 900)
    assert 10 < held < 60  # 12 h at worst-case 15-minute health waits, less the canary's bake
    backlog = group([20.0] * 12 + [1.0] * 8)
    d = decide(backlog, settings.policy(), FRIDAY_RUN, random.Random(1), runs=runs, budget_cap=limits)
    assert len(d.victims) == 12 and d.behind_by == 0  # no longer 10 % of desired
    big = group([20.0] * 80)
    d = decide(big, settings.policy(), FRIDAY_RUN, random.Random(1), runs=runs, budget_cap=limits)
    assert len(d.victims) == held and d.behind_by == 80 - held
    assert d.freshness.limited_by == f"one execution's budget holds {held} recycles of this group"
    assert not d.freshness.missed  # drains over the next runs, then holds
    # Replace mode never takes a group's last instance; ties are picked at random.
    picks = {
        decide(
            group([20.0, 20.0]), settings.policy(), FRIDAY_RUN, random.Random(seed), runs=runs
        ).victim.instance_id  # type: ignore[union-attr]
        for seed in range(20)
    }
    assert picks == {"i-00", "i-01"}


def test_instances_launched_together_are_spread_over_the_runs_before_their_deadline() -> None:
    target = timedelta(days=7)
    runs = [FRIDAY_RUN + timedelta(days=day) for day in range(30)]  # daily runs
    launches = [FRIDAY_RUN - timedelta(days=1)] * 6  # all six launched yesterday
    taken = []
    for day in range(7):
        take = recycles_needed(launches, runs[day:], target)
        launches = sorted(launches)[take:] + [runs[day]] * take
        taken.append(take)
    assert sum(taken) == 6 and max(taken) == 1  # one a run, not all in the last run before the deadline
    # Every one of them due now: the target leaves no other choice.
    overdue = [FRIDAY_RUN - timedelta(days=8)] * 6
    assert recycles_needed(overdue, runs, target) == 6
    # Deadlines already spread: only what is due, so a small group is not recycled more than needed.
    spread = [FRIDAY_RUN - timedelta(days=age) for age in (6.5, 4, 1.5)]
    assert recycles_needed(spread, runs, target) == 1


def test_a_target_the_cap_cannot_hold_says_so_with_the_numbers() -> None:
    settings = Settings(max_age_days=7)
    runs = settings.upcoming_runs(FRIDAY_RUN)
    ages = [60 * (n + 1) / 20 for n in range(20)]
    d = decide(
        group(ages, {"recycler:max-per-run": "2"}), settings.policy(), FRIDAY_RUN, random.Random(1), runs=runs
    )
    seen = d.freshness
    assert seen.missed and (seen.needs_per_run, seen.cap) == (4, 2)
    assert seen.reaches_days == pytest.approx(14.0)
    assert d.detail.startswith(
        "freshness target 7 d MISSED: needs 4 per run; recycler:max-per-run 2; reaches 14.0 d; "
        "fix: set the tag recycler:max-per-run to 4 (or remove it)"
    )
    # The same group without the tag holds the target, and says from when.
    d = decide(group(ages), settings.policy(), FRIDAY_RUN, random.Random(1), runs=runs)
    assert not d.freshness.missed and d.freshness.within_target_at is not None
    # A target shorter than the weekend's gap cannot hold at any cap.
    short = Settings(max_age_days=2)
    d = decide(
        group([5, 1, 1]), short.policy(), FRIDAY_RUN, random.Random(1), runs=short.upcoming_runs(FRIDAY_RUN)
    )
    assert d.freshness.missed and d.freshness.needs_per_run is None
    assert "runs that may act at least every 2.0 d (the gap is 3.0 d)" in d.detail


def test_a_group_within_its_target_is_skipped_with_the_reason() -> None:
    rules = PolicySettings(max_age=timedelta(days=30))
    d = decide(group([9, 8]), rules, FRIDAY_RUN, random.Random(1), horizon=FRIDAY_RUN + timedelta(days=3))
    assert d.reason == Reason.WITHIN_TARGET and "younger than 30 days" in d.detail


def test_a_bad_target_tag_is_refused_by_name() -> None:
    rules = PolicySettings()
    for tags in ({"recycler:max-age-days": "soon"}, {"recycler:max-per-run": "0"}):
        d = decide(group([9, 8], tags), rules, FRIDAY_RUN, random.Random(1), horizon=FRIDAY_RUN)
        assert d.reason == Reason.INVALID_TAG and next(iter(tags)) in d.detail


@pytest.mark.parametrize("size", [3, 20, 50])
def test_the_simulator_holds_the_target_on_default_settings(size: int) -> None:
    result = simulate(size, 7)
    assert result.days_to_catch_up is not None and result.days_to_catch_up <= 7
    assert result.oldest_after_catch_up is not None and result.oldest_after_catch_up <= 7
    assert result.min_recycles_per_week is not None
    assert result.recycles_per_week <= GOAL_RATIO * result.min_recycles_per_week
    baseline = simulate(size, None)
    assert result.final_oldest <= 7 and (size < 10 or baseline.final_oldest > 14)


def test_a_group_with_a_target_and_no_instances_is_within_it() -> None:
    """A group scaled to zero (fleet reads every group with a target): nothing can outgrow the target,
    so the outlook says within from now, not a crash that takes the whole fleet report down."""
    runs = [datetime(2026, 12, 7, 10, tzinfo=UTC) + timedelta(days=n) for n in range(15)]
    found = outlook([], runs, timedelta(days=7), cap=3, limited_by="", fix="", min_age=timedelta(0))
    assert (found.instances, found.this_run, found.within_target_at) == (0, 0, runs[0])
