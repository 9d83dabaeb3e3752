"""The freshness target: which instances are due (schedule-aware), the per-run cap and behind_by, and
the simulator's bound over 60 days."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from bench.freshness import keeping_up_cap, simulate
from recycler.domain import GroupSnapshot, InstanceSnapshot, PolicySettings, Reason
from recycler.models import Settings
from recycler.policy.victims import decide
from recycler.schedule import ScheduleError, parse_schedule

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


def test_the_cap_is_ten_percent_by_default_and_behind_by_says_what_is_left() -> None:
    rules = PolicySettings(max_age=timedelta(days=7))
    horizon = FRIDAY_RUN + timedelta(days=3)
    d = decide(group([20.0] * 12 + [1.0] * 8), rules, FRIDAY_RUN, random.Random(1), horizon=horizon)
    assert len(d.victims) == 2 and d.behind_by == 10  # ceil(10 % of 20)
    assert "behind by 10" in d.detail and "recycler:max-per-run" in d.detail
    # Replace mode never takes a group's last instance; ties are picked at random.
    small = decide(
        group([20.0, 20.0], {"recycler:max-per-run": "5"}),
        rules,
        FRIDAY_RUN,
        random.Random(1),
        horizon=horizon,
    )
    assert len(small.victims) == 1 and small.behind_by == 1
    picks = {
        decide(
            group([20.0, 20.0], {"recycler:max-per-run": "5"}),
            rules,
            FRIDAY_RUN,
            random.Random(seed),
            horizon=horizon,
        ).victim.instance_id  # type: ignore[union-attr]
        for seed in range(20)
    }
    assert picks == {"i-00", "i-01"}


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
def test_the_simulator_keeps_every_instance_within_the_target_once_caught_up(size: int) -> None:
    result = simulate(size, 7, cap=keeping_up_cap(size, 7))
    assert result.days_to_catch_up is not None and result.days_to_catch_up <= 14
    assert result.oldest_after_catch_up is not None and result.oldest_after_catch_up <= 7
    baseline = simulate(size, None)
    assert result.final_oldest <= 7 and (size < 10 or baseline.final_oldest > 14)
