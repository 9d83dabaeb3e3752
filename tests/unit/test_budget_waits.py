"""What the budget counts for each wait a job makes (recycler/workflow/budget.py). A wait left out, or
counted for a job that does not make it, is an execution that outgrows Lambda's limits, or a run that
defers groups it had room for.

On Lambda every poll of a durable wait is one metered operation, and recycler's waits also yield the
invocation once it has run INVOCATION_YIELD_SECONDS (durable.py), one more operation each; every poll's
state is a checkpoint (POLL_STATE_BYTES at most)."""

from __future__ import annotations

import math
from dataclasses import replace

from recycler.domain import InstanceSnapshot, Mode
from recycler.workflow import budget
from recycler.workflow.health import plain


def yields(seconds: int) -> int:
    return math.ceil(seconds / budget.INVOCATION_YIELD_SECONDS)


def test_every_wait_of_a_job_counts_its_invocation_yields() -> None:
    """A canary surging across zones with ECS drains: two health waits, two drain waits (the victim's and
    the surge instance's), one bake."""
    job = budget.JobCost(Mode.SURGE, health_seconds=1800, drain_seconds=900, canary=True, bake_seconds=1800)
    on_lambda, without_yields = budget.job_operations(job), budget.job_operations(job, yields=False)
    assert on_lambda - without_yields == 2 * yields(1800) + 2 * yields(900) + yields(1800)


def test_a_surge_stores_the_polls_of_both_its_drains_and_a_replace_of_one() -> None:
    drained = budget.polls(900, 15) * budget.POLL_STATE_BYTES
    for mode, drains in ((Mode.SURGE, 2), (Mode.REPLACE, 1)):
        with_drain = budget.job_storage_bytes(budget.JobCost(mode, drain_seconds=900))
        assert with_drain - budget.job_storage_bytes(budget.JobCost(mode)) == drains * drained, mode


def test_only_a_canary_pays_for_a_bake() -> None:
    """A group's bake-minutes tag is read for every job; only its image's canary bakes."""
    tagged = budget.JobCost(bake_seconds=1800)
    assert budget.job_storage_bytes(tagged) == budget.job_storage_bytes(budget.JobCost())
    assert budget.job_operations(tagged) == budget.job_operations(budget.JobCost())
    canary = budget.JobCost(canary=True, bake_seconds=1800)
    baked = budget.polls(1800, budget.BAKE_POLL_SECONDS, longest=budget.BAKE_POLL_SECONDS)
    assert (
        budget.job_storage_bytes(canary) - budget.job_storage_bytes(tagged) == baked * budget.POLL_STATE_BYTES
    )


def test_a_state_without_a_plain_wording_is_named_as_auto_scaling_names_it() -> None:
    """What a health or drain wait says of an instance: AWS's lifecycle state when there is no plainer
    phrase (Terminating:Proceed, Standby, Warmed:Pending, ...), never nothing."""
    for state in ("Terminating:Proceed", "Standby", "Warmed:Pending"):
        instance = InstanceSnapshot("i-0abc", state, "Healthy", protected_from_scale_in=False)
        assert plain(instance) == f"i-0abc is {state}"
    waiting = InstanceSnapshot("i-0abc", "Pending:Wait", "Healthy", protected_from_scale_in=False)
    assert plain(waiting) == "i-0abc is waiting in a launch lifecycle hook (Pending:Wait)"


def test_fanned_out_jobs_fill_each_child_by_its_operations_and_the_parent_pays_per_child() -> None:
    """With fan-out each child execution holds what its own operation limit allows, and the parent pays
    a map branch and a chained invoke per child: a parent with room for two children plans two
    children's worth of recycles, not more (three a child here)."""
    cost = budget.job_operations(budget.JobCost(health_seconds=900))
    two_children = budget.Budget(operations=1 + 2 * 2, slice_operations=3 * cost, fan_out=True)
    assert budget.recycles_that_fit([Mode.REPLACE] * 10, [900] * 10, 15, two_children) == 6
    # A job larger than a child can hold is never planned; one that fills a child exactly is.
    for room, fits in ((cost - 1, 0), (cost, 1)):
        one_child = replace(two_children, slice_operations=room)
        assert budget.recycles_that_fit([Mode.REPLACE], [900], 15, one_child) == fits, room
