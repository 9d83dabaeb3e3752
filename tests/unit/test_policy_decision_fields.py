"""What a decision reports about its group, as operators read it in the plan and the report
(policy/victims.decide): ages, drifted instances, capacity, warm pool, mode and health timeout, the image a
victim's replacement launches with MixedInstancesPolicy overrides, and the texts of each skip. Pinned after
mutmut showed these fields unpinned by unit tests (CONTRIBUTING.md, "Mutation audit")."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from recycler.domain import Decision, GroupSnapshot, InstanceSnapshot, Mode, PolicySettings
from recycler.policy.victims import decide

NOW = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
RULES = PolicySettings()


def instance(
    n: int,
    age_days: float | None,
    image: str | None = "ami-old",
    kind: str | None = None,
    protected: bool = False,
) -> InstanceSnapshot:
    return InstanceSnapshot(
        f"i-{n:02d}",
        "InService",
        "Healthy",
        protected,
        None if age_days is None else NOW - timedelta(days=age_days),
        image,
        instance_type=kind,
    )


def group(
    *instances: InstanceSnapshot, tags: dict[str, str] | None = None, **fields: object
) -> GroupSnapshot:
    return GroupSnapshot(
        **{  # type: ignore[arg-type]
            "name": "web",
            "desired_capacity": len(instances),
            "min_size": 1,
            "max_size": len(instances) + 1,
            "instances": instances,
            "tags": {"recycler:enabled": "true", **(tags or {})},
            **fields,
        }
    )


def plan(g: GroupSnapshot, force: bool = False) -> Decision:
    return decide(g, RULES, NOW, random.Random(0), force=force)


def test_a_decision_reports_the_groups_ages_drift_and_capacity() -> None:
    g = group(
        instance(1, 5.12345, "ami-old"),
        instance(2, 2.5, "ami-new"),
        instance(3, 1.25, None),  # image unknown: not counted as drifted
        current_image_id="ami-new",
        warm_pool=True,
        health_check_grace_period=600,
    )
    d = plan(g)
    assert d.recycle and d.victim is not None and d.victim.instance_id == "i-01"
    assert (d.oldest_age_days, d.instance_ages_days) == (5.123, (5.123, 2.5, 1.25))
    assert (d.drifted_instances, d.desired_capacity, d.warm_pool) == (1, 3, True)
    assert (d.current_image_id, d.mode, d.health_timeout_seconds) == ("ami-new", Mode.REPLACE, 1200)
    assert (d.reason, d.detail, d.tier) == ("oldest-instance", "oldest of 3 candidates", ("i-01",))


def test_without_a_known_current_image_nothing_counts_as_drifted() -> None:
    d = plan(group(instance(1, 5), instance(2, 3), current_image_reason="launch template deleted"))
    assert (d.drifted_instances, d.current_image_id, d.current_image_reason) == (
        0,
        None,
        "launch template deleted",
    )


def test_ties_within_the_window_are_named_in_the_detail() -> None:
    second = InstanceSnapshot(
        "i-02", "InService", "Healthy", False, NOW - timedelta(days=5) + timedelta(minutes=10), "ami-old"
    )
    g = group(instance(1, 5), second, instance(3, 1))  # exactly the 10-minute tie window apart
    d = plan(g)
    assert d.tier is not None and sorted(d.tier) == ["i-01", "i-02"]
    assert d.detail == "oldest of 3 candidates, picked at random from 2 tied within 0:10:00"


def test_a_young_group_is_skipped_with_its_age_and_the_minimum() -> None:
    d = plan(group(instance(1, 0.5), instance(2, 0.25)))
    assert (d.recycle, d.reason) == (False, "too-young")
    assert d.detail == "oldest candidate is 0.50 days old, minimum 1"
    # Exactly the minimum age is old enough.
    assert plan(group(instance(1, 1), instance(2, 0.25))).recycle


def test_skips_say_why_in_the_operators_words() -> None:
    protected = plan(group(instance(1, 5, protected=True), instance(2, 5, protected=True)))
    assert (protected.reason, protected.detail) == (
        "no-candidate",
        "every InService+Healthy instance is protected from scale-in",
    )
    undated = plan(group(*[instance(n, None) for n in range(7)]))
    assert (undated.reason, undated.detail) == (
        "no-candidate",
        "launch time unknown for i-00, i-01, i-02, i-03, i-04",
    )
    wrong_case = plan(group(instance(1, 5), instance(2, 5), tags={"recycler:enabled": "TRUE"}))
    assert (wrong_case.reason, wrong_case.detail) == (
        "invalid-tag",
        "tag recycler:enabled='TRUE': use lowercase 'true'; the IAM condition that lets recycler act on the group "
        "matches it exactly",
    )


def test_with_overrides_the_victims_own_type_names_the_image_its_replacement_launches() -> None:
    overrides = (("m6i.large", "ami-x86"), ("m7g.large", None))
    g = group(
        instance(1, 5, kind="m7g.large"),
        instance(2, 3, kind="m6i.large"),
        current_image_id="ami-default",
        override_images=overrides,
    )
    d = plan(g)
    assert d.victim is not None and d.victim.instance_id == "i-01"
    assert d.current_image_id is None  # the m7g override's image is unknown
    assert d.current_image_reason == (
        "overrides launch different images: m6i.large=ami-x86, m7g.large=unknown; default ami-default"
    )


def test_overrides_that_all_launch_the_default_image_keep_its_reason() -> None:
    g = group(
        instance(1, 5, kind="m6i.large"),
        instance(2, 3),
        current_image_id="ami-1",
        current_image_reason=None,
        override_images=(("m6i.large", "ami-1"),),
    )
    d = plan(g)
    assert (d.current_image_id, d.current_image_reason) == ("ami-1", None)


def test_drift_counts_every_instance_on_another_known_image_and_ages_are_in_days() -> None:
    g = group(
        instance(1, 100, "ami-older"),
        instance(2, 3, "ami-old"),
        instance(3, 2, "ami-new"),
        instance(4, 1.5, None),
        current_image_id="ami-new",
    )
    d = decide(g, RULES, NOW, random.Random(0))
    assert (d.drifted_instances, d.oldest_age_days) == (2, 100.0)


def test_a_groups_mode_tag_is_reported() -> None:
    d = plan(group(instance(1, 5), instance(2, 3), tags={"recycler:mode": "surge"}))
    assert d.mode is Mode.SURGE


def test_one_override_image_other_than_the_default_is_named() -> None:
    g = group(
        instance(1, 5, kind="m6i.large"),
        instance(2, 3),
        current_image_id="ami-default",
        override_images=(("m6i.large", "ami-x86"),),
    )
    d = plan(g)
    assert (d.current_image_id, d.current_image_reason) == (
        "ami-x86",
        "overrides launch different images: m6i.large=ami-x86; default ami-default",
    )


def test_overrides_with_no_image_known_keep_the_reason_it_is_unknown() -> None:
    g = group(
        instance(1, 5, kind="m6i.large"),
        instance(2, 3),
        current_image_reason="launch template deleted",
        override_images=(("m6i.large", None),),
    )
    assert plan(g).current_image_reason == "launch template deleted"


def test_force_is_off_unless_asked_for() -> None:
    assert not decide(group(instance(1, 0.5), instance(2, 0.25)), RULES, NOW, random.Random(0)).recycle


def test_a_freshness_target_without_later_runs_falls_back_to_the_oldest_instance() -> None:
    g = group(instance(1, 5), instance(2, 3), tags={"recycler:max-age-days": "2"})
    for runs in ((), (NOW,)):
        d = decide(g, RULES, NOW, random.Random(0), runs=runs)
        assert (d.detail, d.victims, d.freshness) == ("oldest of 2 candidates", (), None)


def test_a_young_groups_age_is_shown_in_days_to_the_hundredth() -> None:
    young = group(
        InstanceSnapshot("i-01", "InService", "Healthy", False, NOW - timedelta(seconds=432), "ami-old"),
        instance(2, 0.001),
    )
    assert plan(young).detail == "oldest candidate is 0.01 days old, minimum 1"  # 432 s is 0.005 d


def test_under_a_freshness_target_the_first_victims_type_names_the_image() -> None:
    g = group(
        instance(1, 20, kind="m6i.large"),
        instance(2, 3),
        current_image_id="ami-default",
        override_images=(("m6i.large", "ami-x86"),),
        tags={"recycler:max-age-days": "10"},
    )
    d = decide(g, RULES, NOW, random.Random(0), runs=tuple(NOW + timedelta(days=n) for n in range(30)))
    assert d.victim is not None and d.victim.instance_id == "i-01"
    assert d.current_image_id == "ami-x86"
