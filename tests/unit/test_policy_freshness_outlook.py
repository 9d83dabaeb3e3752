"""The freshness outlook operators read (policy/freshness.outlook and Outlook.describe), whole: how many
instances, the oldest age, this run's share, the rate the target needs, whether the cap is named as what
limits it (only when it binds), from when the target holds, and when it cannot, how old instances get
and the fix. Pinned after mutmut showed these fields unpinned by unit tests (CONTRIBUTING.md, "Mutation
audit")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recycler.policy.freshness import Outlook, outlook

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday
DAILY = [NOW + timedelta(days=d) for d in range(60)]
TARGET = timedelta(days=10)
ONE_DAY = timedelta(days=1)


def launched(*ages_days: float) -> list[datetime]:
    return [NOW - timedelta(days=age) for age in ages_days]


def expected(**fields: object) -> Outlook:
    base: dict[str, object] = {
        "target_days": 10.0,
        "limited_by": "",
        "within_target_at": NOW,
        "reaches_days": None,
        "fix": "",
    }
    return Outlook(**{**base, **fields})  # type: ignore[arg-type]


def test_a_cap_that_does_not_bind_is_not_named() -> None:
    # Two instances over the target go this run; the cap of 2 is exactly what this run takes.
    seen = outlook(launched(20, 19, 5, 1), DAILY, TARGET, cap=2, limited_by="tag", fix="f", min_age=ONE_DAY)
    assert seen == expected(instances=4, this_run=2, needs_per_run=1, cap=2, oldest_age_days=20.0)
    assert seen.describe() == "within the 10-day target from Mon 2026-12-07"


def test_a_cap_equal_to_the_even_rate_holds_the_target() -> None:
    seen = outlook(launched(5, 1), DAILY, TARGET, cap=1, limited_by="tag", fix="f", min_age=ONE_DAY)
    assert seen == expected(instances=2, this_run=0, needs_per_run=1, cap=1, oldest_age_days=5.0)


def test_a_backlog_at_the_cap_is_named_and_holds_once_drained() -> None:
    # Six instances over the target, one a day: after Saturday's run every instance is within.
    seen = outlook(launched(*[12] * 6), DAILY, TARGET, cap=1, limited_by="tag 1", fix="f", min_age=ONE_DAY)
    assert seen == expected(
        instances=6,
        this_run=1,
        needs_per_run=1,
        cap=1,
        limited_by="tag 1",
        oldest_age_days=12.0,
        within_target_at=datetime(2026, 12, 12, 10, 0, tzinfo=UTC),
    )
    assert seen.describe() == "within the 10-day target from Sat 2026-12-12"


def test_a_cap_below_the_rate_says_how_old_instances_get_and_the_fix() -> None:
    # Fifteen instances spread over ten days need two a day; one a day replaces each every 15 days.
    ages = [i * 0.7 for i in range(15)]
    seen = outlook(
        launched(*ages), DAILY, TARGET, cap=1, limited_by="tag 1", fix="set {needs}", min_age=ONE_DAY
    )
    assert seen == expected(
        instances=15,
        this_run=1,
        needs_per_run=2,
        cap=1,
        limited_by="tag 1",
        oldest_age_days=9.8,
        within_target_at=None,
        reaches_days=15.0,
        fix="set 2",
    )
    assert (
        seen.describe() == "freshness target 10 d MISSED: needs 2 per run; tag 1; reaches 15.0 d; fix: set 2"
    )


def test_runs_further_apart_than_the_target_cannot_hold_it_at_any_cap() -> None:
    seen = outlook(
        launched(3, 2),
        [NOW, NOW + timedelta(days=20)],
        TARGET,
        cap=None,
        limited_by="",
        fix="x",
        min_age=ONE_DAY,
    )
    assert seen == expected(
        instances=2,
        this_run=2,
        needs_per_run=None,
        cap=None,
        oldest_age_days=3.0,
        within_target_at=None,
        reaches_days=20.0,
        fix="runs that may act at least every 10.0 d (the gap is 20.0 d)",
    )
    assert seen.describe() == (
        "freshness target 10 d MISSED: no per-run cap can hold it; reaches 20.0 d; "
        "fix: runs that may act at least every 10.0 d (the gap is 20.0 d)"
    )


def test_a_missed_target_without_a_fix_names_none() -> None:
    missed = expected(
        instances=1,
        this_run=0,
        needs_per_run=3,
        cap=2,
        limited_by="",
        oldest_age_days=1.0,
        within_target_at=None,
    )
    assert missed.describe() == "freshness target 10 d MISSED: needs 3 per run"


def test_the_oldest_age_is_rounded_to_hundredths_of_a_day() -> None:
    seen = outlook(launched(1.23456), DAILY, TARGET, cap=None, limited_by="", fix="", min_age=ONE_DAY)
    assert seen.oldest_age_days == 1.23


def test_the_rate_follows_the_tightest_stretch_of_the_schedule() -> None:
    # Weekday runs and a three-day target: Thursday's and Friday's instances have one run before they
    # must go (Friday's, Monday's), so two instances need two a run, though Monday's could wait three.
    weekdays = [NOW + timedelta(days=d) for d in range(19) if (NOW + timedelta(days=d)).weekday() < 5]
    seen = outlook(
        launched(2, 1), weekdays, timedelta(days=3), cap=None, limited_by="", fix="", min_age=ONE_DAY
    )
    assert seen == expected(
        target_days=3.0, instances=2, this_run=0, needs_per_run=2, cap=None, oldest_age_days=2.0
    )


def test_a_cap_that_cannot_replace_everyone_within_the_runs_known_reaches_their_whole_span() -> None:
    # One a run replaces fifteen instances every fifteen runs; only twelve daily runs are known (11 days).
    ages = [i * 0.7 for i in range(15)]
    seen = outlook(
        launched(*ages), DAILY[:12], TARGET, cap=1, limited_by="tag 1", fix="set {needs}", min_age=ONE_DAY
    )
    assert (seen.needs_per_run, seen.reaches_days, seen.fix) == (2, 11.0, "set 2")


def test_runs_known_that_do_not_span_the_target_spread_the_group_over_all_of_them() -> None:
    # Five daily runs known, a ten-day target: four runs after this one share the group.
    for size, needs in ((8, 2), (9, 3)):
        seen = outlook(
            launched(*[1] * size), DAILY[:5], TARGET, cap=None, limited_by="", fix="", min_age=ONE_DAY
        )
        assert seen.needs_per_run == needs


def test_a_cap_that_covers_this_run_but_not_the_rate_is_named() -> None:
    # Fifteen young instances need two a day over ten days; this run needs one, the cap allows one.
    ages = [i * 0.1 for i in range(15)]
    seen = outlook(
        launched(*ages), DAILY, TARGET, cap=1, limited_by="tag 1", fix="set {needs}", min_age=ONE_DAY
    )
    assert (seen.this_run, seen.needs_per_run, seen.limited_by) == (1, 2, "tag 1")


def test_a_target_that_never_settles_over_the_runs_known_says_the_fix() -> None:
    # A minimum age above the target: replacements outgrow it before they may go.
    thirteen_days = timedelta(days=13)
    seen = outlook(
        launched(*[12] * 8),
        DAILY[:15],
        TARGET,
        cap=3,
        limited_by="tag",
        fix="set {needs}",
        min_age=thirteen_days,
    )
    assert (seen.within_target_at, seen.reaches_days, seen.fix) == (
        None,
        13.0,
        "a min age (recycler:min-age-days, now 13.0 d) no longer than the 10.0 d target",
    )


def test_a_min_age_above_the_target_is_missed_not_promised_at_the_end_of_the_runs_known() -> None:
    # A replacement may go only at 4 days, yet must by 3: no run can keep the target. Projected alone,
    # the target "held" from 2027-02-02, the last runs known, where no later deadline binds.
    seen = outlook(
        launched(9, 7, 3),
        DAILY,
        timedelta(days=3),
        cap=3,
        limited_by="tag 3",
        fix="f",
        min_age=timedelta(days=4),
    )
    assert seen.missed and seen.within_target_at is None
    assert seen.describe() == (
        "freshness target 3 d MISSED: needs 1 per run; reaches 4.0 d; "
        "fix: a min age (recycler:min-age-days, now 4.0 d) no longer than the 3.0 d target"
    )


def test_instances_too_young_to_go_are_not_counted_as_this_runs_recycles_in_the_projection() -> None:
    # Six instances, three launched today and a 2-day min age: the cap of 2 a day drains the old ones
    # first, and the young ones may go only from Wednesday, so the 3-day target holds from Friday.
    seen = outlook(
        launched(7, 5, 1, 0, 0, 0),
        DAILY,
        timedelta(days=3),
        cap=2,
        limited_by="tag 2",
        fix="f",
        min_age=2 * ONE_DAY,
    )
    assert seen.describe() == "within the 3-day target from Fri 2026-12-11"
