"""The stampede guard: do not take an instance from a group that is about to need every one it has.

A scheduled action or a predictive scaling policy about to scale a group out says its owner expects
load (a flash sale at a known hour). Replacing an instance then is the outage recycler exists to
prevent: the group is one instance short exactly when it scales. So a group whose scale-out falls
within its recycle's worst case (health waits, drain, bake; workflow/budget.worst_case_seconds) plus
SCALE_OUT_MARGIN is skipped with `scale-out-imminent`, and recycled by a run after it.

What AWS documents, and this module follows:
- Scheduled actions (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-scheduled-scaling.html,
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_PutScheduledUpdateGroupAction.html):
  StartTime alone is a one-off in UTC; Recurrence is Unix cron, five fields ([Minute] [Hour]
  [Day_of_Month] [Month_of_Year] [Day_of_Week]), in UTC unless TimeZone names an IANA zone; with
  Recurrence and StartTime the action runs at StartTime, then on the recurrence; StartTime and EndTime
  bound a recurrence.
- Predictive scaling (https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-predictive-scaling.html,
  https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_GetPredictiveScalingForecast.html,
  API_PredictiveScalingConfiguration): only Mode ForecastAndScale scales (ForecastOnly, the default,
  does not); the capacity forecast is hourly; instances launch SchedulingBufferTime (default 300 s)
  before the forecast's hour. A forecast above the group's desired capacity is a scale-out (capacity
  is whole instances: 3.2 means 4).

Pure: the adapter (recycler/aws/scaling_schedule.py) reads; planning passes the window in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from recycler import messages
from recycler.domain import Decision, GroupSnapshot, Reason

# Added to a recycle's worst case: a planned group may start some minutes after the plan (it waits for
# a slot among max_concurrency), Auto Scaling runs a scheduled action within a minute or so of its time,
# and the group is not steady again until the scale-out's instances pass their health checks. 30 minutes
# covers those on a typical run; the guard is not re-checked right before the terminate (docs/scale-outs.md).
SCALE_OUT_MARGIN = timedelta(minutes=30)
DEFAULT_SCHEDULING_BUFFER = timedelta(seconds=300)

MONTH_NAMES = {
    m: n
    for n, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
DAY_NAMES = {
    d: n for n, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])
}  # cron: 0 = Sunday


class RecurrenceError(ValueError):
    """A Recurrence this guard cannot read: the group is not recycled (when in doubt, do not terminate)."""


@dataclass(frozen=True)
class ScheduledAction:
    """One scheduled action of a group, as DescribeScheduledActions returns it (times in UTC)."""

    name: str
    start: datetime | None = None
    end: datetime | None = None
    recurrence: str | None = None
    time_zone: str | None = None
    desired_capacity: int | None = None
    min_size: int | None = None


@dataclass(frozen=True)
class CapacityForecast:
    """A ForecastAndScale predictive policy's capacity forecast: (hour, capacity) points in UTC."""

    policy: str
    points: tuple[tuple[datetime, float], ...]
    buffer: timedelta = DEFAULT_SCHEDULING_BUFFER


@dataclass(frozen=True)
class ScaleOutPlans:
    """What may scale a group out: its scheduled actions and its predictive forecasts. `unknown` says why
    they could not be read (then the group is not recycled)."""

    actions: tuple[ScheduledAction, ...] = ()
    forecasts: tuple[CapacityForecast, ...] = ()
    unknown: str | None = None


@dataclass(frozen=True)
class ScaleOut:
    """The first scale-out within the window: what causes it, when, and to what."""

    cause: str
    at: datetime
    capacity: str


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    found: set[int] = set()
    for item in text.split(","):
        part, _, step_text = item.partition("/")
        if step_text and not step_text.isdigit():
            raise RecurrenceError(f"cron step {step_text!r}")
        step = int(step_text) if step_text else 1
        if part == "*":
            first, last = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            first, last = _number(a, names), _number(b, names)
        else:
            first = _number(part, names)
            last = high if step_text else first
        if not (low <= first <= high and low <= last <= high) or step < 1:
            raise RecurrenceError(f"cron value {item!r} outside {low}-{high}")
        found.update(range(first, last + 1, step))
    return frozenset(found)


def _number(text: str, names: dict[str, int]) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise RecurrenceError(f"cron value {text!r}")
    return int(text)


@dataclass(frozen=True)
class Cron:
    """A Unix cron expression (five fields). As in cron, when both day-of-month and day-of-week are
    restricted, a day matching either runs; day-of-week 7 is Sunday, like 0."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    either_day: bool

    @classmethod
    def parse(cls, expression: str) -> Cron:
        fields = expression.split()
        if len(fields) != 5:
            raise RecurrenceError(f"{expression!r} is not five cron fields")
        minute, hour, dom, month, dow = fields
        weekdays = frozenset(d % 7 for d in _field(dow, 0, 7, DAY_NAMES))
        return cls(
            minutes=_field(minute, 0, 59, {}),
            hours=_field(hour, 0, 23, {}),
            days=_field(dom, 1, 31, {}),
            months=_field(month, 1, 12, MONTH_NAMES),
            weekdays=weekdays,
            either_day=not dom.startswith("*") and not dow.startswith("*"),
        )

    def matches(self, local: datetime) -> bool:
        if local.minute not in self.minutes or local.hour not in self.hours or local.month not in self.months:
            return False
        by_date, by_weekday = local.day in self.days, (local.isoweekday() % 7) in self.weekdays
        return (by_date or by_weekday) if self.either_day else (by_date and by_weekday)


def occurrences(action: ScheduledAction, start: datetime, end: datetime) -> Iterable[datetime]:
    """When `action` runs in [start, end), in UTC, earliest first."""
    if action.start is not None and start <= action.start < end:
        yield action.start  # a one-off, or a recurrence's first run
    if not action.recurrence:
        return
    try:
        zone = ZoneInfo(action.time_zone) if action.time_zone else UTC
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise RecurrenceError(f"time zone {action.time_zone!r}") from error
    cron = Cron.parse(action.recurrence)
    first = max(start, action.start) if action.start else start
    last = min(end, action.end) if action.end else end
    moment = first.astimezone(UTC).replace(second=0, microsecond=0)
    if moment < first:
        moment += timedelta(minutes=1)
    # Minute by minute in UTC, each read in the action's zone: a DST gap or fold is what the zone says.
    while moment < last:
        if cron.matches(moment.astimezone(zone)) and moment != action.start:
            yield moment
        moment += timedelta(minutes=1)


def first_scale_out(
    snapshot: GroupSnapshot, plans: ScaleOutPlans, now: datetime, window: timedelta
) -> ScaleOut | None:
    """The earliest scale-out in [now, now + window), if any. Raises RecurrenceError for an action it
    cannot read."""
    end = now + window
    found: list[ScaleOut] = []
    for action in plans.actions:
        raises = []
        if action.desired_capacity is not None and action.desired_capacity > snapshot.desired_capacity:
            raises.append(f"desired {snapshot.desired_capacity} -> {action.desired_capacity}")
        if action.min_size is not None and action.min_size > snapshot.min_size:
            raises.append(f"min {snapshot.min_size} -> {action.min_size}")
        if not raises:
            continue  # lowers or keeps capacity: no stampede
        at = next(iter(occurrences(action, now, end)), None)
        if at is not None:
            found.append(ScaleOut(f"scheduled action {action.name!r}", at, ", ".join(raises)))
    for forecast in plans.forecasts:
        for hour, capacity in sorted(forecast.points):
            launch = hour - forecast.buffer  # instances launch this much before the forecast's hour
            if hour > now and launch < end and capacity > snapshot.desired_capacity:
                found.append(
                    ScaleOut(
                        f"predictive scaling policy {forecast.policy!r}",
                        max(launch, now),
                        f"forecast {capacity:g} > desired {snapshot.desired_capacity}",
                    )
                )
                break
    return min(found, key=lambda s: s.at) if found else None


def guard_scale_out(
    decision: Decision, snapshot: GroupSnapshot, plans: ScaleOutPlans, now: datetime, worst_case: timedelta
) -> Decision:
    """Skip a planned recycle with `scale-out-imminent` when the group scales out within its worst case
    plus SCALE_OUT_MARGIN, or when what may scale it out could not be read or understood."""
    if not decision.recycle:
        return decision
    window = worst_case + SCALE_OUT_MARGIN
    if plans.unknown is not None:
        return decision.skipped(Reason.SCALE_OUT_IMMINENT, messages.scale_out_unknown(plans.unknown))
    try:
        scale_out = first_scale_out(snapshot, plans, now, window)
    except RecurrenceError as error:
        return decision.skipped(Reason.SCALE_OUT_IMMINENT, messages.scale_out_unknown(f"unreadable {error}"))
    if scale_out is None:
        return decision
    detail = messages.scale_out_imminent(scale_out.cause, scale_out.at, scale_out.capacity, window)
    return decision.skipped(Reason.SCALE_OUT_IMMINENT, detail)
