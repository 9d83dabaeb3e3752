"""The `recycler:bake-minutes` tag as an operator sets it (policy/tags.bake_minutes): its default when
absent, the accepted range 0..1,440 minutes (both ends included), and the error that names the tag, the
value and the fix for everything else. Pinned after mutmut showed the bounds and the default were not
(CONTRIBUTING.md, "Mutation audit"); the same number rule (_positive_number_tag) reads min-age-days,
max-age-days, health-timeout-minutes and drain-timeout-minutes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from recycler.domain import GroupSnapshot, PolicySettings
from recycler.policy.tags import TagError, bake_minutes, group_options

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
