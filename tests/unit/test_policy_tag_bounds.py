"""The `recycler:bake-minutes` tag as an operator sets it (policy/tags.bake_minutes): its default when
absent, the accepted range 0..1,440 minutes (both ends included), and the error that names the tag, the
value and the fix for everything else. Pinned after mutmut showed the bounds and the default were not
(CONTRIBUTING.md, "Mutation audit"); the same number rule (_positive_number_tag) reads min-age-days,
max-age-days, health-timeout-minutes and drain-timeout-minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recycler.domain import GroupSnapshot, PolicySettings, Reason
from recycler.policy.tags import TagError, bake_minutes, group_options, opt_in_state

RULES = PolicySettings()


def tagged(**tags: str) -> GroupSnapshot:
    return GroupSnapshot(
        name="web",
        desired_capacity=2,
        min_size=1,
        max_size=3,
        instances=(),
        tags={"recycler:enabled": "true", **tags},
    )


def test_without_the_tag_the_configured_bake_applies() -> None:
    assert bake_minutes(tagged(), RULES, 37.5) == 37.5


@pytest.mark.parametrize(("value", "minutes"), [("0", 0.0), ("90", 90.0), ("2.5", 2.5), ("1440", 1440.0)])
def test_the_tag_is_taken_from_zero_up_to_a_day(value: str, minutes: float) -> None:
    assert bake_minutes(tagged(**{"recycler:bake-minutes": value}), RULES, 30) == minutes


def test_the_tag_is_read_under_the_configured_prefix() -> None:
    group = tagged(**{"acme:bake-minutes": "5", "recycler:bake-minutes": "7"})
    assert bake_minutes(group, PolicySettings(tag_prefix="acme:"), 30) == 5


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1441", "tag recycler:bake-minutes='1441' must be at most 1440 minutes"),
        ("1440.5", "tag recycler:bake-minutes='1440.5' must be at most 1440 minutes"),
        ("-1", "tag recycler:bake-minutes='-1' must be a finite number of minutes >= 0"),
        ("nan", "tag recycler:bake-minutes='nan' must be a finite number of minutes >= 0"),
        ("inf", "tag recycler:bake-minutes='inf' must be a finite number of minutes >= 0"),
        ("forever", "tag recycler:bake-minutes='forever' is not a number; set it to a number of minutes"),
    ],
)
def test_a_bake_outside_the_range_names_the_tag_and_the_fix(value: str, message: str) -> None:
    with pytest.raises(TagError) as refused:
        bake_minutes(tagged(**{"recycler:bake-minutes": value}), RULES, 30)
    assert str(refused.value) == message


def test_the_same_number_rule_reads_the_age_tags_in_days() -> None:
    options = group_options(tagged(**{"recycler:min-age-days": "0", "recycler:max-age-days": "0.5"}), RULES)
    assert (options.min_age, options.max_age) == (timedelta(0), timedelta(hours=12))
    with pytest.raises(TagError) as refused:
        group_options(tagged(**{"recycler:min-age-days": "a week"}), RULES)
    assert (
        str(refused.value) == "tag recycler:min-age-days='a week' is not a number; set it to a number of days"
    )


def test_a_health_timeout_is_taken_from_one_minute() -> None:
    options = group_options(tagged(**{"recycler:health-timeout-minutes": "1"}), RULES)
    assert options.health_timeout == timedelta(minutes=1) and options.health_timeout_tagged


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0.5", "tag recycler:health-timeout-minutes='0.5' must be at least 1 minute"),
        ("soon", "tag recycler:health-timeout-minutes='soon' is not a number; set it to a number of minutes"),
        ("-3", "tag recycler:health-timeout-minutes='-3' must be a finite number of minutes >= 0"),
    ],
)
def test_a_bad_health_timeout_names_the_tag_and_the_fix(value: str, message: str) -> None:
    with pytest.raises(TagError) as refused:
        group_options(tagged(**{"recycler:health-timeout-minutes": value}), RULES)
    assert str(refused.value) == message


def test_a_bad_freshness_target_names_the_tag_and_the_unit() -> None:
    with pytest.raises(TagError) as refused:
        group_options(tagged(**{"recycler:max-age-days": "a month"}), RULES)
    assert (
        str(refused.value)
        == "tag recycler:max-age-days='a month' is not a number; set it to a number of days"
    )


def test_untagged_groups_keep_scale_in_protection() -> None:
    options = group_options(tagged(), RULES)
    assert options.ignore_protection is False and not options.health_timeout_tagged


def test_the_other_tags_accept_their_lowest_and_highest_values() -> None:
    options = group_options(
        tagged(
            **{
                "recycler:max-per-run": "1",
                "recycler:drain-timeout-minutes": "1",
                "recycler:max-age-days": "0.01",
            }
        ),
        RULES,
    )
    assert (options.max_per_run, options.drain_timeout) == (1, timedelta(minutes=1))
    assert group_options(
        tagged(**{"recycler:drain-timeout-minutes": "1440"}), RULES
    ).drain_timeout == timedelta(days=1)


@pytest.mark.parametrize(
    ("tag", "value", "message"),
    [
        ("max-age-days", "0", "tag recycler:max-age-days='0' must be more than 0 days"),
        ("max-per-run", "0", "tag recycler:max-per-run='0' must be a whole number of instances >= 1"),
        (
            "drain-timeout-minutes",
            "0.5",
            "tag recycler:drain-timeout-minutes='0.5' must be between 1 and 1440 minutes",
        ),
        (
            "drain-timeout-minutes",
            "1441",
            "tag recycler:drain-timeout-minutes='1441' must be between 1 and 1440 minutes",
        ),
        (
            "drain-timeout-minutes",
            "a while",
            "tag recycler:drain-timeout-minutes='a while' is not a number; set it to a number of minutes",
        ),
        (
            "ecs-cluster",
            "arn:aws:ecs:eu-west-1:123456789012:cluster/web",
            "tag recycler:ecs-cluster='arn:aws:ecs:eu-west-1:123456789012:cluster/web' is not an ECS cluster name; "
            "set it to the name of the cluster the instances join (letters, digits, - and _, not an ARN)",
        ),
    ],
)
def test_a_tag_out_of_range_names_the_tag_and_the_fix(tag: str, value: str, message: str) -> None:
    with pytest.raises(TagError) as refused:
        group_options(tagged(**{f"recycler:{tag}": value}), RULES)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("value", "state"),
    [
        ("true", None),
        ("True", Reason.INVALID_TAG),  # a true the IAM condition (exact "true") would not match
        ("yes", Reason.INVALID_TAG),
        ("false", Reason.OPTED_OUT),
        ("maybe", Reason.OPTED_OUT),
    ],
)
def test_only_the_exact_opt_in_value_opts_a_group_in(value: str, state: Reason | None) -> None:
    assert opt_in_state(tagged(**{"recycler:enabled": value}), RULES) is state
