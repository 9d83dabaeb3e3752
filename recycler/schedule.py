"""When the next scheduled run is: EventBridge cron expressions, in the schedule's time zone.

The freshness target replaces every instance that would outgrow it before the next run, so a run must
know when that is: Friday's run of a weekday schedule covers the weekend, and a blackout pushes the
next run further out. Pure stdlib; supports the cron fields a daily schedule uses (numbers, lists,
ranges, `*`, `?`, day names) and says clearly when an expression is beyond that.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}  # EventBridge: 1 = Sunday
CRON = re.compile(r"^cron\((.+)\)$")
RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
LOOKAHEAD_DAYS = 400


class ScheduleError(ValueError):
    """A schedule expression recycler cannot read."""


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    if field in ("*", "?"):
        return frozenset(range(low, high + 1))
    found: set[int] = set()
    for item in field.split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            first, last = part.split("-", 1)
            start, end = _number(first, names), _number(last, names)
        else:
            start = end = _number(part, names)
        found.update(range(start, end + 1, step))
    return frozenset(found)


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ScheduleError(f"cron field value {text!r} is not supported; use numbers, ranges or day names")
    return int(text)


@dataclass(frozen=True)
class Schedule:
    """A recurring schedule: next(after) is the first run strictly after `after`."""

    next: Callable[[datetime], datetime]


def parse_schedule(expression: str, time_zone: str = "UTC") -> Schedule:
    """cron(min hour day-of-month month day-of-week year) or rate(N unit), as EventBridge Scheduler
    reads them, in `time_zone`."""
    zone = ZoneInfo(time_zone)
    rate = RATE.match(expression.strip())
    if rate:
        amount, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        every = timedelta(**{f"{unit}s": amount})
        return Schedule(next=lambda after: after + every)
    cron = CRON.match(expression.strip())
    if not cron:
        raise ScheduleError(f"schedule {expression!r} is neither cron(...) nor rate(...)")
    fields = cron.group(1).split()
    if len(fields) != 6:
        raise ScheduleError(f"schedule {expression!r} needs 6 cron fields (min hour dom month dow year)")
    minute_f, hour_f, dom_f, month_f, dow_f, _year = fields
    if any(c in f for f in (dom_f, dow_f) for c in "LW#"):
        raise ScheduleError(f"schedule {expression!r}: L, W and # are not supported")
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
    if "?" not in (dom_f, dow_f):
        raise ScheduleError(f"schedule {expression!r}: EventBridge needs ? in day-of-month or day-of-week")
    minutes = sorted(_values(minute_f, 0, 59))
    hours = sorted(_values(hour_f, 0, 23))
    days = _values(dom_f, 1, 31)
    months = _values(month_f, 1, 12)
    weekdays = _values(dow_f, 1, 7, DAY_NAMES)

    def next_run(after: datetime) -> datetime:
        local = after.astimezone(zone)
        for offset in range(LOOKAHEAD_DAYS):
            day = (local + timedelta(days=offset)).date()
            eventbridge_weekday = (day.isoweekday() % 7) + 1  # Sunday = 1
            if day.month not in months or day.day not in days or eventbridge_weekday not in weekdays:
                continue
            for hour in hours:
                for minute in minutes:
                    moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
                    if moment > local:
                        return moment.astimezone(after.tzinfo)
        raise ScheduleError(f"schedule {expression!r} has no run within {LOOKAHEAD_DAYS} days")

    return Schedule(next=next_run)


def next_run_outside(
    schedule: Schedule, now: datetime, blocked: Callable[[datetime], bool], limit: int = 60
) -> datetime:
    """The next scheduled run after `now` that is not blocked (a blackout window or weekday)."""
    moment = schedule.next(now)
    for _ in range(limit):
        if not blocked(moment):
            return moment
        moment = schedule.next(moment)
    return moment
