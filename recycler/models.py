"""Validated inputs: deploy-time settings (RECYCLER_* variables) and the manual payload (design.md §7)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from recycler.domain import WEEKDAYS, BlackoutWindow, MaintenanceWindow, PolicySettings
from recycler.policy.guards import run_guard
from recycler.policy.rings import Membership, parse_rings
from recycler.policy.windows import parse_maintenance_window
from recycler.schedule import next_run_outside, parse_schedule

# Auto Scaling group names: 1-255 printable characters without ':' is what the API accepts for a name.
GROUP_NAME_PATTERN = r"^[\x21-\x39\x3b-\x7e][\x20-\x39\x3b-\x7e]{0,254}$"
GroupName = Annotated[str, StringConstraints(pattern=GROUP_NAME_PATTERN)]
GROUP_NAME_RULE = (
    "is not an Auto Scaling group name (1-255 printable characters, no ':', not starting with a space)"
)
WEEKDAY_SPELLINGS = frozenset(WEEKDAYS) | {
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
}
MAX_GROUPS_LIMIT = 1000


def _split_list(value: Any) -> Any:
    """Accept both JSON lists and comma-separated strings from environment variables."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            return json.loads(text)
        return [part.strip() for part in text.split(",") if part.strip()]
    return value


# RECYCLER_ORGANIZATIONAL_UNITS: OU ids, comma-separated (also the member stack parameter's AllowedPattern).
ORGANIZATIONAL_UNITS_PATTERN = r"^(ou-[0-9a-z]{4,32}-[a-z0-9]{8,32},?)*$"
# A member stack's outputs for the organization's verdicts, and the variables they stand for: infra/stack.py
# outputs them, `--stack NAME` reads them back (recycler/cli/first_contact.py STACK_OUTPUTS).
VERDICT_STACK_OUTPUTS = {
    "VerdictsTable": "RECYCLER_VERDICTS_TABLE",
    "Rings": "RECYCLER_RINGS",
    "RingOrganizationalUnits": "RECYCLER_ORGANIZATIONAL_UNITS",
}


class Settings(BaseModel):
    """Deploy-time configuration, read from RECYCLER_* environment variables set by the CDK stack."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag_prefix: str = Field("recycler:", min_length=1, max_length=64)
    dry_run: bool = False
    max_concurrency: int = Field(5, ge=1, le=50)
    max_groups_per_run: int = Field(50, ge=1, le=MAX_GROUPS_LIMIT)
    failures_before_stop: int = Field(1, ge=1, le=MAX_GROUPS_LIMIT)
    stop_alarm_names: tuple[str, ...] = ()
    kill_switch_parameter: str | None = None
    blackout_windows: tuple[str, ...] = ()
    blackout_weekdays: tuple[str, ...] = ()
    min_age_days: float = Field(1.0, ge=0, le=3650)
    min_interval_hours: float = Field(20.0, ge=0, le=24 * 365)
    # Freshness target (days): every instance younger than this at the next run; None = one per run.
    max_age_days: float | None = Field(None, gt=0, le=3650)
    schedule_expression: str = "cron(0 10 ? * MON-FRI *)"
    schedule_time_zone: str = "UTC"
    tie_window_minutes: float = Field(10.0, ge=0, le=24 * 60)
    health_timeout_margin_minutes: float = Field(10.0, ge=1, le=24 * 60)
    poll_seconds: int = Field(15, ge=1, le=3600)
    topic_arn: str | None = None
    # A many-account deployment's central topic: failure alerts go there too (infra/central.py).
    central_topic_arn: str | None = None
    ledger_table: str | None = None
    # The organization's verdict store (recycler:central / recycler:organization): the central table's
    # ARN, this member's account, and recycler:rings (JSON). Unset: verdicts stay in this ledger.
    verdicts_table: str | None = Field(
        None, pattern=r"^arn:aws[a-z-]*:dynamodb:[a-z0-9-]+:\d{12}:table/[A-Za-z0-9_.-]{3,255}$"
    )
    account_id: str | None = Field(None, pattern=r"^\d{12}$")
    rings: str | None = None
    # The OUs of the ring's StackSet this stack instance came from (recycler:rings by OU): a member cannot
    # read its own OU (only the management account or a delegated administrator may ask Organizations),
    # so its ring's StackSet tells it (infra/stackset.py, one StackSet per ring of OUs).
    organizational_units: str | None = Field(None, pattern=ORGANIZATIONAL_UNITS_PATTERN)
    # The EventBridge bus recycler puts its events on (a name or ARN; the stack sets the account's default
    # bus ARN): None, no events (recycler/workflow/events.py).
    events_bus: str | None = Field(None, min_length=1, max_length=1600)
    ledger_ttl_days: int = Field(90, ge=1, le=3650)
    # X-Ray subsegments for every AWS call (recycler:tracing): the stack sets RECYCLER_TRACING=true with
    # active tracing. The handler reads the variable before Settings loads (it decides whether the X-Ray
    # SDK is imported at all); the field is here so a run with it set is not refused as unknown.
    tracing: bool = False
    # Fail early on publish: a canary counts as proven only once its replacement stayed healthy (and no
    # stop alarm, nor one of the group's own recycler:alarms, fired) this long after its health checks.
    bake_minutes: float = Field(30.0, ge=0, le=24 * 60)
    # When runs may act, in the schedule's time zone (e.g. "MON-FRI 08:00-17:00"); none: any time.
    maintenance_windows: tuple[str, ...] = ()
    # A publish event waits this long before it plans: a pipeline that updates several parameters at once
    # makes one canary run per image, not one per event.
    publish_debounce_seconds: int = Field(120, ge=0, le=3600)
    # The durable execution's timeout (the stack's ExecutionTimeout): a run plans only the recycles whose
    # worst-case waits fit it, and defers the rest (deferred-budget) rather than be stopped mid-recycle.
    # A durable execution may run up to one year (ExecutionTimeout <= 31,536,000 s):
    # https://docs.aws.amazon.com/lambda/latest/dg/durable-configuration.html
    execution_timeout_hours: int = Field(12, ge=1, le=365 * 24)
    # When a canary condemns an image, put back the launch paths recycler can restore safely (an SSM
    # parameter a template resolves, a template's default version) if they still hold the broken id
    # (recycler/workflow/revert.py). The stack grants the writes only with this on.
    revert_on_canary_failure: bool = False

    @field_validator(
        "stop_alarm_names", "blackout_windows", "blackout_weekdays", "maintenance_windows", mode="before"
    )
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("blackout_weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # Exactly a day's abbreviation or its whole English name: `Sundy` is a typo, not Sunday.
        bad = [d for d in value if d.strip().lower() not in WEEKDAY_SPELLINGS]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}; use Mon, Tue, Wed, Thu, Fri, Sat or Sun")
        return value

    @field_validator("schedule_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}; use an IANA name such as Europe/Berlin") from None
        return value

    @field_validator("schedule_expression")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("blackout_windows")
    @classmethod
    def _windows(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_window(text)
        return value

    @field_validator("maintenance_windows")
    @classmethod
    def _maintenance(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for text in value:
            parse_maintenance_window(text)
        return value

    @field_validator("rings")
    @classmethod
    def _rings(cls, value: str | None) -> str | None:
        parse_rings(value, "RECYCLER_RINGS")
        return value

    def membership(self, region: str) -> Membership | None:
        """This member of the organization's verdicts, or None without a verdict store."""
        if not self.verdicts_table or not self.account_id:
            return None
        units = tuple(u for u in (self.organizational_units or "").split(",") if u)
        return Membership(account=self.account_id, region=region, rings=parse_rings(self.rings), units=units)

    def policy(self) -> PolicySettings:
        return PolicySettings(
            tag_prefix=self.tag_prefix,
            min_age=timedelta(days=self.min_age_days),
            tie_window=timedelta(minutes=self.tie_window_minutes),
            health_timeout_margin=timedelta(minutes=self.health_timeout_margin_minutes),
            max_age=timedelta(days=self.max_age_days) if self.max_age_days else None,
        )

    def next_run(self, now: datetime) -> datetime:
        """The next scheduled run that is not in a blackout: the freshness target's horizon."""
        windows = self.windows()

        def blocked(moment: datetime) -> bool:
            return (
                run_guard(
                    moment,
                    kill_switch=None,
                    firing_alarms=(),
                    blackout_windows=windows,
                    blackout_weekdays=self.blackout_weekdays,
                    maintenance_windows=self.maintenance(),
                    zone=self.schedule_time_zone,
                )
                is not None
            )

        schedule = parse_schedule(self.schedule_expression, self.schedule_time_zone)
        return next_run_outside(schedule, now, blocked)

    def upcoming_runs(self, now: datetime, days: float = 120, most: int = 400) -> list[datetime]:
        """`now`, then the later runs that may act within `days` (at most `most`): what the freshness
        target's rate is spread over (policy/freshness.py)."""
        runs = [now]
        while len(runs) < most and runs[-1] - now < timedelta(days=days):
            runs.append(self.next_run(runs[-1]))
        return runs

    def windows(self) -> list[BlackoutWindow]:
        return [parse_window(text) for text in self.blackout_windows]

    def maintenance(self) -> list[MaintenanceWindow]:
        return [parse_maintenance_window(text) for text in self.maintenance_windows]


def parse_window(text: str) -> BlackoutWindow:
    """Parse 'START/END' ISO-8601 with time zones, e.g. 2026-12-24T00:00Z/2026-12-27T00:00Z."""
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(
            f"blackout window {text!r} must be START/END in ISO-8601, e.g. 2026-12-24T00:00Z/2026-12-27T00:00Z"
        )
    try:
        start, end = (datetime.fromisoformat(p.strip().replace("Z", "+00:00")) for p in parts)
    except ValueError:
        raise ValueError(f"blackout window {text!r} has a date that is not ISO-8601") from None
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"blackout window {text!r} needs a time zone, e.g. a trailing Z for UTC")
    if end <= start:
        raise ValueError(f"blackout window {text!r} ends before it starts")
    return BlackoutWindow(start=start, end=end)


class ManualPayload(BaseModel):
    """The event the Lambda accepts (design.md §7): the daily schedule or a hand-run drill."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    source: Literal["schedule", "manual", "publish"] = "manual"
    dry_run: bool | None = None
    groups: list[GroupName] | None = Field(None, min_length=1, max_length=MAX_GROUPS_LIMIT)
    force: bool = False
    max_groups: int | None = Field(None, ge=1, le=MAX_GROUPS_LIMIT)
    health_timeout_seconds: int | None = Field(None, ge=60, le=86400)
    poll_seconds: int | None = Field(None, ge=1, le=3600)
    seed: int | None = Field(None, ge=0, le=2**63 - 1)
    canary: bool = False  # canary every image in this run, even one the ledger says is proven
    # Recycle only the canaries (one group per unproven image); the rest wait for their scheduled run.
    # A publish event (triggers.py) sets it; a drill may too.
    canary_only: bool = False
    # What started the run, in words ("ssm parameter /golden/ami Update"): set for publish events.
    trigger: str | None = Field(None, max_length=512)

    @field_validator("groups")
    @classmethod
    def _unique(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("list each group once")
        return value


class InputError(ValueError):
    """Bad input, with a message that names the field and the fix."""


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """One line per problem: `field: what is wrong`."""
    lines = []
    for problem in error.errors():
        location = ".".join(str(p) for p in problem["loc"]) or "payload"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field; remove it or fix its name"
        if (
            problem["type"] == "string_pattern_mismatch"
            and problem.get("ctx", {}).get("pattern") == GROUP_NAME_PATTERN
        ):
            message = f"{problem['input']!r} {GROUP_NAME_RULE}"
        name = f"{prefix}{location.upper()}" if prefix else location
        lines.append(f"{name}: {message}")
    return "; ".join(lines)


def parse_payload(event: Any) -> ManualPayload:
    if event is None:
        event = {}
    if not isinstance(event, dict):
        raise InputError(f"payload: expected a JSON object, got {type(event).__name__}")
    try:
        return ManualPayload.model_validate(event)
    except ValidationError as error:
        raise InputError(describe_validation_error(error)) from None


# RECYCLER_* variables that are not settings (read by the CLI itself).
NON_SETTING_VARIABLES = frozenset({"RECYCLER_VERBOSE", "RECYCLER_DEBUG"})
ENV_PREFIX = "RECYCLER_"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from RECYCLER_* variables. An unknown one (a typo such as RECYCLER_MAX_CONCURENCY)
    is refused by name rather than silently ignored."""
    source = os.environ if environ is None else environ
    values = {
        key.removeprefix(ENV_PREFIX).lower(): value
        for key, value in source.items()
        if key.startswith(ENV_PREFIX) and key not in NON_SETTING_VARIABLES
    }
    try:
        return Settings.model_validate(values)
    except ValidationError as error:
        raise InputError(describe_validation_error(error, prefix=ENV_PREFIX)) from None
