"""Maintenance windows as an operator writes and reads them (policy/windows.py): which spellings parse into
which days and minutes, the error that names the window and the fix, whether a run at a given local time
may act (start inclusive, end exclusive, spans across midnight, the schedule's time zone) and when the
next window opens. Pinned after mutmut found none of this covered by a unit test (CONTRIBUTING.md,
"Mutation audit")."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from recycler.domain import MaintenanceWindow
from recycler.policy.windows import in_maintenance_window, next_window_open, parse_maintenance_window

BERLIN = ZoneInfo("Europe/Berlin")
# 2026-12-07 is a Monday.
MONDAY = 7


def at(day: int, hour: int, minute: int = 0, second: int = 0, tz: ZoneInfo | None = None) -> datetime:
    """A time in the week of Monday 2026-12-07 (day 7 = Monday ... 13 = Sunday)."""
    return datetime(2026, 12, day, hour, minute, second, tzinfo=tz or UTC)


def is_open(text: str, now: datetime, zone: str = "UTC") -> bool:
    return in_maintenance_window(now, [parse_maintenance_window(text)], zone)


@pytest.mark.parametrize(
    ("text", "days", "start", "end"),
    [
        ("MON-FRI 08:00-17:00", {0, 1, 2, 3, 4}, 8 * 60, 17 * 60),
        ("SAT 22:00-02:00", {5}, 22 * 60, 2 * 60),  # across midnight: end below start
        ("FRI-MON 09:30-10:45", {4, 5, 6, 0}, 9 * 60 + 30, 10 * 60 + 45),  # days across the week's end
        ("MON-SUN 00:00-24:00", set(range(7)), 0, 24 * 60),  # always: 24:00 is the end of the day
        ("mon-tue 23:59-24:00", {0, 1}, 23 * 60 + 59, 24 * 60),  # lowercase days, the last minute
        ("  wed 08:59-09:59  ", {2}, 8 * 60 + 59, 9 * 60 + 59),  # spaces around are not part of it
    ],
)
def test_a_window_parses_into_its_weekdays_and_minutes(
    text: str, days: set[int], start: int, end: int
) -> None:
    assert parse_maintenance_window(text) == MaintenanceWindow(
        days=frozenset(days), start_minute=start, end_minute=end, text=text.strip()
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "MONDAY 08:00-17:00",
            "maintenance window 'MONDAY 08:00-17:00' must be DAY[-DAY] HH:MM-HH:MM, e.g. MON-FRI 08:00-17:00",
        ),
        ("MON 8:00-17:00", "maintenance window 'MON 8:00-17:00' must be DAY[-DAY] HH:MM-HH:MM, e.g. MON-FRI"),
        (
            "XYZ 08:00-17:00",
            "maintenance window 'XYZ 08:00-17:00': 'xyz' is not a weekday; use MON, TUE, ... SUN",
        ),
        ("MON-XYZ 08:00-17:00", "'xyz' is not a weekday; use MON, TUE, ... SUN"),
        ("MON 24:00-01:00", "maintenance window 'MON 24:00-01:00': times must be 00:00-24:00 and not empty"),
        ("MON 08:00-24:01", "times must be 00:00-24:00 and not empty"),
        ("MON 08:60-10:00", "times must be 00:00-24:00 and not empty"),  # not read as 09:00
        ("MON 08:00-09:60", "times must be 00:00-24:00 and not empty"),  # not read as 10:00
        ("MON 08:00-08:00", "times must be 00:00-24:00 and not empty"),
    ],
)
def test_a_bad_window_is_refused_with_what_to_write(text: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        parse_maintenance_window(text)
    assert message in str(refused.value)


def test_a_window_is_open_from_its_start_minute_until_just_before_its_end() -> None:
    weekdays = "MON-FRI 08:00-17:00"
    assert not is_open(weekdays, at(MONDAY, 7, 59, 59))
    assert is_open(weekdays, at(MONDAY, 8, 0))
    assert is_open(weekdays, at(MONDAY + 4, 16, 59, 59))  # Friday
    assert not is_open(weekdays, at(MONDAY, 17, 0))
    assert not is_open(weekdays, at(MONDAY + 5, 10, 0))  # Saturday is not listed


def test_a_span_across_midnight_belongs_to_the_day_it_starts() -> None:
    saturday_night = "SAT 22:00-02:00"
    assert not is_open(saturday_night, at(MONDAY + 5, 21, 59))
    assert is_open(saturday_night, at(MONDAY + 5, 22, 0))
    assert is_open(saturday_night, at(MONDAY + 6, 1, 59))  # Sunday morning: Saturday's span
    assert not is_open(saturday_night, at(MONDAY + 6, 2, 0))
    assert not is_open(saturday_night, at(MONDAY + 6, 22, 0))  # Sunday evening: Sunday is not listed
    assert not is_open(saturday_night, at(MONDAY + 5, 1, 0))  # Saturday morning: Friday is not listed


def test_sundays_span_across_midnight_runs_into_monday() -> None:
    # Monday's yesterday is Sunday: the week wraps.
    assert is_open("SUN 22:00-02:00", at(MONDAY, 1, 0))
    assert not is_open("SUN 22:00-02:00", at(MONDAY + 1, 1, 0))


def test_no_window_configured_means_runs_may_act_at_any_time() -> None:
    assert in_maintenance_window(at(MONDAY, 3, 0), [], "UTC")
    assert next_window_open(at(MONDAY, 3, 0), [], "UTC") == at(MONDAY, 3, 0)


def test_a_run_may_act_when_any_one_of_several_windows_is_open() -> None:
    windows = [parse_maintenance_window("MON 08:00-09:00"), parse_maintenance_window("MON 12:00-13:00")]
    assert in_maintenance_window(at(MONDAY, 12, 30), windows, "UTC")
    assert not in_maintenance_window(at(MONDAY, 10, 0), windows, "UTC")
    assert next_window_open(at(MONDAY, 10, 0), windows, "UTC") == at(MONDAY, 12, 0)


def test_the_window_is_read_in_the_schedules_time_zone() -> None:
    # 07:30 UTC is 08:30 in Berlin in December (UTC+1).
    assert is_open("MON-FRI 08:00-17:00", at(MONDAY, 7, 30), "Europe/Berlin")
    assert not is_open("MON-FRI 08:00-17:00", at(MONDAY, 7, 30), "UTC")


def test_inside_a_window_the_next_opening_is_now() -> None:
    now = at(MONDAY, 9, 15, 30)
    assert next_window_open(now, [parse_maintenance_window("MON-FRI 08:00-17:00")], "UTC") == now


@pytest.mark.parametrize(
    ("text", "now", "opens"),
    [
        # Friday evening: Monday morning.
        ("MON-FRI 08:00-17:00", at(MONDAY + 4, 17, 0), at(MONDAY + 7, 8, 0)),
        # Before today's opening: today.
        ("MON-FRI 08:00-17:00", at(MONDAY, 3, 0), at(MONDAY, 8, 0)),
        # A weekly window just missed: the same day next week (the seventh day ahead).
        ("MON 08:00-09:00", at(MONDAY, 9, 0), at(MONDAY + 7, 8, 0)),
        # The opening is in the same minute's next minute, late in the day.
        ("MON 23:59-24:00", at(MONDAY, 23, 58, 30), at(MONDAY, 23, 59)),
        # A span across midnight opens at its start on its own day.
        ("SAT 22:00-02:00", at(MONDAY + 6, 2, 0), at(MONDAY + 12, 22, 0)),
    ],
)
def test_the_next_opening_is_the_first_start_after_now(text: str, now: datetime, opens: datetime) -> None:
    assert next_window_open(now, [parse_maintenance_window(text)], "UTC") == opens


def test_the_next_opening_is_the_local_start_in_the_schedules_time_zone() -> None:
    # Friday 17:30 Berlin: Monday 08:00 Berlin, which is 07:00 UTC.
    opens = next_window_open(
        at(MONDAY + 4, 16, 30), [parse_maintenance_window("MON-FRI 08:00-17:00")], "Europe/Berlin"
    )
    assert opens == at(MONDAY + 7, 8, 0, tz=BERLIN)
    assert opens == at(MONDAY + 7, 7, 0)
    assert opens.utcoffset() is not None


def test_the_days_ahead_are_counted_from_the_schedules_date_not_utcs() -> None:
    # Monday 20:00 in Los Angeles is already Tuesday in UTC: tonight's Monday window is still ahead.
    los_angeles = ZoneInfo("America/Los_Angeles")
    now = at(MONDAY, 20, 0, tz=los_angeles)
    window = [parse_maintenance_window("MON 21:00-22:00")]
    assert next_window_open(now, window, "America/Los_Angeles") == at(MONDAY, 21, 0, tz=los_angeles)
