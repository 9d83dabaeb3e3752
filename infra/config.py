"""Deploy-time configuration from cdk.json context (`cdk deploy -c key=value` overrides)."""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from aws_cdk import Aws
from aws_cdk import aws_logs as logs
from constructs import Node
from pydantic import ValidationError

from recycler.models import InputError, Settings, load_settings
from recycler.policy.tags import ECS_CLUSTER_NAME

PREFIX = "recycler:"
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
# An OAM sink: arn:<partition>:oam:<region>:<account>:sink/<id>
# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-resource-oam-sink.html
SINK_ARN = re.compile(r"^arn:aws[a-z-]*:oam:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):sink/[A-Za-z0-9-]+$")
CENTRAL_TOPIC = "recycler-central-alerts"
CENTRAL_KEY_ALIAS = "alias/recycler-central-alerts"
PUBLISH_TRIGGERS = frozenset({"ssm", "imagebuilder", "launch-template"})
# Every member's function role is named ROLE_NAME_PREFIX + its region, so the central topic and key
# policies can match it by aws:PrincipalArn (a string), never name it as a principal: KMS refuses a key
# policy whose principal does not exist yet, and a policy naming a role holds that role's unique id, so
# a member redeployed (role recreated) could no longer publish.
# https://repost.aws/knowledge-center/kms-policy-error-invalid-principals
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-roles
ROLE_NAME_PREFIX = "recycler-function-"


@dataclass(frozen=True)
class Place:
    """One AWS environment: an account and a region."""

    account: str
    region: str
    # central only: the OAM sinks' ARNs, once they exist (one per region: OAM links within a Region).
    sink_arns: tuple[str, ...] = ()

    @property
    def stack_name(self) -> str:
        return f"Recycler-{self.account}-{self.region}"

    @property
    def role_name(self) -> str:
        """Fixed, so the central topic and key policies can match it before the member is deployed."""
        return f"{ROLE_NAME_PREFIX}{self.region}"

    def role_arn(self, partition: str = Aws.PARTITION) -> str:
        return f"arn:{partition}:iam::{self.account}:role/{self.role_name}"

    def central_topic_arn(self) -> str:
        return f"arn:{Aws.PARTITION}:sns:{self.region}:{self.account}:{CENTRAL_TOPIC}"

    def sink_in(self, region: str) -> str | None:
        """The central account's sink in this region, if known: a member links only to its own
        region's sink (CloudWatch cross-account observability links accounts within one Region)."""
        return next((arn for arn in self.sink_arns if _sink_region(arn) == region), None)


def _sink_region(arn: str) -> str:
    match = SINK_ARN.match(arn)
    return match["region"] if match else ""


def _sink_arns(key: str, item: dict[str, Any], account: str) -> tuple[str, ...]:
    """`sink_arn` (one) and/or `sink_arns` (a list): each must be an OAM sink of this account, one per
    region (an account has one sink per Region)."""
    raw = item.get("sink_arns", [])
    arns = [raw] if isinstance(raw, str) else list(raw) if isinstance(raw, list) else [raw]
    if item.get("sink_arn"):
        arns.append(item["sink_arn"])
    for arn in arns:
        match = SINK_ARN.match(str(arn))
        if match is None or match["account"] != account:
            raise ConfigError(
                f"{PREFIX}{key}.sink_arns: {arn!r} is not an OAM sink ARN of account {account} "
                "(arn:<partition>:oam:<region>:<account>:sink/<id>, the SinkArn output)"
            )
    regions = [_sink_region(str(arn)) for arn in arns]
    if len(set(regions)) != len(regions):
        raise ConfigError(
            f"{PREFIX}{key}.sink_arns: one sink per region (an account has one sink per Region)"
        )
    return tuple(str(arn) for arn in arns)


def read_places(node: Node, key: str) -> list[Place]:
    """`recycler:environments` (a list) or `recycler:central` (one object), validated by name."""
    return places_from(key, node.try_get_context(f"{PREFIX}{key}"))


def places_from(key: str, raw: Any) -> list[Place]:
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
        account = str(item["account"])
        places.append(Place(account, str(item["region"]), _sink_arns(key, item, account)))
    if len({(p.account, p.region) for p in places}) != len(places):
        raise ConfigError(f"{PREFIX}{key}: list each account and region once")
    return places


def _runtime(name: str) -> Any:
    """The function's own default for a setting (recycler.models.Settings): one source for both."""
    return Settings.model_fields[name].get_default(call_default_factory=True)


# Where a deployed function's default differs from the runtime's, and why.
INFRA_DEFAULTS: dict[str, Any] = {
    # The stack creates this SSM parameter (value "off"), so a deployed function always has a kill
    # switch; the runtime's default (None, no switch) is for a CLI run that has none.
    "kill_switch_parameter": "/recycler/kill-switch",
}


@dataclass(frozen=True)
class DeployConfig:
    """Every recycler:* context key. Those the function reads too (RECYCLER_* variables) take their
    defaults from recycler.models.Settings and are validated by it, so synth refuses what every run
    would refuse; the rest shape the infrastructure only."""

    # Read by the function.
    schedule_expression: str = _runtime("schedule_expression")
    schedule_time_zone: str = _runtime("schedule_time_zone")
    tag_prefix: str = _runtime("tag_prefix")
    dry_run: bool = _runtime("dry_run")
    max_concurrency: int = _runtime("max_concurrency")
    max_groups_per_run: int = _runtime("max_groups_per_run")
    failures_before_stop: int = _runtime("failures_before_stop")
    stop_alarm_names: tuple[str, ...] = _runtime("stop_alarm_names")
    kill_switch_parameter: str = INFRA_DEFAULTS["kill_switch_parameter"]
    blackout_windows: tuple[str, ...] = _runtime("blackout_windows")
    blackout_weekdays: tuple[str, ...] = _runtime("blackout_weekdays")
    min_age_days: float = _runtime("min_age_days")
    min_interval_hours: float = _runtime("min_interval_hours")
    max_age_days: float | None = _runtime("max_age_days")  # None (0 in context): no freshness target
    # X-Ray subsegments for every AWS call (Powertools Tracer): off by default, since importing the X-Ray
    # SDK adds ~100 ms to every cold start of a job whose calls are already in its logs.
    tracing: bool = _runtime("tracing")
    # Fail early on publish (docs/fail-early-on-publish.md): a canary's bake, when runs may act, and a publish event's debounce.
    bake_minutes: float = _runtime("bake_minutes")
    maintenance_windows: tuple[str, ...] = _runtime("maintenance_windows")
    publish_debounce_seconds: int = _runtime("publish_debounce_seconds")
    # Put a condemned image's launch path back (README, "Put the launch path back"): the function's
    # switch, and the grants of infra/function.py (none of them without it).
    revert_on_canary_failure: bool = _runtime("revert_on_canary_failure")
    # The infrastructure only.
    # Which publish events start a canary run (each an EventBridge rule on the function's alias): "ssm"
    # (Parameter Store Change), "imagebuilder" (image AVAILABLE), "launch-template" (CloudTrail API calls:
    # needs a trail). On by default where they cost nothing but an invocation per event.
    publish_triggers: tuple[str, ...] = ("ssm", "imagebuilder")
    # Parameter name prefixes whose changes count as publishing (empty: every parameter; the function plans
    # and starts a canary only for images no recycle has proven).
    publish_parameter_prefixes: tuple[str, ...] = ()
    schedule_enabled: bool = True
    events: bool = True  # EventBridge events per outcome and run, default bus (docs/record.md, Events)
    alert_emails: tuple[str, ...] = ()
    bit_rot_days: float = 14.0
    image_rot_days: float = 30.0  # second bit-rot threshold: days since an instance's AMI was built
    log_retention_days: int = 90
    # None: no reservation. Lambda keeps at least 100 of an account's concurrency unreserved and refuses
    # a reservation that would leave less ("You can reserve up to the Unreserved account concurrency
    # value ... minus 100"), so on a new account, whose quota AWS reduces (to 10), any value fails the
    # deploy. https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
    # https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
    reserved_concurrency: int | None = None
    execution_timeout_hours: int = _runtime("execution_timeout_hours")
    # ECS clusters whose container instances recycler may set DRAINING/ACTIVE; empty: any cluster in the
    # account and region (a group names its cluster at run time, by tag or capacity provider).
    ecs_clusters: tuple[str, ...] = ()

    @classmethod
    def from_node(cls, node: Node) -> DeployConfig:
        given = {
            spec.name: raw
            for spec in fields(cls)
            if (raw := node.try_get_context(f"{PREFIX}{spec.name}")) is not None
        }
        if _is_zero(given.get("max_age_days")):
            del given["max_age_days"]  # 0 has always meant "no freshness target"
        values: dict[str, Any] = {
            spec.name: _coerce(spec.name, given[spec.name], spec.default, spec.type)
            for spec in fields(cls)
            if spec.name in given and spec.name not in RUNTIME_KEYS
        }
        values.update(_as_the_function_reads(cls, {k: v for k, v in given.items() if k in RUNTIME_KEYS}))
        config = cls(**values)
        config.validate()
        return config

    def validate(self) -> None:
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
        unknown = sorted(set(self.publish_triggers) - PUBLISH_TRIGGERS)
        if unknown:
            raise ConfigError(
                f"{PREFIX}publish_triggers: {unknown[0]!r} is not a trigger; use any of "
                + ", ".join(sorted(PUBLISH_TRIGGERS))
            )
        if self.revert_on_canary_failure and not self.publish_parameter_prefixes:
            raise ConfigError(
                f"{PREFIX}revert_on_canary_failure needs {PREFIX}publish_parameter_prefixes: the parameter "
                "name prefixes recycler may put back (its ssm:PutParameter grant is scoped to them)"
            )
        for email in self.alert_emails:
            if "@" not in email:
                raise ConfigError(f"{PREFIX}alert_emails: {email!r} is not an e-mail address")
        for name in AGE_ALARM_THRESHOLDS:
            _an_age_alarm_can_both_fire_and_stay_quiet(name, getattr(self, name))
        self._reaches_the_function_unchanged()

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
            **({"RECYCLER_MAX_AGE_DAYS": str(self.max_age_days)} if self.max_age_days is not None else {}),
            **({"RECYCLER_TRACING": "true"} if self.tracing else {}),
            "RECYCLER_BAKE_MINUTES": str(self.bake_minutes),
            "RECYCLER_MAINTENANCE_WINDOWS": ",".join(self.maintenance_windows),
            "RECYCLER_PUBLISH_DEBOUNCE_SECONDS": str(self.publish_debounce_seconds),
            "RECYCLER_EXECUTION_TIMEOUT_HOURS": str(self.execution_timeout_hours),
            "RECYCLER_REVERT_ON_CANARY_FAILURE": str(self.revert_on_canary_failure).lower(),
        }

    def _reaches_the_function_unchanged(self) -> None:
        """The variables, read back as the handler reads them, hold exactly these settings (a setting
        missing from function_environment, or a list entry with a comma, would not)."""
        try:
            loaded = load_settings(self.function_environment())
        except InputError as error:
            raise ConfigError(f"the function would refuse the environment this stack sets: {error}") from None
        for name in sorted(RUNTIME_KEYS):
            if getattr(loaded, name) != getattr(self, name):
                raise ConfigError(
                    f"{PREFIX}{name}={getattr(self, name)!r} reaches the function as {getattr(loaded, name)!r}"
                    " (a list entry may not hold a comma)"
                )


# The alarm thresholds an operator sets (infra/observability.py, BitRot and ImageRot): days, compared
# GreaterThanOrEqualToThreshold with the oldest instance's or image's age.
AGE_ALARM_THRESHOLDS = ("bit_rot_days", "image_rot_days")
# No instance or AMI is older than EC2, whose public beta opened on 2006-08-25: a threshold beyond that
# age can never be reached. https://en.wikipedia.org/wiki/Amazon_Elastic_Compute_Cloud#History
EC2_LAUNCHED = datetime(2006, 8, 25, tzinfo=UTC)


def _an_age_alarm_can_both_fire_and_stay_quiet(name: str, days: float) -> None:
    """An age is never negative, so `age >= 0` (or below) fires on every data point and says nothing;
    an age beyond EC2's own cannot be reached, and NaN/infinity compare false: the alarm never fires.
    https://docs.aws.amazon.com/cdk/api/v2/docs/aws-cdk-lib.aws_cloudwatch.ComparisonOperator.html"""
    reachable = (datetime.now(UTC) - EC2_LAUNCHED).days
    if not math.isfinite(days):
        raise ConfigError(
            f"{PREFIX}{name}={days}: not a number of days, so this alarm would never fire; use a number"
            " of days above 0, e.g. 14"
        )
    if days <= 0:
        raise ConfigError(
            f"{PREFIX}{name}={days:g}: every age is >= {days:g}, so this alarm would always fire; use a"
            " number of days above 0, e.g. 14"
        )
    if days > reachable:
        raise ConfigError(
            f"{PREFIX}{name}={days:g}: no instance or image can be that old (EC2 opened on"
            f" {EC2_LAUNCHED:%Y-%m-%d}, {reachable} days ago), so this alarm would never fire;"
            " use a number of days up to that, e.g. 14"
        )


# The keys the function reads as well: validated by its own model.
RUNTIME_KEYS = frozenset(spec.name for spec in fields(DeployConfig)) & frozenset(Settings.model_fields)
KNOWN_KEYS = frozenset({f"{PREFIX}{spec.name}" for spec in fields(DeployConfig)}) | {
    f"{PREFIX}environments",
    f"{PREFIX}central",
    f"{PREFIX}organization",
    f"{PREFIX}chat",  # infra/chat.py: Slack and Teams channels for the alert topic
    f"{PREFIX}rings",  # infra/org_verdicts.py: the order an image goes through the organization
}


def check_context_keys(node: Node) -> None:
    """A misspelt key (recycler:max_concurency, recyler:max_concurrency) would otherwise be ignored and
    its default deployed."""
    for key in sorted(node.get_all_context()):
        if key.startswith(PREFIX) and key not in KNOWN_KEYS:
            raise ConfigError(f"{key}: unknown context key; {_hint(key.removeprefix(PREFIX))}")
        rest = _after_a_near_miss_prefix(key)
        if rest is not None:
            raise ConfigError(
                f"{key}: unknown context key (the prefix is {PREFIX!r}, exactly); {_hint(rest)}"
            )


def _hint(name: str) -> str:
    """The closest known key to `name` (a key without its prefix). Compared without the prefix they all
    share, which would make every key look close."""
    names = sorted(known.removeprefix(PREFIX) for known in KNOWN_KEYS)
    near = difflib.get_close_matches(name, names, n=1)
    return f"did you mean {PREFIX}{near[0]}?" if near else "see docs/configuration.md, Context keys"


# A key's first word and the separator after it: "recyler:" -> ("recyler", ":").
_FIRST_WORD = re.compile(r"^(?P<word>[A-Za-z]+)(?P<separator>[:\-_./ ]+)(?P<rest>.+)$")


def _after_a_near_miss_prefix(key: str) -> str | None:
    """The rest of a key whose prefix is nearly `recycler:` but not exactly (recyler:, recycle:,
    Recycler:, recycler-, recycler_): such a key is meant for recycler and would be silently ignored.
    None for `recycler:` itself and for every other namespace (aws:, @aws-cdk/, cdk-...)."""
    match = _FIRST_WORD.match(key)
    if match is None or key.startswith(PREFIX):
        return None
    # Two edits away at most: one missing, doubled or swapped letter (recylcer is two substitutions).
    if _edit_distance(match["word"].lower(), PREFIX.removesuffix(":")) > 2:
        return None
    return match["rest"]


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    previous = list(range(len(b) + 1))
    for i, left in enumerate(a, start=1):
        current = [i]
        for j, right in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (left != right)))
        previous = current
    return previous[-1]


def _as_the_function_reads(config: type[DeployConfig], raw: dict[str, Any]) -> dict[str, Any]:
    """Context values parsed and validated by recycler.models.Settings, the model the function loads
    its RECYCLER_* variables into on every run: synth refuses what every run would refuse."""
    try:
        settings = Settings.model_validate(raw)
    except ValidationError as error:
        defaults = {spec.name: spec.default for spec in fields(config)}
        problems = []
        for problem in error.errors():
            name = str(problem["loc"][0])
            message = str(problem["msg"]).removeprefix("Value error, ")
            problems.append(
                f"{PREFIX}{name}={raw[name]!r}: {message} (the function would refuse it on every run; "
                f"default: {_shown(defaults[name])})"
            )
        raise ConfigError("; ".join(problems)) from None
    return {name: getattr(settings, name) for name in raw}


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, tuple):
        return ",".join(value) or "empty"
    return json.dumps(value)


def _is_zero(raw: Any) -> bool:
    try:
        return raw is not None and not isinstance(raw, bool) and float(raw) == 0
    except (TypeError, ValueError):
        return False


def _coerce(name: str, raw: Any, default: Any, annotation: Any) -> Any:
    """Context from cdk.json arrives typed; from `-c key=value` it arrives as a string."""
    kind = str(annotation)
    try:
        if "tuple" in kind:
            if isinstance(raw, list):
                return tuple(str(v) for v in raw)
            text = str(raw).strip()
            return tuple(
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
        raise ConfigError(
            f"{PREFIX}{name}={raw!r} is not a valid {kind.replace(' | None', '')}; default is {_shown(default)}"
        ) from None
