"""Maintenance windows: when runs may act (e.g. `MON-FRI 08:00-17:00` in the schedule's time zone), so a
new image published at 03:00 is tried at 08:00, while people are there to read the alert. Blackouts
still win (guards.run_guard checks both)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from recycler.domain import WEEKDAYS, MaintenanceWindow

WINDOW = re.compile(
    r"^(?P<first>[A-Za-z]{3})(?:-(?P<last>[A-Za-z]{3}))?\s+(?P<start>\d{2}):(?P<sm>\d{2})-(?P<end>\d{2}):(?P<em>\d{2})$"
)
# How far ahead next_open looks: every window recurs within a week.
WEEK = timedelta(days=7)


def parse_maintenance_window(text: str) -> MaintenanceWindow:
    """`MON-FRI 08:00-17:00`, `SAT 22:00-02:00` (across midnight) or `MON-SUN 00:00-24:00`."""
    match = WINDOW.match(text.strip())
    if not match:
        raise ValueError(
            f"maintenance window {text!r} must be DAY[-DAY] HH:MM-HH:MM, e.g. MON-FRI 08:00-17:00"
        )
    first, last = match["first"].lower(), (match["last"] or match["first"]).lower()
    for day in (first, last):
        if day not in WEEKDAYS:
            raise ValueError(f"maintenance window {text!r}: {day!r} is not a weekday; use MON, TUE, ... SUN")
    start = int(match["start"]) * 60 + int(match["sm"])
    end = int(match["end"]) * 60 + int(match["em"])
    if start >= 24 * 60 or end > 24 * 60 or int(match["sm"]) > 59 or int(match["em"]) > 59 or start == end:
        raise ValueError(f"maintenance window {text!r}: times must be 00:00-24:00 and not empty")
    a, b = WEEKDAYS.index(first), WEEKDAYS.index(last)
    days = frozenset(range(a, b + 1)) if a <= b else frozenset((*range(a, 7), *range(0, b + 1)))
    return MaintenanceWindow(days=days, start_minute=start, end_minute=end, text=text.strip())


def _open_at(window: MaintenanceWindow, local: datetime) -> bool:
    minute = local.hour * 60 + local.minute
    if window.start_minute < window.end_minute:
        return local.weekday() in window.days and window.start_minute <= minute < window.end_minute
    # Across midnight: the span started on a listed day, today after start or yesterday before end.
    yesterday = (local.weekday() - 1) % 7
    return (local.weekday() in window.days and minute >= window.start_minute) or (
        yesterday in window.days and minute < window.end_minute
    )


def in_maintenance_window(now: datetime, windows: Sequence[MaintenanceWindow], zone: str) -> bool:
    """True when no windows are configured (runs may act any time) or `now` is inside one."""
    if not windows:
        return True
    local = now.astimezone(ZoneInfo(zone))
    return any(_open_at(w, local) for w in windows)


def next_window_open(now: datetime, windows: Sequence[MaintenanceWindow], zone: str) -> datetime:
    """The first minute at or after `now` inside a window (now itself when open)."""
    if in_maintenance_window(now, windows, zone):
        return now
    tz = ZoneInfo(zone)
    local = now.astimezone(tz).replace(second=0, microsecond=0) + timedelta(minutes=1)
    candidates = []
    for day in range(8):
        date = (local + timedelta(days=day)).date()
        for window in windows:
            if date.weekday() in window.days:
                hours, minutes = divmod(window.start_minute, 60)
                opening = datetime(date.year, date.month, date.day, hours, minutes, tzinfo=tz)
                if opening > now:
                    candidates.append(opening)
    return min(candidates) if candidates else now + WEEK
