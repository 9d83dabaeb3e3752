"""Edges of the freshness target's decision (policy/victims._decide_for_target, target_cap) that mutmut
showed unpinned (CONTRIBUTING.md, "Mutation audit"): an instance exactly at the target's age at the next
run is not yet due, one exactly at the minimum age may go, force overrides the minimum age, how far
behind a capped run leaves the group (with the detail operators read), and the per-run cap from the
max-per-run tag, one execution's budget and replace mode."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from recycler.domain import Decision, GroupSnapshot, Mode, PolicySettings
from recycler.policy.tags import group_options
from recycler.policy.victims import decide, target_cap
from tests.unit.test_freshness import group as freshness_group

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
DAILY = tuple(NOW + timedelta(days=d) for d in range(60))
RULES = PolicySettings()


def group(ages_days: list[float], **tags: str) -> GroupSnapshot:
    """test_freshness's group at this file's NOW, tags as keywords (freshness_target_days=...)."""
    named = {f"recycler:{k.replace('_', '-')}": v for k, v in tags.items()}
    return freshness_group(ages_days, named, now=NOW)


def plan(g: GroupSnapshot, *, force: bool = False, budget: int | None = None) -> Decision:
    return decide(
        g,
        RULES,
        NOW,
        random.Random(1),
        force=force,
        runs=DAILY,
        budget_cap=(lambda _mode, _health: budget) if budget is not None else None,
    )


def victims(d: Decision) -> list[str]:
    return [v.instance_id for v in d.victims]


def test_an_instance_exactly_at_the_target_at_the_next_run_is_not_counted_due() -> None:
    # i-00 is 20 days old (over the 10-day target); i-01 turns exactly 10 days old at the next run.
    d = plan(group([20, 9, 1], max_age_days="10"))
    assert d.recycle and victims(d)[0] == "i-00"
    assert d.detail.startswith(
        "1 instance(s) would be older than 10 days at the next run (Tue 2026-12-08 10:00 UTC)"
    )


def test_a_capped_run_says_how_far_behind_it_leaves_the_group() -> None:
    d = plan(group([20, 19, 18, 1], max_age_days="10", max_per_run="1"))
    assert victims(d) == ["i-00"] and d.behind_by == 2
    assert d.detail == (
        "3 instance(s) would be older than 10 days at the next run (Tue 2026-12-08 10:00 UTC); recycling 1 "
        "one after another, oldest first (the target needs 1 this run and up to 1 per run to hold; cap 1: "
        "recycler:max-per-run 1); behind by 2"
    )


def test_a_run_that_keeps_up_is_not_behind() -> None:
    d = plan(group([20, 19, 1], max_age_days="10"))
    assert victims(d) == ["i-00", "i-01"] and d.behind_by == 0
    assert d.detail == (
        "2 instance(s) would be older than 10 days at the next run (Tue 2026-12-08 10:00 UTC); recycling 2 "
        "one after another, oldest first (the target needs 2 this run and up to 1 per run to hold; cap 2)"
    )


def test_an_instance_exactly_at_the_minimum_age_may_go() -> None:
    # Half a day's target: the one-day-old instance is over it; it is exactly min-age-days (1) old.
    d = plan(group([1, 0.1], max_age_days="0.5"))
    assert d.recycle and victims(d) == ["i-00"]


def test_force_recycles_what_the_target_needs_below_the_minimum_age() -> None:
    young = group([3, 0.1], max_age_days="2", min_age_days="5")
    assert not plan(young).recycle
    assert victims(plan(young, force=True)) == ["i-00"]


def test_within_the_target_the_group_is_skipped_with_the_next_runs_date() -> None:
    d = plan(group([2, 1], max_age_days="30"))
    assert not d.recycle
    assert d.detail == (
        "every instance is younger than 30 days at the next run (Tue 2026-12-08 10:00 UTC) and none is "
        "needed early to spread the load"
    )


def cap(g: GroupSnapshot, budget: int | None = None) -> tuple[int | None, str, str]:
    return target_cap(g, RULES, group_options(g, RULES), budget)


def test_replace_mode_caps_a_run_at_all_but_one_instance() -> None:
    assert cap(group([1, 1, 1]))[:2] == (2, "replace mode keeps one instance in service")
    # A group of one still recycles one per run (surge would be the fix, not zero).
    one = cap(group([1]))
    assert one == (
        1,
        "replace mode keeps one instance in service",
        "tag recycler:mode=surge (a new instance first, then the old one goes)",
    )


def test_surge_mode_without_tag_or_budget_has_no_cap() -> None:
    assert cap(group([1, 1, 1], mode="surge")) == (None, "", "")


def test_the_lowest_of_the_tag_the_budget_and_replace_mode_sets_the_cap() -> None:
    g = group([1] * 6, max_per_run="3")
    assert cap(g)[:2] == (3, "recycler:max-per-run 3")
    assert cap(g, budget=2)[:2] == (2, "one execution's budget holds 2 recycles of this group")
    # A budget that holds none still lets one recycle through (the run's own deadline check stops it).
    assert cap(group([1] * 6, mode="surge"), budget=0)[:2] == (
        1,
        "one execution's budget holds 0 recycles of this group",
    )
    assert cap(group([1] * 6, mode="surge"), budget=0)[2] == (
        "raise recycler:execution_timeout_hours, or lower the group's recycler:health-timeout-minutes, "
        "until one run holds {needs}"
    )
    assert cap(g)[2] == "set the tag recycler:max-per-run to {needs} (or remove it)"
    assert group_options(g, RULES).mode is Mode.REPLACE


def test_a_target_recycle_names_its_reason_and_victims_in_order() -> None:
    d = plan(group([20, 19, 1], max_age_days="10"))
    assert (d.reason, d.tier, d.behind_by) == ("oldest-instance", ("i-00", "i-01"), 0)


def test_minimum_age_is_judged_now_not_at_the_next_run() -> None:
    # Half a day old now, a day and a half at the next run: not yet at the one-day minimum.
    assert not plan(group([0.5, 0.1], max_age_days="0.25")).recycle


def test_runs_further_apart_than_the_target_still_recycle_what_is_due_without_a_cap() -> None:
    d = decide(
        group([12, 1], mode="surge", max_age_days="10"),
        RULES,
        NOW,
        random.Random(1),
        runs=(NOW, NOW + timedelta(days=20)),
    )
    assert victims(d) == ["i-00", "i-01"]
    assert "(the target needs 2 this run and more runs to hold; cap none)" in d.detail


def test_on_a_tie_the_tag_is_named_as_the_cap() -> None:
    g = group([1] * 6, max_per_run="2", mode="surge")
    assert cap(g, budget=2)[:2] == (2, "recycler:max-per-run 2")
    # The lowest number wins, whatever its label says.
    assert cap(group([1] * 6, max_per_run="1", mode="surge"), budget=5)[:2] == (1, "recycler:max-per-run 1")
