"""Per-group settings from tags: the opt-in value, booleans, numbers, modes; a bad value is a TagError
that names the tag and the fix."""

from __future__ import annotations

import re
from datetime import timedelta

from recycler.domain import DEFAULT_DRAIN_TIMEOUT, GroupOptions, GroupSnapshot, Mode, PolicySettings, Reason

ECS_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
TRUE_WORDS = frozenset({"true", "yes", "on", "1", "enabled"})
FALSE_WORDS = frozenset({"false", "no", "off", "0", "disabled"})


class TagError(ValueError):
    """A recycler tag on a group holds a value we cannot act on."""


def tag_key(settings: PolicySettings, name: str) -> str:
    return f"{settings.tag_prefix}{name}"


def parse_bool_tag(value: str, key: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise TagError(f"tag {key}={value!r} is not a boolean; set it to 'true' or 'false'")


def _positive_number_tag(value: str, key: str, unit: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise TagError(f"tag {key}={value!r} is not a number; set it to a number of {unit}") from None
    if not number >= 0 or number == float("inf"):
        raise TagError(f"tag {key}={value!r} must be a finite number of {unit} >= 0")
    return number


def group_options(group: GroupSnapshot, settings: PolicySettings) -> GroupOptions:
    """Read per-group overrides from tags; raise TagError naming the tag and the fix."""
    tags = group.tags
    mode_key = tag_key(settings, "mode")
    raw_mode = tags.get(mode_key, Mode.REPLACE.value).strip().lower()
    try:
        mode = Mode(raw_mode)
    except ValueError:
        raise TagError(f"tag {mode_key}={raw_mode!r} is not a mode; set it to 'replace' or 'surge'") from None

    min_age = settings.min_age
    age_key = tag_key(settings, "min-age-days")
    if age_key in tags:
        min_age = timedelta(days=_positive_number_tag(tags[age_key], age_key, "days"))

    timeout = timedelta(seconds=group.health_check_grace_period) + settings.health_timeout_margin
    timeout_key = tag_key(settings, "health-timeout-minutes")
    if timeout_key in tags:
        minutes = _positive_number_tag(tags[timeout_key], timeout_key, "minutes")
        if minutes < 1:
            raise TagError(f"tag {timeout_key}={tags[timeout_key]!r} must be at least 1 minute")
        timeout = timedelta(minutes=minutes)

    protection_key = tag_key(settings, "ignore-protection")
    ignore_protection = False
    if protection_key in tags:
        ignore_protection = parse_bool_tag(tags[protection_key], protection_key)

    max_age = settings.max_age
    target_key = tag_key(settings, "max-age-days")
    if target_key in tags:
        days = _positive_number_tag(tags[target_key], target_key, "days")
        if days <= 0:
            raise TagError(f"tag {target_key}={tags[target_key]!r} must be more than 0 days")
        max_age = timedelta(days=days)
    max_per_run = None
    cap_key = tag_key(settings, "max-per-run")
    if cap_key in tags:
        raw_cap = tags[cap_key].strip()
        if not raw_cap.isdigit() or int(raw_cap) < 1:
            raise TagError(f"tag {cap_key}={tags[cap_key]!r} must be a whole number of instances >= 1")
        max_per_run = int(raw_cap)
    drain_timeout = DEFAULT_DRAIN_TIMEOUT
    drain_key = tag_key(settings, "drain-timeout-minutes")
    if drain_key in tags:
        minutes = _positive_number_tag(tags[drain_key], drain_key, "minutes")
        if not 1 <= minutes <= 24 * 60:
            raise TagError(f"tag {drain_key}={tags[drain_key]!r} must be between 1 and 1440 minutes")
        drain_timeout = timedelta(minutes=minutes)
    cluster_key = tag_key(settings, "ecs-cluster")
    if cluster_key in tags and not ECS_CLUSTER_NAME.match(tags[cluster_key].strip()):
        raise TagError(
            f"tag {cluster_key}={tags[cluster_key]!r} is not an ECS cluster name; set it to the name of the "
            "cluster the instances join (letters, digits, - and _, not an ARN)"
        )
    return GroupOptions(
        mode=mode,
        min_age=min_age,
        health_timeout=timeout,
        ignore_protection=ignore_protection,
        max_age=max_age,
        max_per_run=max_per_run,
        drain_timeout=drain_timeout,
        health_timeout_tagged=timeout_key in tags,
    )


# The one opt-in value: discovery filters on it and the IAM condition that lets recycler act on a group
# matches it exactly (infra/function.py), so what recycler plans is what its role may act on.
OPT_IN_VALUE = "true"


def opt_in_state(group: GroupSnapshot, settings: PolicySettings) -> Reason | None:
    """None when the group opted in, else the reason it is out of scope (invalid-tag for a spelling of
    true that the IAM condition would not match)."""
    key = tag_key(settings, "enabled")
    if key not in group.tags:
        return Reason.NOT_OPTED_IN
    value = group.tags[key]
    if value == OPT_IN_VALUE:
        return None
    try:
        return Reason.INVALID_TAG if parse_bool_tag(value, key) else Reason.OPTED_OUT
    except TagError:
        return Reason.OPTED_OUT


def bake_minutes(group: GroupSnapshot, settings: PolicySettings, default: float) -> float:
    """How long a canary's replacement must stay healthy: the `recycler:bake-minutes` tag, else default."""
    key = tag_key(settings, "bake-minutes")
    if key not in group.tags:
        return default
    minutes = _positive_number_tag(group.tags[key], key, "minutes")
    if minutes > 24 * 60:
        raise TagError(f"tag {key}={group.tags[key]!r} must be at most 1440 minutes")
    return minutes
