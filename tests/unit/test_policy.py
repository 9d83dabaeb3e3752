"""Every guard and the victim choice, on plain snapshots (no AWS)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recycler.domain import BlackoutWindow, Decision, GroupSnapshot, InstanceSnapshot, PolicySettings, Reason
from recycler.policy.guards import apply_history, kill_switch_state, run_guard
from recycler.policy.ranking import limit_run
from recycler.policy.victims import decide

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
RULES = PolicySettings()


def instance(
    n: int, age_days: float, state: str = "InService", health: str = "Healthy", protected: bool = False
) -> InstanceSnapshot:
    return InstanceSnapshot(
        instance_id=f"i-{n:04d}",
        lifecycle_state=state,
        health_status=health,
        protected_from_scale_in=protected,
        launch_time=NOW - timedelta(days=age_days),
        image_id="ami-old",
    )


def group(
    *instances: InstanceSnapshot, desired: int | None = None, max_size: int | None = None
) -> GroupSnapshot:
    size = len(instances) if desired is None else desired
    return GroupSnapshot(
        name="web",
        desired_capacity=size,
        min_size=1,
        max_size=size + 1 if max_size is None else max_size,
        instances=instances,
        tags={"recycler:enabled": "true"},
    )


def tagged(g: GroupSnapshot, **tags: str) -> GroupSnapshot:
    return GroupSnapshot(
        **{
            **g.__dict__,
            "tags": {**g.tags, **{f"recycler:{k.replace('_', '-')}": v for k, v in tags.items()}},
        }
    )


def decide_one(g: GroupSnapshot, seed: int = 0, force: bool = False) -> Decision:
    return decide(g, RULES, NOW, random.Random(seed), force=force)


def victim_id(decision: Decision) -> str:
    assert decision.victim is not None, decision
    return decision.victim.instance_id


def guard_reason(**kwargs: Any) -> Reason | None:
    guard = run_guard(NOW, **kwargs)
    return guard[0] if guard else None


def test_oldest_instance_is_the_victim() -> None:
    d = decide_one(group(instance(1, 3), instance(2, 9), instance(3, 5)))
    assert d.recycle and d.victim is not None and d.victim.instance_id == "i-0002"
    assert d.oldest_age_days == 9


def test_ties_within_window_are_picked_at_random_across_seeds() -> None:
    tied = group(instance(1, 9), instance(2, 9 - 5 / 1440), instance(3, 9 - 9 / 1440), instance(4, 2))
    picks = Counter(victim_id(decide_one(tied, seed)) for seed in range(300))
    assert set(picks) == {"i-0001", "i-0002", "i-0003"}
    assert min(picks.values()) > 60  # roughly uniform, never the young one


def test_instance_just_outside_tie_window_is_never_picked() -> None:
    g = group(instance(1, 9), instance(2, 9 - 11 / 1440))
    assert {victim_id(decide_one(g, seed)) for seed in range(50)} == {"i-0001"}


def test_same_seed_same_victim() -> None:
    tied = group(instance(1, 9), instance(2, 9), instance(3, 9))
    assert decide_one(tied, 42).victim == decide_one(tied, 42).victim


@pytest.mark.parametrize(
    ("g", "reason"),
    [
        (tagged(group(instance(1, 9), instance(2, 9)), enabled="false"), Reason.OPTED_OUT),
        (GroupSnapshot("x", 2, 1, 3, (instance(1, 9), instance(2, 9))), Reason.NOT_OPTED_IN),
        (group(instance(1, 9), instance(2, 9, health="Unhealthy")), Reason.NOT_STEADY),
        (group(instance(1, 9), instance(2, 9, state="Pending")), Reason.NOT_STEADY),
        (group(instance(1, 9), instance(2, 9, state="Standby")), Reason.NOT_STEADY),
        (group(instance(1, 9), instance(2, 9), desired=3), Reason.NOT_STEADY),
        (group(instance(1, 9)), Reason.TOO_SMALL),
        (group(instance(1, 0.5), instance(2, 0.2)), Reason.TOO_YOUNG),
        (group(instance(1, 9, protected=True), instance(2, 9, protected=True)), Reason.NO_CANDIDATE),
    ],
)
def test_guards(g: GroupSnapshot, reason: Reason) -> None:
    d = decide_one(g)
    assert not d.recycle and d.victim is None
    assert d.reason == reason.value and d.detail


@pytest.mark.parametrize(
    "process", ["Launch", "Terminate", "HealthCheck", "ReplaceUnhealthy", "AddToLoadBalancer"]
)
def test_blocking_suspended_processes(process: str) -> None:
    g = group(instance(1, 9), instance(2, 9))
    g = GroupSnapshot(**{**g.__dict__, "suspended_processes": frozenset({process})})
    d = decide_one(g)
    assert d.reason == Reason.PROCESSES_SUSPENDED and process in d.detail


def test_harmless_suspended_process_does_not_block() -> None:
    g = group(instance(1, 9), instance(2, 9))
    assert decide_one(
        GroupSnapshot(**{**g.__dict__, "suspended_processes": frozenset({"AZRebalance"})})
    ).recycle


def test_protected_oldest_instance_is_passed_over() -> None:
    d = decide_one(group(instance(1, 30, protected=True), instance(2, 9), instance(3, 2)))
    assert d.victim is not None and d.victim.instance_id == "i-0002"


def test_ignore_protection_tag() -> None:
    d = decide_one(tagged(group(instance(1, 30, protected=True), instance(2, 9)), ignore_protection="true"))
    assert d.victim is not None and d.victim.instance_id == "i-0001"


def test_min_age_tag_override_and_force() -> None:
    g = group(instance(1, 2), instance(2, 1.5))
    assert tagged(g, min_age_days="3") and decide_one(tagged(g, min_age_days="3")).reason == Reason.TOO_YOUNG
    assert decide_one(tagged(g, min_age_days="3"), force=True).recycle
    assert decide_one(tagged(g, min_age_days="0.5")).recycle


def test_surge_mode_allows_single_instance_groups_but_needs_room() -> None:
    single = tagged(group(instance(1, 9)), mode="surge")
    assert decide_one(single).recycle
    full = tagged(group(instance(1, 9), max_size=1), mode="surge")
    assert decide_one(full).reason == Reason.NO_ROOM_TO_SURGE


@pytest.mark.parametrize(
    ("tag", "value", "named"),
    [
        ("mode", "blue-green", "recycler:mode"),
        ("min_age_days", "soon", "recycler:min-age-days"),
        ("min_age_days", "-1", "recycler:min-age-days"),
        ("health_timeout_minutes", "0", "recycler:health-timeout-minutes"),
        ("ignore_protection", "maybe", "recycler:ignore-protection"),
    ],
)
def test_invalid_tags_skip_and_name_the_tag(tag: str, value: str, named: str) -> None:
    d = decide_one(tagged(group(instance(1, 9), instance(2, 9)), **{tag: value}))
    assert d.reason == Reason.INVALID_TAG and named in d.detail


def test_health_timeout_is_grace_period_plus_margin_or_tag() -> None:
    g = group(instance(1, 9), instance(2, 9))
    assert decide_one(g).health_timeout_seconds == 300 + 600
    assert decide_one(tagged(g, health_timeout_minutes="25")).health_timeout_seconds == 1500


def test_recently_recycled_unless_forced() -> None:
    d = decide_one(group(instance(1, 9), instance(2, 9)))
    interval = timedelta(hours=20)
    assert apply_history(d, NOW - timedelta(hours=3), NOW, interval).reason == Reason.RECENTLY_RECYCLED
    assert apply_history(d, NOW - timedelta(hours=21), NOW, interval).recycle
    assert apply_history(d, NOW - timedelta(hours=3), NOW, interval, force=True).recycle


def test_run_limit_keeps_the_oldest_groups() -> None:
    decisions = []
    for n, age in enumerate([3, 30, 10]):
        g = GroupSnapshot(
            f"g{n}", 2, 1, 3, (instance(n * 10, age), instance(n * 10 + 1, 1.5)), {"recycler:enabled": "true"}
        )
        decisions.append(decide_one(g))
    limited = limit_run(decisions, 2)
    assert [d.recycle for d in limited] == [False, True, True]
    assert limited[0].reason == Reason.RUN_LIMIT


def test_run_guards() -> None:
    assert guard_reason(kill_switch="on", firing_alarms=[]) == Reason.KILL_SWITCH
    assert guard_reason(kill_switch=None, firing_alarms=["5xx"]) == Reason.ALARM_FIRING
    window = BlackoutWindow(NOW - timedelta(hours=1), NOW + timedelta(hours=1))
    assert guard_reason(kill_switch=None, firing_alarms=[], blackout_windows=[window]) == Reason.BLACKOUT
    assert guard_reason(kill_switch=None, firing_alarms=[], blackout_weekdays=["Tuesday"]) == Reason.BLACKOUT
    assert guard_reason(kill_switch=None, firing_alarms=[], blackout_weekdays=["Sat", "Sun"]) is None


@pytest.mark.parametrize(
    ("value", "engaged"),
    [
        ("off", False),
        ("false", False),
        ("", False),
        ("on", True),
        ("ON ", True),
        ("garbage", True),
        (None, True),
    ],
)
def test_kill_switch_values(value: str | None, engaged: bool) -> None:
    assert (kill_switch_state(value, "/recycler/kill-switch") is not None) is engaged


states = st.sampled_from(["InService", "InService", "InService", "Pending", "Terminating", "Standby"])
healths = st.sampled_from(["Healthy", "Healthy", "Healthy", "Unhealthy"])
fleets = st.lists(st.tuples(st.floats(0, 60), states, healths, st.booleans()), min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(fleets, st.integers(0, 2**32), st.booleans(), st.integers(0, 3))
def test_victim_is_always_a_healthy_candidate_of_the_oldest_tier(
    fleet: list[tuple[float, str, str, bool]], seed: int, ignore_protection: bool, extra_desired: int
) -> None:
    instances = tuple(
        instance(n, age, state, health, protected) for n, (age, state, health, protected) in enumerate(fleet)
    )
    g = group(*instances, desired=max(0, len(instances) - extra_desired))
    if ignore_protection:
        g = tagged(g, ignore_protection="true")
    d = decide_one(g, seed)
    if not d.recycle:
        assert d.victim is None and d.reason
        return
    victim = d.victim
    assert victim is not None
    assert victim.lifecycle_state == "InService" and victim.health_status == "Healthy"
    assert ignore_protection or not victim.protected_from_scale_in
    candidates = [
        i
        for i in instances
        if i.in_service_and_healthy and (ignore_protection or not i.protected_from_scale_in)
    ]
    oldest = min(c.launch_time for c in candidates if c.launch_time is not None)
    assert victim.launch_time is not None
    assert victim.launch_time - oldest <= RULES.tie_window
    assert victim.instance_id in d.tier and len(set(d.tier)) == len(d.tier)
    # only ever one victim: the tier holds the alternatives, the decision one instance
    assert sum(1 for i in instances if i == victim) == 1
