"""Container host rules on plain snapshots: who drains, how long the health wait lasts, Standby."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from recycler.domain import (
    LAUNCHING,
    TERMINATING,
    Decision,
    EcsCapacityProvider,
    GroupSnapshot,
    LifecycleHook,
    Mode,
    Reason,
)
from recycler.policy.containers import with_container_host
from recycler.policy.victims import decide
from recycler.workflow import budget
from tests.unit.test_policy import NOW, RULES, group, instance


def planned(**tags: str) -> tuple[GroupSnapshot, Decision]:
    snapshot = group(instance(1, 9), instance(2, 5))
    snapshot = replace(snapshot, tags={**snapshot.tags, **tags}, health_check_grace_period=120)
    return snapshot, decide(snapshot, RULES, NOW, random.Random(1))


def test_the_longest_launch_hook_sets_the_health_timeout() -> None:
    snapshot, decision = planned()
    hooks = [
        LifecycleHook("short", LAUNCHING, 300),
        LifecycleHook("deploy", LAUNCHING, 3600),
        LifecycleHook("drain", TERMINATING, 9000),
    ]
    hooked = with_container_host(decision, snapshot, RULES, hooks, None)
    assert hooked.health_timeout_seconds == 120 + 3600 + 600
    assert hooked.launch_hooks == ("deploy", "short")
    assert with_container_host(decision, snapshot, RULES, [], None).health_timeout_seconds == 120 + 600


def test_heartbeats_may_extend_the_launch_hook_wait_to_its_global_timeout() -> None:
    snapshot, decision = planned()
    # GlobalTimeout: the lesser of 48 h and 100 x the heartbeat timeout, unless DescribeLifecycleHooks says.
    hooks = [LifecycleHook("deploy", LAUNCHING, 3600), LifecycleHook("short", LAUNCHING, 300)]
    hooked = with_container_host(decision, snapshot, RULES, hooks, None)
    assert hooked.launch_hook_limit_seconds == 120 + 48 * 3600 + 600
    short = with_container_host(decision, snapshot, RULES, [LifecycleHook("s", LAUNCHING, 300, 7200)], None)
    assert short.launch_hook_limit_seconds == 120 + 7200 + 600
    tagged, decision = planned(**{"recycler:health-timeout-minutes": "20"})
    assert with_container_host(decision, tagged, RULES, hooks, None).launch_hook_limit_seconds == 0


def test_a_health_timeout_tag_wins_over_launch_hooks() -> None:
    snapshot, decision = planned(**{"recycler:health-timeout-minutes": "30"})
    hooked = with_container_host(decision, snapshot, RULES, [LifecycleHook("deploy", LAUNCHING, 3600)], None)
    assert hooked.health_timeout_seconds == 1800


@pytest.mark.parametrize(
    ("tags", "cluster"),
    [({"eks:cluster-name": "prod"}, "prod"), ({"kubernetes.io/cluster/stage": "owned"}, "stage")],
)
def test_kubernetes_nodes_need_a_termination_hook(tags: dict[str, str], cluster: str) -> None:
    snapshot, decision = planned(**tags)
    skipped = with_container_host(decision, snapshot, RULES, [LifecycleHook("deploy", LAUNCHING, 60)], None)
    assert (skipped.recycle, skipped.reason) == (False, Reason.NO_DRAIN_HOOK.value)
    assert f"Kubernetes cluster {cluster}" in skipped.detail
    drained = with_container_host(decision, snapshot, RULES, [LifecycleHook("nth", TERMINATING, 300)], None)
    assert drained.recycle and drained.host is not None and drained.host.kind == "kubernetes"


def test_who_drains_an_ecs_host() -> None:
    snapshot, decision = planned(**{"recycler:ecs-cluster": "tagged"})
    own = with_container_host(decision, snapshot, RULES, [], None).host
    assert own is not None and (own.cluster, own.recycler_drains, own.drain_timeout_seconds) == (
        "tagged",
        True,
        900,
    )
    managed = with_container_host(decision, snapshot, RULES, [], EcsCapacityProvider("cp", "prod", True)).host
    assert managed is not None and (managed.cluster, managed.recycler_drains) == ("prod", False)
    snapshot, decision = planned(**{"recycler:drain-timeout-minutes": "5"})
    unmanaged = with_container_host(
        decision, snapshot, RULES, [], EcsCapacityProvider("cp", "prod", False)
    ).host
    assert unmanaged is not None and (unmanaged.recycler_drains, unmanaged.drain_timeout_seconds) == (
        True,
        300,
    )
    plain = with_container_host(decision, snapshot, RULES, [], EcsCapacityProvider("cp", None, False))
    assert plain.recycle and plain.host is None  # a provider no cluster uses runs no tasks


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("recycler:drain-timeout-minutes", "0"),
        ("recycler:drain-timeout-minutes", "soon"),
        ("recycler:drain-timeout-minutes", "2000"),
        ("recycler:ecs-cluster", ""),
        ("recycler:ecs-cluster", "arn:aws:ecs:eu-west-1:111111111111:cluster/prod"),
    ],
)
def test_a_bad_container_host_tag_is_refused_by_name(key: str, value: str) -> None:
    _, decision = planned(**{key: value})
    assert (decision.recycle, decision.reason) == (False, Reason.INVALID_TAG.value)
    assert key in decision.detail


def test_standby_instances_are_not_candidates_and_not_unsteady() -> None:
    snapshot = group(instance(1, 30, state="Standby"), instance(2, 9), instance(3, 5), desired=2)
    decision = decide(snapshot, RULES, NOW, random.Random(1))
    assert decision.recycle and decision.victim is not None and decision.victim.instance_id == "i-0002"
    assert decision.standby_instances == 1


def test_a_drain_counts_against_the_durable_budget() -> None:
    plain = budget.recycles_that_fit([Mode.REPLACE] * 500, [600] * 500, 15)
    draining = budget.recycles_that_fit([Mode.REPLACE] * 500, [600] * 500, 15, drain_timeouts=[900] * 500)
    assert draining < plain
