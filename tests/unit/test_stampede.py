"""The stampede guard's pure policy: window edges, cron recurrence in a time zone, predictive forecasts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recycler.domain import Decision, GroupSnapshot, Reason
from recycler.policy.stampede import (
    SCALE_OUT_MARGIN,
    CapacityForecast,
    Cron,
    RecurrenceError,
    ScaleOutPlans,
    ScheduledAction,
    guard_scale_out,
    occurrences,
)

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # a Wednesday, New York on daylight time (UTC-4)
WORST = timedelta(minutes=30)
WINDOW = WORST + SCALE_OUT_MARGIN  # 60 minutes
GROUP = GroupSnapshot(name="web", desired_capacity=4, min_size=2, max_size=10, instances=())
PLANNED = Decision(group="web", recycle=True, reason=Reason.OLDEST_INSTANCE.value)


def judged(*actions: ScheduledAction, forecasts: tuple[CapacityForecast, ...] = ()) -> Decision:
    return guard_scale_out(PLANNED, GROUP, ScaleOutPlans(actions, forecasts), NOW, WORST)


def deferred(decision: Decision) -> bool:
    return not decision.recycle and decision.reason == Reason.SCALE_OUT_IMMINENT.value


def test_a_one_off_just_inside_the_window_defers_and_exactly_at_its_end_does_not() -> None:
    inside = ScheduledAction("sale", start=NOW + WINDOW - timedelta(seconds=1), desired_capacity=8)
    at_end = ScheduledAction("sale", start=NOW + WINDOW, desired_capacity=8)
    assert deferred(judged(inside))
    assert judged(at_end).recycle  # the window is [now, now + worst case + margin)


def test_a_one_off_at_now_defers_and_one_in_the_past_does_not() -> None:
    assert deferred(judged(ScheduledAction("sale", start=NOW, desired_capacity=8)))
    assert judged(ScheduledAction("sale", start=NOW - timedelta(minutes=1), desired_capacity=8)).recycle


def test_lowering_or_keeping_capacity_never_defers() -> None:
    soon = NOW + timedelta(minutes=10)
    assert judged(ScheduledAction("night", start=soon, desired_capacity=2, min_size=1)).recycle
    assert judged(ScheduledAction("same", start=soon, desired_capacity=4, min_size=2)).recycle


def test_raising_min_size_alone_defers() -> None:
    assert deferred(judged(ScheduledAction("floor", start=NOW + timedelta(minutes=10), min_size=3)))


def test_the_detail_names_the_action_its_utc_time_and_when_the_group_is_eligible() -> None:
    decision = judged(ScheduledAction("flash-sale", start=NOW + timedelta(minutes=20), desired_capacity=8))
    assert "scheduled action 'flash-sale'" in decision.detail
    assert "2026-07-01 12:20 UTC" in decision.detail
    assert "eligible on a run after 2026-07-01 12:20 UTC" in decision.detail
    assert "desired 4 -> 8" in decision.detail


def test_recurrence_is_read_in_its_time_zone_with_daylight_time() -> None:
    # 08:30 in New York in July is 12:30 UTC: inside; the same cron in UTC is 08:30 UTC: outside.
    new_york = ScheduledAction(
        "peak", recurrence="30 8 * * *", time_zone="America/New_York", desired_capacity=8
    )
    utc = ScheduledAction("peak", recurrence="30 8 * * *", desired_capacity=8)
    assert deferred(judged(new_york))
    assert judged(utc).recycle
    assert "2026-07-01 12:30 UTC" in judged(new_york).detail


def test_recurrence_in_winter_moves_with_the_zone() -> None:
    winter = datetime(2026, 1, 7, 13, 0, tzinfo=UTC)  # New York on standard time (UTC-5)
    action = ScheduledAction("peak", recurrence="30 8 * * *", time_zone="America/New_York")
    assert list(occurrences(action, winter, winter + timedelta(hours=1))) == [winter + timedelta(minutes=30)]


def test_recurrence_respects_start_and_end_and_runs_first_at_start() -> None:
    every_15 = "*/15 * * * *"
    ended = ScheduledAction("x", recurrence=every_15, end=NOW - timedelta(minutes=1), desired_capacity=8)
    later = ScheduledAction(
        "x", recurrence=every_15, start=NOW + WINDOW + timedelta(minutes=5), desired_capacity=8
    )
    assert judged(ended).recycle and judged(later).recycle
    first = ScheduledAction("x", recurrence="0 0 1 1 *", start=NOW + timedelta(minutes=7))
    assert list(occurrences(first, NOW, NOW + WINDOW)) == [NOW + timedelta(minutes=7)]


def test_cron_day_of_month_and_day_of_week_match_either_when_both_are_set() -> None:
    cron = Cron.parse("0 12 15 * MON")
    assert cron.matches(datetime(2026, 7, 15, 12, 0))  # the 15th, a Wednesday
    assert cron.matches(datetime(2026, 7, 6, 12, 0))  # a Monday
    assert not cron.matches(datetime(2026, 7, 7, 12, 0))
    assert Cron.parse("0 12 * * 7").matches(datetime(2026, 7, 5, 12, 0))  # 7 is Sunday too
    assert Cron.parse("0 9-17/4 * JAN-DEC 1-5").hours == frozenset({9, 13, 17})


def test_cron_with_one_day_field_set_matches_only_that_field() -> None:
    """Only when both day fields are restricted does either match (cron's rule); a weekly sale must not
    hold the group back every day, nor a monthly one every Monday."""
    weekly = Cron.parse("0 12 * * MON")
    assert weekly.matches(datetime(2026, 7, 6, 12, 0))  # a Monday
    assert not weekly.matches(datetime(2026, 7, 7, 12, 0))  # a Tuesday
    monthly = Cron.parse("0 12 15 * *")
    assert monthly.matches(datetime(2026, 7, 15, 12, 0))
    assert not monthly.matches(datetime(2026, 7, 6, 12, 0))  # a Monday, not the 15th
    # The Wednesday the plan runs (NOW): Monday's sale is days away, not in the next hour.
    assert judged(ScheduledAction("mondays", recurrence="30 12 * * MON", desired_capacity=8)).recycle


def test_a_recurrence_due_at_the_very_minute_the_window_opens_is_in_it() -> None:
    noon = ScheduledAction("noon", recurrence="0 12 * * *", desired_capacity=8)
    assert list(occurrences(noon, NOW, NOW + timedelta(minutes=1))) == [NOW]  # NOW is 12:00:00 sharp
    assert deferred(judged(noon))


@pytest.mark.parametrize(
    ("expression", "named"),
    [("61 * * * *", "cron value '61' outside 0-59"), ("0 12 x * *", "cron value 'x'")],
)
def test_a_recurrence_it_cannot_read_names_the_value(expression: str, named: str) -> None:
    with pytest.raises(RecurrenceError, match=named):
        Cron.parse(expression)
    assert named in judged(ScheduledAction("odd", recurrence=expression, desired_capacity=8)).detail


@pytest.mark.parametrize("expression", ["0 12 * *", "61 * * * *", "0 12 L * *", "0 12 * * MON#2"])
def test_a_recurrence_it_cannot_read_is_not_recycled(expression: str) -> None:
    with pytest.raises(RecurrenceError):
        Cron.parse(expression)
    decision = judged(ScheduledAction("odd", recurrence=expression, desired_capacity=8))
    assert deferred(decision) and "could not tell" in decision.detail


def test_an_unknown_time_zone_is_not_recycled() -> None:
    assert deferred(
        judged(ScheduledAction("x", recurrence="0 0 * * *", time_zone="Mars/Olympus", desired_capacity=8))
    )


def test_plans_that_could_not_be_read_are_not_recycled() -> None:
    decision = guard_scale_out(PLANNED, GROUP, ScaleOutPlans(unknown="AccessDenied"), NOW, WORST)
    assert deferred(decision) and "AccessDenied" in decision.detail


def forecast(*points: tuple[timedelta, float], buffer: timedelta = timedelta(minutes=5)) -> CapacityForecast:
    return CapacityForecast("cpu", tuple((NOW + at, value) for at, value in points), buffer)


def test_a_forecast_above_desired_launching_in_the_window_defers() -> None:
    # The 13:00 point launches at 12:55 (the 5-minute buffer), inside [12:00, 13:00).
    decision = judged(forecasts=(forecast((timedelta(0), 4), (timedelta(hours=1), 4.2)),))
    assert deferred(decision) and "predictive scaling policy 'cpu'" in decision.detail
    assert "2026-07-01 12:55 UTC" in decision.detail


def test_a_forecast_at_or_below_desired_or_launching_after_the_window_does_not() -> None:
    assert judged(forecasts=(forecast((timedelta(hours=1), 4.0)),)).recycle
    assert judged(forecasts=(forecast((timedelta(hours=1), 9), buffer=timedelta(0)),)).recycle  # at the end
    assert judged(forecasts=(forecast((timedelta(hours=2), 9)),)).recycle
    assert judged(forecasts=(forecast((timedelta(0), 9)),)).recycle  # this hour's: already applied


def test_a_skipped_group_stays_skipped() -> None:
    skipped = PLANNED.skipped(Reason.TOO_YOUNG, "young")
    assert guard_scale_out(skipped, GROUP, ScaleOutPlans(unknown="x"), NOW, WORST) == skipped


def test_the_window_is_the_recycles_worst_case_health_waits_drain_bake_and_victims() -> None:
    from recycler.domain import ContainerHost, InstanceSnapshot, Mode
    from recycler.models import ManualPayload
    from recycler.workflow.scale_outs import worst_case

    victim = InstanceSnapshot("i-1", "InService", "Healthy", False)
    surge = Decision(
        group="web",
        recycle=True,
        reason=Reason.OLDEST_INSTANCE.value,
        mode=Mode.SURGE,
        health_timeout_seconds=600,
        bake_seconds=1800,
        host=ContainerHost("ecs", "c", recycler_drains=True, drain_timeout_seconds=300),
        victims=(victim, victim),
    )
    # Two recycles, each a drain and two health waits (a surge across zones), and one bake.
    assert worst_case(surge, ManualPayload()) == timedelta(seconds=(300 + 2 * 600) * 2 + 1800)
    # A drill's health timeout replaces the plan's; a launch hook's longer limit counts.
    assert worst_case(surge, ManualPayload(health_timeout_seconds=60)) == timedelta(
        seconds=(300 + 120) * 2 + 1800
    )
    hooked = Decision(
        group="web", recycle=True, reason="", health_timeout_seconds=600, launch_hook_limit_seconds=3600
    )
    assert worst_case(hooked, ManualPayload()) == timedelta(seconds=3600)
