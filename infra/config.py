"""Deploy-time configuration from cdk.json context (`cdk deploy -c key=value` overrides)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, fields
from typing import Any

from aws_cdk import aws_logs as logs
from constructs import Node

from recycler.policy import ECS_CLUSTER_NAME

PREFIX = "recycler:"
CRON = re.compile(r"^cron\(\S+ \S+ \S+ \S+ \S+ \S+\)$|^rate\(\d+ (minute|minutes|hour|hours|day|days)\)$")
# The retention periods offered (days -> CloudWatch Logs setting).
LOG_RETENTION = {
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    90: logs.RetentionDays.THREE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    731: logs.RetentionDays.TWO_YEARS,
}


class ConfigError(ValueError):
    """A context value that cannot be deployed; the message names the key and the fix."""


ACCOUNT = re.compile(r"^\d{12}$")
REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
CENTRAL_TOPIC = "recycler-central-alerts"
CENTRAL_KEY_ALIAS = "alias/recycler-central-alerts"


@dataclass(frozen=True)
class Place:
    """One AWS environment: an account and a region."""

    account: str
    region: str
    sink_arn: str | None = None  # central only: the OAM sink's ARN, once the central stack exists

    @property
    def stack_name(self) -> str:
        return f"Recycler-{self.account}-{self.region}"

    @property
    def role_name(self) -> str:
        """Fixed, so the central topic and key policies can name it before the member is deployed."""
        return f"recycler-function-{self.region}"

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.role_name}"

    def central_topic_arn(self) -> str:
        return f"arn:aws:sns:{self.region}:{self.account}:{CENTRAL_TOPIC}"


def read_places(node: Node, key: str) -> list[Place]:
    """`recycler:environments` (a list) or `recycler:central` (one object), validated by name."""
    raw = node.try_get_context(f"{PREFIX}{key}")
    if raw is None:
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise ConfigError(
            f'{PREFIX}{key}: not JSON; e.g. [{{"account": "111111111111", "region": "eu-west-1"}}]'
        ) from None
    items = value if isinstance(value, list) else [value]
    places = []
    for item in items:
        if (
            not isinstance(item, dict)
            or not ACCOUNT.match(str(item.get("account", "")))
            or not REGION.match(str(item.get("region", "")))
        ):
            raise ConfigError(
                f'{PREFIX}{key}: {item!r} needs a 12-digit "account" and a "region" such as eu-west-1'
            )
        places.append(Place(str(item["account"]), str(item["region"]), item.get("sink_arn")))
    if len({(p.account, p.region) for p in places}) != len(places):
        raise ConfigError(f"{PREFIX}{key}: list each account and region once")
    return places


@dataclass(frozen=True)
class DeployConfig:
    schedule_expression: str = "cron(0 10 ? * MON-FRI *)"
    schedule_time_zone: str = "UTC"
    schedule_enabled: bool = True
    tag_prefix: str = "recycler:"
    alert_emails: list[str] = field(default_factory=list)
    dry_run: bool = False
    max_concurrency: int = 5
    max_groups_per_run: int = 50
    failures_before_stop: int = 1
    stop_alarm_names: list[str] = field(default_factory=list)
    kill_switch_parameter: str = "/recycler/kill-switch"
    blackout_windows: list[str] = field(default_factory=list)
    blackout_weekdays: list[str] = field(default_factory=list)
    min_age_days: float = 1.0
    min_interval_hours: float = 20.0
    max_age_days: float = 0.0  # 0: no freshness target (one recycle per group per run)
    bit_rot_days: float = 14.0
    image_rot_days: float = 30.0  # second bit-rot threshold: days since an instance's AMI was built
    log_retention_days: int = 90
    # None: no reservation. Lambda keeps at least 100 of an account's concurrency unreserved and refuses
    # a reservation that would leave less ("You can reserve up to the Unreserved account concurrency
    # value ... minus 100"), so on a new account, whose quota AWS reduces (to 10), any value fails the
    # deploy. https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    reserved_concurrency: int | None = None
    execution_timeout_hours: int = 12
    # X-Ray subsegments for every AWS call (Powertools Tracer): off by default, since importing the X-Ray
    # SDK adds ~100 ms to every cold start of a job whose calls are already in its logs.
    tracing: bool = False
    # ECS clusters whose container instances recycler may set DRAINING/ACTIVE; empty: any cluster in the
    # account and region (a group names its cluster at run time, by tag or capacity provider).
    ecs_clusters: list[str] = field(default_factory=list)

    @classmethod
    def from_node(cls, node: Node) -> DeployConfig:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            raw = node.try_get_context(f"{PREFIX}{spec.name}")
            if raw is not None:
                values[spec.name] = _coerce(spec.name, raw, spec.default, spec.type)
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
        if not CRON.match(self.schedule_expression):
            raise ConfigError(
                f"{PREFIX}schedule_expression={self.schedule_expression!r}: use an EventBridge Scheduler "
                "expression such as 'cron(0 10 ? * MON-FRI *)'"
            )
        if not 1 <= self.max_concurrency <= 50:
            raise ConfigError(f"{PREFIX}max_concurrency={self.max_concurrency}: use 1..50")
        if self.reserved_concurrency is not None and self.reserved_concurrency < 1:
            raise ConfigError(
                f"{PREFIX}reserved_concurrency={self.reserved_concurrency}: use a whole number >= 1, or leave it "
                "unset (no reservation); Lambda accepts it only if the account keeps 100 unreserved"
            )
        if self.log_retention_days not in LOG_RETENTION:
            choices = ", ".join(str(days) for days in LOG_RETENTION)
            raise ConfigError(f"{PREFIX}log_retention_days={self.log_retention_days}: use one of {choices}")
        for cluster in self.ecs_clusters:
            if not ECS_CLUSTER_NAME.match(cluster):
                raise ConfigError(
                    f"{PREFIX}ecs_clusters: {cluster!r} is not an ECS cluster name (not an ARN)"
                )
        for email in self.alert_emails:
            if "@" not in email:
                raise ConfigError(f"{PREFIX}alert_emails: {email!r} is not an e-mail address")

    def function_environment(self) -> dict[str, str]:
        """RECYCLER_* variables read by recycler.models.Settings."""
        return {
            "RECYCLER_TAG_PREFIX": self.tag_prefix,
            "RECYCLER_DRY_RUN": str(self.dry_run).lower(),
            "RECYCLER_MAX_CONCURRENCY": str(self.max_concurrency),
            "RECYCLER_MAX_GROUPS_PER_RUN": str(self.max_groups_per_run),
            "RECYCLER_FAILURES_BEFORE_STOP": str(self.failures_before_stop),
            "RECYCLER_STOP_ALARM_NAMES": ",".join(self.stop_alarm_names),
            "RECYCLER_KILL_SWITCH_PARAMETER": self.kill_switch_parameter,
            "RECYCLER_BLACKOUT_WINDOWS": ",".join(self.blackout_windows),
            "RECYCLER_BLACKOUT_WEEKDAYS": ",".join(self.blackout_weekdays),
            "RECYCLER_MIN_AGE_DAYS": str(self.min_age_days),
            "RECYCLER_MIN_INTERVAL_HOURS": str(self.min_interval_hours),
            # The function plans against the next run of the schedule that invokes it.
            "RECYCLER_SCHEDULE_EXPRESSION": self.schedule_expression,
            "RECYCLER_SCHEDULE_TIME_ZONE": self.schedule_time_zone,
            **({"RECYCLER_MAX_AGE_DAYS": str(self.max_age_days)} if self.max_age_days > 0 else {}),
            **({"RECYCLER_TRACING": "true"} if self.tracing else {}),
        }


def _coerce(name: str, raw: Any, default: Any, annotation: Any) -> Any:
    """Context from cdk.json arrives typed; from `-c key=value` it arrives as a string."""
    kind = str(annotation)
    try:
        if "list" in kind:
            if isinstance(raw, list):
                return [str(v) for v in raw]
            text = str(raw).strip()
            return (
                [str(v) for v in json.loads(text)]
                if text.startswith("[")
                else [p.strip() for p in text.split(",") if p.strip()]
            )
        if "bool" in kind:
            if isinstance(raw, bool):
                return raw
            if str(raw).lower() in ("true", "false"):
                return str(raw).lower() == "true"
            raise ValueError
        if "int" in kind:
            return int(raw)
        if "float" in kind:
            return float(raw)
        return str(raw)
    except (ValueError, TypeError):
        raise ConfigError(f"{PREFIX}{name}={raw!r} is not a valid {kind}; default is {default!r}") from None
