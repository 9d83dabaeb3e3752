"""A window larger than one durable execution runs as child executions (chained invokes), under the
durable test runner, which starts a registered function's child executions as Lambda does.

The per-execution budget is made small here so that six groups need three children; the bench runs a
thousand groups at the real limits (bench/fanout.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from recycler.durable import DurablePort
from recycler.local import emulator
from recycler.workflow import budget
from tests.conftest import Stack, run_durable

GROUPS = ["g0", "g1", "g2", "g3", "g4", "g5"]


@pytest.fixture
def small_executions(monkeypatch: pytest.MonkeyPatch) -> budget.Budget:
    """Lambda names the function and its version to the runtime; the run invokes that version. One
    execution holds two of these recycles (each to its 605 s health timeout)."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "recycler")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_VERSION", "7")
    monkeypatch.setenv("RECYCLER_MAX_CONCURRENCY", "6")
    monkeypatch.setenv(
        "RECYCLER_BAKE_MINUTES", "0"
    )  # the plan counts a canary per image it cannot know proven
    per_recycle = budget.job_operations(budget.JobCost(health_seconds=605))
    limits = budget.Budget(operations=40, fan_out=True, slice_operations=2 * per_recycle + 1)
    monkeypatch.setattr(DurablePort, "limits", lambda self: limits)
    return limits


def test_a_window_too_large_for_one_execution_runs_as_child_executions(
    stack: Stack, terminations: list[Any], small_executions: budget.Budget
) -> None:
    for n, name in enumerate(GROUPS):
        stack.world.group(name, [9 + n, 5])
    stack.prove(stack.world.images[0])  # no canary: one phase
    done = run_durable({})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    assert {g["group"]: g["outcome"] for g in done.report["groups"]} == dict.fromkeys(GROUPS, "recycled"), [
        (g["reason"], g["detail"]) for g in done.report["groups"]
    ]
    # Three children, each within its own limit; the parent holds the run and one invoke per child.
    assert len(done.children) == 3
    assert all(count <= small_executions.slice_operations for count, _ in done.children)
    assert done.metered <= small_executions.operations
    # Every group's victim terminated once, across the children (each group's ledger claim is its own).
    victims = [instance for instance, _ in terminations]
    assert len(victims) == len(set(victims)) == 6
    for name in GROUPS:
        assert [i["status"] for i in stack.ledger_items(name) if i["record"] == "claim"] == ["recycled"]


def test_children_count_failures_in_the_parent_runs_ledger_item(
    stack: Stack, small_executions: budget.Budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stop-after-N spans the children: each child's preflight reads the run's failure count, so a
    failure in one child must land in the one item every child reads (keyed by the parent's run id),
    not in an item of the child's own."""
    monkeypatch.setenv("RECYCLER_FAILURES_BEFORE_STOP", "10")
    for n, name in enumerate(GROUPS):
        stack.world.group(name, [9 + n, 5])
    stack.prove(stack.world.images[0])
    # g0 is recycled by the first child, g2 by the second (consecutive slices of two).
    emulator.sabotage("g0", "unhealthy")
    emulator.sabotage("g2", "unhealthy")
    done = run_durable({})
    assert done.status == "SUCCEEDED", done.error
    assert done.report is not None
    assert len(done.children) == 3
    runs = stack.world.session.client("dynamodb").scan(
        TableName=stack.table,
        FilterExpression="begins_with(group_name, :run) AND #record = :failures",
        ExpressionAttributeNames={"#record": "record"},
        ExpressionAttributeValues={":run": {"S": "run#"}, ":failures": {"S": "failures"}},
    )["Items"]
    assert [(item["group_name"]["S"], set(item["failed_groups"]["SS"])) for item in runs] == [
        ("run#" + done.report["run_id"], {"g0", "g2"})
    ]


def test_a_childs_result_fits_its_checkpoint_whatever_its_reports_say(
    stack: Stack, small_executions: budget.Budget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A child's result is one checkpoint (256 KB; run_durable fails the run past it, as Lambda does):
    two reports of 150 KB of detail each (a long error text, say) would pass it unless the child clips
    them to the bytes its slice was cut by."""
    from recycler.workflow import fanout
    from recycler.workflow.group.recycle import recycle_group as real

    def verbose(*args: Any) -> Any:
        report = real(*args)
        return report.model_copy(update={"detail": "x" * 150_000})

    monkeypatch.setattr(fanout, "recycle_group", verbose)
    for n, name in enumerate(GROUPS):
        stack.world.group(name, [9 + n, 5])
    stack.prove(stack.world.images[0])
    done = run_durable({})
    assert done.status == "SUCCEEDED", done.error[:300]
    assert done.report is not None
    assert len(done.children) == 3
    assert {g["group"]: g["outcome"] for g in done.report["groups"]} == dict.fromkeys(GROUPS, "recycled")
    assert all(len(g["detail"]) <= budget.REPORT_DETAIL_BYTES for g in done.report["groups"])
